// Package wire defines Kefu's websocket frames: JSON text frames with a
// "type" field, on /ws/visitor and /ws/agent. docs/protocol.md describes each
// one for people; these types are the same description for Go, shared by
// the server and by client programs, so the two cannot drift apart.
//
// A client decodes every frame it receives into ServerFrame and switches on
// Type; the server decodes every frame it receives into ClientFrame. Unknown
// fields are ignored in both directions, so fields can be added without
// breaking older peers.
package wire

import (
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Frame types a client sends.
const (
	TypeHello   = "hello"   // visitor: first frame; identifies or creates the visitor
	TypeAuth    = "auth"    // agent: a fresh access token for the open socket
	TypeStatus  = "status"  // agent: online or away
	TypeSend    = "message" // both: a chat message (same name as the frame that delivers one)
	TypeSync    = "sync"    // both: ask for messages after a sequence number
	TypeResolve = "resolve" // both: close a conversation
	TypeTyping  = "typing"  // both: the sender is typing (also the frame that delivers it)
	TypeRead    = "read"    // both: the sender has read up to seq (also the frame that delivers it)
	TypeSeen    = "seen"    // visitor: an announcement's banner was shown (AnnouncementID)
	TypeEmail   = "email"   // visitor: where replies go while the shopper is away
	TypeTake    = "take"    // agent: take a queued conversation
	// TypeTransfer is the agent's request to hand a conversation on, and
	// the frame the receiving agent gets.
	TypeTransfer = "transfer"
)

// Frame types the server sends.
const (
	TypeWelcome      = "welcome"      // reply to a visitor's hello, or an agent's first frame
	TypeAck          = "ack"          // a message of yours was committed
	TypeMessage      = "message"      // a message was stored in one of your conversations
	TypeMessages     = "messages"     // reply to sync: a page of stored messages
	TypeConversation = "conversation" // one of your conversations changed
	TypeQueue        = "queue"        // agents: the queue as it is now
	TypePosition     = "position"     // visitors: your place in the queue
	TypeAuthOK       = "auth_ok"      // the socket now runs on the new token
	TypeError        = "error"        // something you sent was refused
	// TypeAnnouncement carries a store-wide announcement (Announcement).
	TypeAnnouncement = "announcement"
	// TypeAnnouncementWithdrawn takes one down (AnnouncementID, Reason).
	TypeAnnouncementWithdrawn = "announcement_withdrawn"
	// TypeUnavailable tells a shopper nobody can answer their new
	// conversation now (ConversationID, Reason, OpensAt, EmailReplies).
	TypeUnavailable = "unavailable"
	// TypeEmailSaved confirms an email frame (Status: the address stored).
	TypeEmailSaved = "email_saved"
)

// ClientFrame is every frame a client may send; which fields matter depends
// on Type.
type ClientFrame struct {
	Type string `json:"type"`

	// hello (visitor)
	Token string `json:"token,omitempty"` // also auth (agent)
	Page  *Page  `json:"page,omitempty"`
	Lang  string `json:"lang,omitempty"`
	// Identity is the shop's signed customer identity (docs/security.md);
	// the visitor is marked verified only when it checks out.
	Identity string `json:"identity,omitempty"`

	// message
	ConversationID string `json:"conversation_id,omitempty"` // also sync, resolve
	ClientID       string `json:"client_id,omitempty"`
	Body           string `json:"body,omitempty"`

	// read
	Seq int64 `json:"seq,omitempty"`

	// sync
	AfterSeq int64 `json:"after_seq,omitempty"`
	Limit    int   `json:"limit,omitempty"`

	// status
	Status string `json:"status,omitempty"`

	// message (visitor): the department a conversation this message opens
	// is for (an id from GET /api/departments/public); ignored otherwise.
	// transfer (agent): the department to transfer to.
	Department string `json:"department,omitempty"`
	// transfer (agent): the agent to transfer to, and the note they see.
	AgentID string `json:"agent_id,omitempty"`
	Note    string `json:"note,omitempty"`
	// email (visitor): where replies go while the shopper is away.
	Email string `json:"email,omitempty"`
	// seen (visitor): the announcement whose banner was shown.
	AnnouncementID string `json:"announcement_id,omitempty"`
}

// Page is where the shopper is, as the widget reports it.
type Page struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

// ServerFrame is every frame the server may send, for decoding by clients.
type ServerFrame struct {
	Type string `json:"type"`

	// welcome
	Visitor       *VisitorView       `json:"visitor,omitempty"`
	Agent         *AgentView         `json:"agent,omitempty"`
	Token         string             `json:"token,omitempty"`
	Conversations []ConversationView `json:"conversations,omitempty"`
	Status        string             `json:"status,omitempty"`

	// ack
	ClientID       string `json:"client_id,omitempty"`
	MessageID      string `json:"message_id,omitempty"`
	ConversationID string `json:"conversation_id,omitempty"` // also messages
	Seq            int64  `json:"seq,omitempty"`             // also read

	// typing, read: who is typing or has read
	SenderKind models.SenderKind `json:"sender_kind,omitempty"`
	SenderName string            `json:"sender_name,omitempty"`

	// message
	Message *MessageView `json:"message,omitempty"`
	// messages
	Messages []MessageView `json:"messages,omitempty"`
	More     bool          `json:"more,omitempty"`

	// conversation; welcome (visitor: the open conversation, if any)
	Conversation *ConversationView `json:"conversation,omitempty"`

	// queue
	Queue []ConversationView `json:"queue,omitempty"`

	// position
	Position             int  `json:"position,omitempty"`
	EstimatedWaitSeconds *int `json:"estimated_wait_seconds,omitempty"`

	// auth_ok; welcome (agent)
	ExpiresAt *time.Time `json:"expires_at,omitempty"`

	// announcement
	Announcement *AnnouncementView `json:"announcement,omitempty"`
	// announcement_withdrawn
	AnnouncementID string `json:"announcement_id,omitempty"`
	// Reason is why: announcement_withdrawn ("withdrawn" or "expired"),
	// unavailable ("closed": outside business hours, or "no_agents").
	Reason string `json:"reason,omitempty"`
	// OpensAt is, for an unavailable frame with reason "closed", when
	// business hours open next; absent when not within 400 days.
	OpensAt *time.Time `json:"opens_at,omitempty"`

	// transfer (agent): the record of the transfer, with its note; the
	// conversation is in Conversation.
	Transfer *TransferView `json:"transfer,omitempty"`

	// unavailable: whether replies sent while the shopper is away reach
	// them by e-mail (false: they wait for the shopper's return). A
	// pointer, because false is an answer, not an absence.
	EmailReplies *bool `json:"email_replies,omitempty"`

	// error
	Code  models.Code `json:"code,omitempty"`
	Error string      `json:"error,omitempty"`
	Ref   string      `json:"ref,omitempty"`
}

// MessageView is a message as clients see it.
type MessageView struct {
	ID             string            `json:"id"`
	ConversationID string            `json:"conversation_id"`
	Seq            int64             `json:"seq"`
	SenderKind     models.SenderKind `json:"sender_kind"`
	SenderName     string            `json:"sender_name,omitempty"`
	ClientID       string            `json:"client_id,omitempty"`
	Body           string            `json:"body"`
	CreatedAt      time.Time         `json:"created_at"`
	// Attachment is set when the message carries a file.
	Attachment *AttachmentView `json:"attachment,omitempty"`
}

// AttachmentView is a file as clients see it. URL is a signed link that
// works without credentials until it expires (docs/api.md); Type is what
// the server detected from the bytes, never what the uploader declared.
type AttachmentView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
	URL  string `json:"url"`
}

