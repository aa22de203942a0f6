package models

import "time"

// Status is where a conversation is in its life: queued (waiting for an
// agent), assigned (an agent holds it), resolved (closed; the shopper's next
// message opens a new one).
type Status string

const (
	StatusQueued   Status = "queued"
	StatusAssigned Status = "assigned"
	StatusResolved Status = "resolved"
)

// Open reports whether a conversation in this status still takes messages.
func (s Status) Open() bool { return s == StatusQueued || s == StatusAssigned }

// Priority orders the queue: higher first, then first come, first served.
type Priority int

const (
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Conversation is one chat between a visitor and the shop. A visitor has at
// most one open conversation at a time.
type Conversation struct {
	ID           string   `json:"id" gorm:"primaryKey;size:36"`
	VisitorID    string   `json:"visitor_id" gorm:"size:36;index;not null"`
	AgentID      *string  `json:"agent_id" gorm:"size:36;index"`
	DepartmentID *string  `json:"department_id" gorm:"size:36;index"`
	Status       Status   `json:"status" gorm:"size:16;index;not null"`
	Priority     Priority `json:"priority" gorm:"not null;default:0"`

	// LastSeq is the sequence number of the newest message; the next one
	// gets LastSeq+1.
	LastSeq int64 `json:"last_seq" gorm:"not null;default:0"`
	// The highest sequence number each side has read.
	VisitorReadSeq int64 `json:"visitor_read_seq" gorm:"not null;default:0"`
	AgentReadSeq   int64 `json:"agent_read_seq" gorm:"not null;default:0"`

	// QueuedAt is when the conversation first entered the queue; a
	// conversation requeued after its agent left keeps it, and so its place.
	QueuedAt      time.Time  `json:"queued_at" gorm:"not null"`
	AssignedAt    *time.Time `json:"assigned_at,omitempty"`
	ResolvedAt    *time.Time `json:"resolved_at,omitempty"`
	LastMessageAt time.Time  `json:"last_message_at" gorm:"not null"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// ConversationFilter selects conversations for listing. Empty fields do not
// filter. Results are newest activity first.
type ConversationFilter struct {
	AgentID   string
	VisitorID string
	Statuses  []Status
	Limit     int // 0 means 100; at most 500
}

// Assignment is a dispatcher's decision to give a queued conversation to an
// agent, with the reason kept for admins.
type Assignment struct {
	ConversationID string
	AgentID        string
	// Capacity is the agent's cap as the dispatcher understood it; the store
	// refuses the assignment (ECAPACITY) if the agent already holds that many.
	Capacity int
	Strategy string
	// Reason explains the choice: candidates, loads and caps, who was skipped
	// and why. Free text (JSON by convention), shown to admins.
	Reason string
	Now    time.Time
}

// AssignmentRecord is the stored trace of one assignment.
type AssignmentRecord struct {
	ID             string    `json:"id" gorm:"primaryKey;size:36"`
	ConversationID string    `json:"conversation_id" gorm:"size:36;index;not null"`
	AgentID        string    `json:"agent_id" gorm:"size:36;not null"`
	Strategy       string    `json:"strategy" gorm:"size:32"`
	Reason         string    `json:"reason" gorm:"type:text"`
	CreatedAt      time.Time `json:"created_at"`
}
