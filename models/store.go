package models

import (
	"context"
	"time"
)

// Store is everything Kefu keeps. It is the source of truth: every decision
// that matters commits here before anyone is told of it. Implementations are
// safe for concurrent use by many goroutines and by several processes that
// share one database; the conditional updates documented below are what make
// two dispatchers, or two Kefu instances, unable to contradict each other.
//
// Every method returns an *Error: ENOTFOUND, ECONFLICT, EINVALID and the
// others where the method says so, EUNAVAILABLE when the database cannot be
// reached, EINTERNAL otherwise. Methods that create a row assign its ID (a
// random UUID) and timestamps unless the caller set them.
type Store interface {
	AgentStore
	RefreshTokenStore
	VisitorStore
	ConversationStore
	RoutingStore
	HoursStore
	AnnouncementStore
	AttachmentStore
	ReadStore
	PresenceStore
	VisitorPresenceStore
	// Ping reports whether the database answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// AgentStore keeps agents.
type AgentStore interface {
	// CreateAgent stores a new agent, its e-mail normalized. ECONFLICT if the
	// e-mail is taken; EINVALID if e-mail, name or role is missing or bad.
	CreateAgent(ctx context.Context, a *Agent) error
	// Agent returns the agent with the id; ENOTFOUND if none.
	Agent(ctx context.Context, id string) (*Agent, error)
	// AgentByEmail looks an agent up by e-mail, case-insensitively;
	// ENOTFOUND if none.
	AgentByEmail(ctx context.Context, email string) (*Agent, error)
	// Agents lists all agents, disabled ones too, ordered by e-mail.
	Agents(ctx context.Context) ([]*Agent, error)
	// AgentsByID returns the agents with the given ids that exist, keyed by id.
	AgentsByID(ctx context.Context, ids []string) (map[string]*Agent, error)
	// UpdateAgent applies the non-nil fields of u and returns the agent as
	// stored. It raises TokenVersion by one when u sets PasswordHash, sets
	// Disabled to true, or asks RevokeTokens. EINVALID for a bad role or a
	// negative MaxChats; ENOTFOUND if no such agent.
	UpdateAgent(ctx context.Context, id string, u AgentUpdate) (*Agent, error)
	// CountAdmins counts admins that are not disabled.
	CountAdmins(ctx context.Context) (int, error)
}

// RefreshTokenStore keeps hashes of agents' refresh tokens.
type RefreshTokenStore interface {
	// CreateRefreshToken stores a new token, starting a family when FamilyID
	// is empty.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// RotateRefreshToken consumes the token with oldHash and stores next in
	// the same family, atomically, returning the consumed token. next's
	// AgentID and TokenVersion, when zero, are copied from the consumed token. It returns
	// EUNAUTHORIZED when oldHash is unknown, expired at now, or revoked. When
	// oldHash was already used it revokes the whole family — whoever holds
	// either copy loses it — and returns EUNAUTHORIZED; of many concurrent
	// rotations of one token at most one succeeds.
	RotateRefreshToken(ctx context.Context, oldHash string, next *RefreshToken, now time.Time) (*RefreshToken, error)
	// RevokeRefreshFamily revokes the family of the token with hash; an
	// unknown hash is not an error.
	RevokeRefreshFamily(ctx context.Context, hash string, now time.Time) error
}

// VisitorStore keeps shoppers.
type VisitorStore interface {
	// CreateVisitor stores a new visitor; TokenHash must be set (EINVALID).
	CreateVisitor(ctx context.Context, v *Visitor) error
	// Visitor returns the visitor with the id; ENOTFOUND if none.
	Visitor(ctx context.Context, id string) (*Visitor, error)
	// VisitorByTokenHash returns the visitor whose token hashes to hash;
	// ENOTFOUND if none.
	VisitorByTokenHash(ctx context.Context, hash string) (*Visitor, error)
	// UpdateVisitor applies the non-nil fields of u and sets LastSeenAt to
	// u.Now; ENOTFOUND if no such visitor.
	UpdateVisitor(ctx context.Context, id string, u VisitorUpdate) (*Visitor, error)
}

// ConversationStore keeps conversations, their messages and their
// assignments. Message sequence numbers are assigned here, in the
// transaction that stores the message, so they are gap-free and increasing
// within a conversation however many writers race.
type ConversationStore interface {
	// SendVisitorMessage appends a shopper's message to their open
	// conversation, or opens a new queued one (QueuedAt = Now) for it, in one
	// transaction. If the visitor already sent m.ClientID it stores nothing
	// and returns the first message with Duplicate set, whatever state its
	// conversation is in now. EINVALID for an empty ClientID or Body;
	// ENOTFOUND for an unknown visitor.
	SendVisitorMessage(ctx context.Context, m VisitorMessage) (SendResult, error)
	// AppendMessage appends m to its conversation. A duplicate ClientID from
	// the same sender stores nothing and returns the first message with
	// Duplicate set (before any other check, so a retry after a resolve
	// still gets its acknowledgement). ENOTFOUND if the conversation does not
	// exist; ECONFLICT if it is resolved; EFORBIDDEN if RequireAgentID is set
	// and the conversation is not assigned to that agent; EINVALID for an
	// empty Body, or an empty ClientID from a visitor or agent.
	AppendMessage(ctx context.Context, m NewMessage) (SendResult, error)
	// Conversation returns the conversation with the id; ENOTFOUND if none.
	Conversation(ctx context.Context, id string) (*Conversation, error)
	// OpenConversationOf returns the visitor's queued or assigned
	// conversation; ENOTFOUND if they have none.
	OpenConversationOf(ctx context.Context, visitorID string) (*Conversation, error)
	// Conversations lists conversations matching f, newest activity first.
	Conversations(ctx context.Context, f ConversationFilter) ([]*Conversation, error)
	// Messages returns up to limit messages of the conversation with
	// Seq > afterSeq, in Seq order (limit 0 means 100; at most 500).
	// ENOTFOUND if the conversation does not exist.
	Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]*Message, error)
	// Queue returns the queued conversations in the order they are served:
	// higher Priority first, then earlier QueuedAt, then ID.
	Queue(ctx context.Context) ([]*Conversation, error)
	// AssignConversation gives a queued conversation to an agent, raises the
	// agent's OpenChats, sets LastAssignedAt and AssignedAt to a.Now, and
	// records the reason, in one transaction. ECONFLICT if the conversation
	// is not queued (someone else was faster); ECAPACITY if the agent already
	// holds a.Capacity conversations or more; EFORBIDDEN if the agent is
	// disabled; ENOTFOUND if either does not exist. On any error nothing
	// changes.
	AssignConversation(ctx context.Context, a Assignment) (*Conversation, error)
	// RequeueConversation returns a conversation assigned to fromAgentID to
	// the queue, keeping its QueuedAt (and so its place), and lowers that
	// agent's OpenChats. ECONFLICT if it is not assigned to fromAgentID.
	RequeueConversation(ctx context.Context, conversationID, fromAgentID string, now time.Time) (*Conversation, error)
	// ResolveConversation closes an open conversation, lowering its agent's
	// OpenChats if it had one. ECONFLICT if it is already resolved;
	// ENOTFOUND if it does not exist.
	ResolveConversation(ctx context.Context, conversationID string, now time.Time) (*Conversation, error)
	// Assignments returns the assignment records of a conversation, oldest
	// first.
	Assignments(ctx context.Context, conversationID string) ([]*AssignmentRecord, error)
}
