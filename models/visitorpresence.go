package models

import (
	"context"
	"time"
)

// VisitorPresence says that a shopper has sockets open on one Kefu
// instance. Each instance adds a row (or counts one more connection) when
// a shopper's widget connects to it and removes it when the last one
// closes, but only when it has peers (a shared bus): a single instance
// asks its own hub. Stored in visitor_presences, keyed by (VisitorID,
// InstanceID).
type VisitorPresence struct {
	VisitorID   string    `json:"visitor_id" gorm:"primaryKey;size:36"`
	InstanceID  string    `json:"instance_id" gorm:"primaryKey;size:100;index"`
	Connections int       `json:"connections" gorm:"not null"`
	ConnectedAt time.Time `json:"connected_at" gorm:"not null"`
}

// InstanceBeat says that a Kefu instance was alive at BeatAt. A visitor
// presence row counts only while its instance beats: the rows of an
// instance that died are ignored at once and pruned later. Stored in
// instance_beats.
type InstanceBeat struct {
	InstanceID string    `json:"instance_id" gorm:"primaryKey;size:100"`
	BeatAt     time.Time `json:"beat_at" gorm:"index;not null"`
}

// VisitorPresenceStore keeps which shoppers are connected to which Kefu
// instance, so that an instance deciding whether a shopper is away (and
// should get an agent's reply by e-mail) sees the sockets of the others.
// EINVALID for an empty instance or visitor id.
type VisitorPresenceStore interface {
	// AddVisitorConnection counts one more socket of visitorID on
	// instanceID, creating the row at 1. Concurrent calls all count.
	AddVisitorConnection(ctx context.Context, instanceID, visitorID string, now time.Time) error
	// RemoveVisitorConnection counts one socket fewer; the row goes when
	// none is left. Removing where there is no row is not an error.
	RemoveVisitorConnection(ctx context.Context, instanceID, visitorID string) error
	// BeatInstance records that instanceID is alive at now.
	BeatInstance(ctx context.Context, instanceID string, now time.Time) error
	// VisitorConnectedElsewhere reports whether visitorID has a socket on
	// an instance other than instanceID whose last beat is at or after
	// since.
	VisitorConnectedElsewhere(ctx context.Context, visitorID, instanceID string, since time.Time) (bool, error)
	// LeaveInstance deletes the instance's beat and visitor rows: a clean
	// shutdown, after its sockets closed.
	LeaveInstance(ctx context.Context, instanceID string) error
	// PruneInstances deletes the beats older than before, with their
	// instances' visitor rows, and visitor rows older than before whose
	// instance never beat (it died at start); it returns how many
	// instances it deleted.
	PruneInstances(ctx context.Context, before time.Time) (int, error)
}
