package models

import (
	"context"
	"time"
)

// VisitorPresence says that a shopper has sockets open on one Kefu
// instance. Each instance counts its shoppers' sockets in these rows (a
// row goes when its count reaches zero), but only when it has peers (a
// shared bus): a single instance asks its own hub. Only the instance a row
// names writes it. Stored in visitor_presences, keyed by (VisitorID,
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
	// ChangeVisitorConnections adds deltas (visitor id → change in the
	// number of sockets, positive or negative) to the instance's rows, in
	// one transaction, creating rows (ConnectedAt now) and deleting those
	// left at zero or below. A negative change for a shopper without a row
	// leaves none. Changes of one instance must not run concurrently (each
	// instance has one writer); changes of different instances may.
	// EINVALID for an empty visitor id in deltas.
	ChangeVisitorConnections(ctx context.Context, instanceID string, deltas map[string]int, now time.Time) error
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
