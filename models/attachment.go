package models

import (
	"context"
	"time"
)

// Attachment is a file a shopper or an agent sent in a conversation. Its
// bytes are in a BlobStore under BlobKey; this row is what Kefu knows of
// them. It is created together with the message that carries it, and
// never changes after.
type Attachment struct {
	ID             string `json:"id" gorm:"primaryKey;size:36"`
	ConversationID string `json:"conversation_id" gorm:"size:36;index;not null"`
	// MessageID is the message that carries the attachment.
	MessageID string `json:"message_id" gorm:"size:36;uniqueIndex;not null"`
	// Name is the file name the uploader gave, cleaned of any path. It is
	// untrusted text: shown with textContent and offered as the download
	// name, never used to decide how the file is rendered.
	Name string `json:"name" gorm:"size:255;not null"`
	// ContentType is what the server detected from the bytes
	// (http.DetectContentType), without parameters, and is the only type
	// the file is ever served as.
	ContentType string    `json:"content_type" gorm:"size:100;not null"`
	Size        int64     `json:"size" gorm:"not null"`
	BlobKey     string    `json:"-" gorm:"size:128;not null"`
	CreatedAt   time.Time `json:"created_at" gorm:"not null"`
}

// AttachmentStore keeps attachments' rows and the read marks of
// conversations.
type AttachmentStore interface {
	// SendAttachment stores a and appends m, the message that carries it,
	// to m.ConversationID in one transaction, filling a's ID (unless set),
	// ConversationID, MessageID and CreatedAt. A duplicate of (m.SenderID,
	// m.ClientID) stores neither and returns the first message with
	// Duplicate set, before any other check, as AppendMessage does. Else the
	// errors of AppendMessage (ENOTFOUND, ECONFLICT when resolved,
	// EFORBIDDEN for RequireAgentID), and EINVALID when m is not from a
	// visitor or agent, lacks SenderID, ClientID or Body, or a lacks
	// Name, ContentType or BlobKey, or has a negative Size.
	SendAttachment(ctx context.Context, m NewMessage, a *Attachment) (SendResult, error)
	// Attachment returns the attachment with the id; ENOTFOUND if none.
	Attachment(ctx context.Context, id string) (*Attachment, error)
	// MessageAttachments returns the attachments carried by those of the
	// given messages that carry one, keyed by message id.
	MessageAttachments(ctx context.Context, messageIDs []string) (map[string]*Attachment, error)
}

// ReadStore keeps how far each side of a conversation has read.
type ReadStore interface {
	// MarkRead raises the read mark of side (SenderVisitor: VisitorReadSeq;
	// SenderAgent: AgentReadSeq) of the conversation to seq and returns the
	// conversation as stored. Marks only ever rise: a seq at or below the
	// mark changes nothing and is not an error, and of concurrent calls the
	// highest wins. EINVALID for another side, a negative seq, or a seq
	// above the conversation's LastSeq at commit time; ENOTFOUND if the
	// conversation does not exist. Resolved conversations may be marked too.
	MarkRead(ctx context.Context, conversationID string, side SenderKind, seq int64) (*Conversation, error)
}
