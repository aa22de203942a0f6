package models

import (
	"context"
	"strings"
	"time"
)

// Routing strategies a department may use.
const (
	// StrategyLeastBusy gives a conversation to the eligible agent with the
	// lowest load relative to their cap (ties: idle longest).
	StrategyLeastBusy = "least-busy"
	// StrategyRoundRobin gives conversations to eligible agents in turn:
	// the one assigned least recently (LastAssignedAt, which is stored, so
	// the rotation holds across restarts and instances), within caps.
	StrategyRoundRobin = "round-robin"
	// StrategyManual assigns nothing: agents take conversations from the
	// queue themselves.
	StrategyManual = "manual"
)

// ValidStrategy reports whether s names a routing strategy.
func ValidStrategy(s string) bool {
	return s == StrategyLeastBusy || s == StrategyRoundRobin || s == StrategyManual
}

// Department is a team that serves some of the shop's conversations (sales,
// support, returns…). A conversation that names a department is offered only
// to its members, by the department's strategy; if FallbackAfter is set and
// nobody in the department could take it for that long, it is offered to
// every agent.
type Department struct {
	ID       string `json:"id" gorm:"primaryKey;size:36"`
	Name     string `json:"name" gorm:"size:100;uniqueIndex;not null"`
	Strategy string `json:"strategy" gorm:"size:32;not null"`
	// FallbackAfter is how long a conversation waits for a member before
	// any agent may get it; 0 means never.
	FallbackAfter time.Duration `json:"fallback_after_ns" gorm:"not null;default:0"`
	// Members are the agents' IDs, sorted. Stored in their own table.
	Members   []string  `json:"members" gorm:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// HasMember reports whether the agent belongs to the department.
func (d *Department) HasMember(agentID string) bool {
	for _, m := range d.Members {
		if m == agentID {
			return true
		}
	}
	return false
}

// FallenBack reports whether a conversation queued at queuedAt may, at now,
// go to agents outside the department.
func (d *Department) FallenBack(queuedAt, now time.Time) bool {
	return d.FallbackAfter > 0 && !now.Before(queuedAt.Add(d.FallbackAfter))
}

// Normalize trims the name and fills the default strategy, and reports the
// first rule d breaks (EINVALID).
func (d *Department) Normalize() error {
	d.Name = strings.TrimSpace(d.Name)
	if d.Strategy == "" {
		d.Strategy = StrategyLeastBusy
	}
	switch {
	case d.Name == "":
		return Errorf(EINVALID, "a department needs a name")
	case len(d.Name) > 100:
		return Errorf(EINVALID, "a department name is at most 100 characters")
	case !ValidStrategy(d.Strategy):
		return Errorf(EINVALID, "strategy must be %s, %s or %s", StrategyLeastBusy, StrategyRoundRobin, StrategyManual)
	case d.FallbackAfter < 0:
		return Errorf(EINVALID, "fallback must not be negative")
	}
	return nil
}

// DepartmentMember is one agent's membership of one department.
type DepartmentMember struct {
	DepartmentID string `gorm:"primaryKey;size:36"`
	AgentID      string `gorm:"primaryKey;size:36;index"`
}

// DepartmentUpdate names the fields UpdateDepartment changes; nil fields are
// left as they are. Members, when set, replaces the whole list.
type DepartmentUpdate struct {
	Name          *string
	Strategy      *string
	FallbackAfter *time.Duration
	Members       *[]string
}

// Transfer moves an open conversation to another agent or department.
type Transfer struct {
	ConversationID string
	// FromAgentID, when set, makes the transfer succeed only if the
	// conversation is assigned to that agent at commit time (ECONFLICT
	// otherwise). Admins reassigning any conversation leave it empty.
	FromAgentID string
	// ToAgentID assigns the conversation to that agent directly (their cap,
	// Capacity, is checked as by AssignConversation). Empty: the
	// conversation goes back to the queue, keeping its QueuedAt.
	ToAgentID string
	// ToDepartmentID, when set, moves the conversation to that department.
	ToDepartmentID string
	Capacity       int
	// Note is for the next agent's eyes only; it is kept in the record.
	Note string
	// ByAgentID is who made the transfer.
	ByAgentID string
	Now       time.Time
}

// TransferRecord is the stored trace of a transfer, with its note.
type TransferRecord struct {
	ID             string    `json:"id" gorm:"primaryKey;size:36"`
	ConversationID string    `json:"conversation_id" gorm:"size:36;index;not null"`
	FromAgentID    string    `json:"from_agent_id,omitempty" gorm:"size:36"`
	ToAgentID      string    `json:"to_agent_id,omitempty" gorm:"size:36"`
	ToDepartmentID string    `json:"to_department_id,omitempty" gorm:"size:36"`
	ByAgentID      string    `json:"by_agent_id" gorm:"size:36"`
	Note           string    `json:"note" gorm:"type:text"`
	CreatedAt      time.Time `json:"created_at"`
}

// MaxTransferNote is the longest transfer note, in bytes.
const MaxTransferNote = 2000

// RoutingStore keeps departments and the routing changes that are not plain
// assignments: transfers and priorities.
type RoutingStore interface {
	// CreateDepartment stores a new department after d.Normalize; EINVALID
	// for a bad field or an unknown member; ECONFLICT if the name is taken.
	CreateDepartment(ctx context.Context, d *Department) error
	// Department returns the department with the id; ENOTFOUND if none.
	Department(ctx context.Context, id string) (*Department, error)
	// Departments lists all departments with their members, by name.
	Departments(ctx context.Context) ([]*Department, error)
	// UpdateDepartment applies the non-nil fields of u; as CreateDepartment
	// for errors, and ENOTFOUND if no such department.
	UpdateDepartment(ctx context.Context, id string, u DepartmentUpdate) (*Department, error)
	// DeleteDepartment removes the department and its memberships; its open
	// conversations lose their department (any agent may serve them), in the
	// same transaction. ENOTFOUND if no such department.
	DeleteDepartment(ctx context.Context, id string) error
	// TransferConversation moves an open conversation as t says, in one
	// transaction: it lowers the old agent's OpenChats; with ToAgentID it
	// assigns the conversation to that agent (raising OpenChats, setting
	// LastAssignedAt and AssignedAt, recording an AssignmentRecord with
	// strategy "transfer"), otherwise it queues it keeping QueuedAt; it sets
	// the department when ToDepartmentID is given, and stores a
	// TransferRecord. ENOTFOUND for an unknown conversation, agent or
	// department; ECONFLICT if the conversation is resolved, not assigned to
	// FromAgentID, or already assigned to ToAgentID; ECAPACITY if ToAgentID
	// already holds Capacity conversations; EFORBIDDEN if ToAgentID is
	// disabled; EINVALID if neither target is given or the note is too long.
	// On any error nothing changes.
	TransferConversation(ctx context.Context, t Transfer) (*Conversation, *TransferRecord, error)
	// Transfers returns the transfer records of a conversation, oldest
	// first.
	Transfers(ctx context.Context, conversationID string) ([]*TransferRecord, error)
	// SetPriority sets an open conversation's priority (it keeps QueuedAt).
	// EINVALID for an unknown priority; ECONFLICT if resolved; ENOTFOUND if
	// none.
	SetPriority(ctx context.Context, conversationID string, p Priority, now time.Time) (*Conversation, error)
}
