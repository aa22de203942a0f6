package models

import "time"

// SenderKind says who wrote a message.
type SenderKind string

const (
	SenderVisitor SenderKind = "visitor"
	SenderAgent   SenderKind = "agent"
	SenderSystem  SenderKind = "system"
)

// Message is one entry in a conversation. Seq numbers the messages of a
// conversation from 1 with no gaps; it is the order everyone shows them in.
type Message struct {
	ID             string     `json:"id" gorm:"primaryKey;size:36"`
	ConversationID string     `json:"conversation_id" gorm:"size:36;not null;uniqueIndex:idx_messages_conv_seq,priority:1"`
	Seq            int64      `json:"seq" gorm:"not null;uniqueIndex:idx_messages_conv_seq,priority:2"`
	SenderKind     SenderKind `json:"sender_kind" gorm:"size:16;not null"`
	// SenderID is the visitor's or agent's id; empty for system messages.
	SenderID string `json:"sender_id,omitempty" gorm:"size:36;uniqueIndex:idx_messages_sender_client,priority:1"`
	// ClientID is the id the sender's client made up for the message; a
	// second send with the same ClientID from the same sender stores nothing.
	// Empty for system messages.
	ClientID  string    `json:"client_id,omitempty" gorm:"size:64;uniqueIndex:idx_messages_sender_client,priority:2"`
	Body      string    `json:"body" gorm:"type:text;not null"`
	CreatedAt time.Time `json:"created_at" gorm:"not null"`
}

// NewMessage is what a sender asks to append to a conversation.
type NewMessage struct {
	ConversationID string
	SenderKind     SenderKind
	SenderID       string
	ClientID       string
	Body           string
	// RequireAgentID, when set, makes the append succeed only if the
	// conversation is assigned to that agent at commit time (EFORBIDDEN
	// otherwise): the check and the write cannot be split by a transfer.
	RequireAgentID string
	Now            time.Time
}

// VisitorMessage is a shopper's message that goes to their open conversation,
// or opens a new one.
type VisitorMessage struct {
	VisitorID    string
	ClientID     string
	Body         string
	DepartmentID *string // for a conversation this message opens
	// OpenConversationID, when the caller has just looked it up, is the
	// visitor's open conversation: a hint that saves the store a lookup.
	// It is checked, not trusted.
	OpenConversationID string
	Now                time.Time
}

// SendResult is what a store did with a message.
type SendResult struct {
	Message      *Message
	Conversation *Conversation // as it was after the message was appended
	// Duplicate is true when the sender had already sent this ClientID:
	// nothing was stored and Message is the one stored the first time.
	Duplicate bool
	// Opened is true when this message opened a new conversation.
	Opened bool
}
