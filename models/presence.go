package models

import (
	"context"
	"time"
)

// AgentPresence says that an agent is connected to one Kefu instance: each
// instance writes one row per agent connected to it, every few seconds (the
// heartbeat), and deletes its rows when it shuts down cleanly. An agent is
// present if any instance has a fresh row for them; the rows of an instance
// that died go stale, which is how the others learn that its agents are
// gone. Stored in the agent_presences table, keyed by (AgentID, InstanceID).
type AgentPresence struct {
	AgentID    string `json:"agent_id" gorm:"primaryKey;size:36"`
	InstanceID string `json:"instance_id" gorm:"primaryKey;size:100"`
	// Connections counts the agent's sockets on that instance (at least 1).
	Connections int `json:"connections" gorm:"not null"`
	// Status is online or away, as on that instance's dispatcher.
	Status string `json:"status" gorm:"size:16;not null"`
	// HeartbeatAt is when the instance last wrote the row, by its clock.
	HeartbeatAt time.Time `json:"heartbeat_at" gorm:"index;not null"`
}

// PresenceStore keeps which agents are connected to which Kefu instance, so
// that every instance's dispatcher sees agents connected to the others
// (routing.SharedPresence reads and writes it).
type PresenceStore interface {
	// SyncPresence makes rows the instance's whole presence: in one
	// transaction it deletes the instance's rows of agents not in rows and
	// writes those in rows, with InstanceID set to instanceID and
	// HeartbeatAt to now. An empty rows deletes all the instance's rows (a
	// clean shutdown). Readers never see a half-written sync. EINVALID for
	// an empty instanceID, a row without AgentID, or Connections < 1.
	SyncPresence(ctx context.Context, instanceID string, rows []AgentPresence, now time.Time) error
	// FreshPresence returns the rows of every instance written at or after
	// since, ordered by AgentID then InstanceID.
	FreshPresence(ctx context.Context, since time.Time) ([]AgentPresence, error)
	// PrunePresence deletes the rows of every instance written before
	// before (left by instances that died) and returns how many it deleted.
	PrunePresence(ctx context.Context, before time.Time) (int, error)
}
