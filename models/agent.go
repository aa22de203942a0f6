package models

import (
	"strings"
	"time"
)

// Role is what an agent may do. Admins may do everything an agent may, and
// manage agents, departments and announcements, and see every conversation.
type Role string

const (
	RoleAgent Role = "agent"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAgent || r == RoleAdmin }

// Agent is a person who answers shoppers in the console.
type Agent struct {
	ID    string `json:"id" gorm:"primaryKey;size:36"`
	Email string `json:"email" gorm:"size:254;uniqueIndex;not null"` // stored lower-case
	Name  string `json:"name" gorm:"size:200;not null"`
	Role  Role   `json:"role" gorm:"size:16;not null"`

	// PasswordHash is a bcrypt hash; it never leaves the server.
	PasswordHash string `json:"-" gorm:"size:100;not null"`
	// MustChangePassword is set for passwords an admin handed out.
	MustChangePassword bool `json:"must_change_password"`

	// MaxChats caps the agent's concurrently assigned conversations; 0 means
	// the server's default.
	MaxChats int `json:"max_chats" gorm:"not null;default:0"`
	// OpenChats counts conversations assigned to the agent now. Only the
	// store changes it, in the same transaction that assigns, resolves,
	// requeues or transfers, which is what makes caps hold across dispatchers.
	OpenChats int `json:"open_chats" gorm:"not null;default:0"`
	// LastAssignedAt breaks ties between equally loaded agents: the one idle
	// longest (assigned least recently, or never) goes first.
	LastAssignedAt *time.Time `json:"last_assigned_at,omitempty"`

	Disabled bool `json:"disabled" gorm:"not null;default:false"`
	// TokenVersion is stamped into every token issued to the agent; raising
	// it (logout, password change, disable) revokes them all at once.
	TokenVersion int `json:"-" gorm:"not null;default:1"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Capacity returns the agent's cap on concurrent conversations, falling back
// to def when the agent has none of its own.
func (a *Agent) Capacity(def int) int {
	if a.MaxChats > 0 {
		return a.MaxChats
	}
	return def
}

// NormalizeEmail is the one form in which e-mail addresses are stored and
// looked up.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// AgentUpdate names the fields UpdateAgent changes; nil fields are left as
// they are.
type AgentUpdate struct {
	Name               *string
	Role               *Role
	MaxChats           *int
	Disabled           *bool
	PasswordHash       *string
	MustChangePassword *bool
	// RevokeTokens raises TokenVersion even when nothing else changes
	// (logout). Setting PasswordHash, or Disabled to true, raises it too.
	RevokeTokens bool
}

// RefreshToken is one link in a chain of rotating refresh tokens. Only a
// hash of the token is kept. A chain shares a FamilyID: presenting a token
// that was already used proves it was stolen, and revokes the family.
type RefreshToken struct {
	ID           string     `gorm:"primaryKey;size:36"`
	FamilyID     string     `gorm:"size:36;index;not null"`
	AgentID      string     `gorm:"size:36;index;not null"`
	TokenHash    string     `gorm:"size:64;uniqueIndex;not null"`
	TokenVersion int        `gorm:"not null"` // the agent's TokenVersion when issued
	ExpiresAt    time.Time  `gorm:"not null"`
	UsedAt       *time.Time // set when rotated
	RevokedAt    *time.Time
	CreatedAt    time.Time
}