// ConversationView is a conversation as clients see it. Visitors get the
// agent's name; agents get the visitor too.
type ConversationView struct {
	ID             string          `json:"id"`
	Status         models.Status   `json:"status"`
	Priority       models.Priority `json:"priority"`
	AgentID        string          `json:"agent_id,omitempty"`
	AgentName      string          `json:"agent_name,omitempty"`
	DepartmentID   string          `json:"department_id,omitempty"`
	LastSeq        int64           `json:"last_seq"`
	VisitorReadSeq int64           `json:"visitor_read_seq"`
	AgentReadSeq   int64           `json:"agent_read_seq"`
	QueuedAt       time.Time       `json:"queued_at"`
	AssignedAt     *time.Time      `json:"assigned_at,omitempty"`
	ResolvedAt     *time.Time      `json:"resolved_at,omitempty"`
	LastMessageAt  time.Time       `json:"last_message_at"`
	Visitor        *VisitorView    `json:"visitor,omitempty"` // agents only
}

// AnnouncementView is a store-wide announcement as widgets and consoles
// see it. Link, StartsAt and ExpiresAt are absent when not set.
type AnnouncementView struct {
	ID        string                   `json:"id"`
	Text      string                   `json:"text"`
	Link      string                   `json:"link,omitempty"`
	Level     models.AnnouncementLevel `json:"level"`
	StartsAt  *time.Time               `json:"starts_at,omitempty"`
	ExpiresAt *time.Time               `json:"expires_at,omitempty"`
	SentAt    *time.Time               `json:"sent_at,omitempty"`
}

// TransferView is a transfer as agents see it: who handed the conversation
// to whom (an agent, a department, or both), and the note, which is for
// agents only and never sent to the shopper.
type TransferView struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	FromAgentID    string    `json:"from_agent_id,omitempty"`
	ToAgentID      string    `json:"to_agent_id,omitempty"`
	ToDepartmentID string    `json:"to_department_id,omitempty"`
	ByAgentID      string    `json:"by_agent_id"`
	Note           string    `json:"note"`
	CreatedAt      time.Time `json:"created_at"`
}

// VisitorView is a shopper as clients see them.
type VisitorView struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	Verified  bool   `json:"verified,omitempty"`
	PageURL   string `json:"page_url,omitempty"`
	PageTitle string `json:"page_title,omitempty"`
	Lang      string `json:"lang,omitempty"`
}

// AgentView is an agent as the console sees them.
type AgentView struct {
	ID                 string      `json:"id"`
	Email              string      `json:"email"`
	Name               string      `json:"name"`
	Role               models.Role `json:"role"`
	MaxChats           int         `json:"max_chats"`
	OpenChats          int         `json:"open_chats"`
	Disabled           bool        `json:"disabled"`
	MustChangePassword bool        `json:"must_change_password"`
}
