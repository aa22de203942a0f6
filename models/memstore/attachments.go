package memstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

// attachmentState is the part of the store attachments add. It lives
// under the store's one mutex.
type attachmentState struct {
	byID      map[string]*models.Attachment
	byMessage map[string]*models.Attachment
}

func (s *Store) attachments() *attachmentState {
	if s.att == nil {
		s.att = &attachmentState{byID: map[string]*models.Attachment{}, byMessage: map[string]*models.Attachment{}}
	}
	return s.att
}

func copyAttachment(a *models.Attachment) *models.Attachment { c := *a; return &c }

// SendAttachment stores the attachment and its message at once.
func (s *Store) SendAttachment(ctx context.Context, m models.NewMessage, a *models.Attachment) (models.SendResult, error) {
	switch {
	case a == nil:
		return models.SendResult{}, models.Errorf(models.EINVALID, "attachment is required")
	case m.SenderKind != models.SenderVisitor && m.SenderKind != models.SenderAgent:
		return models.SendResult{}, models.Errorf(models.EINVALID, "attachments come from a visitor or an agent")
	case m.SenderID == "" || m.ClientID == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "sender id and client id are required")
	case m.Body == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "message is empty")
	case a.Name == "" || a.ContentType == "" || a.BlobKey == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "attachment name, type and blob key are required")
	case a.Size < 0:
		return models.SendResult{}, models.Errorf(models.EINVALID, "attachment size is negative")
	}
	row := *a
	if row.ID == "" {
		row.ID = uuid.NewString()
	}
	return s.appendChecked(m, func() (func(models.SendResult), error) {
		st := s.attachments()
		if _, taken := st.byID[row.ID]; taken {
			return nil, models.Errorf(models.ECONFLICT, "attachment: already exists")
		}
		return func(res models.SendResult) {
			row.ConversationID, row.MessageID, row.CreatedAt = res.Message.ConversationID, res.Message.ID, res.Message.CreatedAt
			st.byID[row.ID] = &row
			st.byMessage[row.MessageID] = &row
			*a = row
		}, nil
	})
}

// Attachment returns the attachment with the id.
func (s *Store) Attachment(ctx context.Context, id string) (*models.Attachment, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	a, ok := s.attachments().byID[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "attachment: not found")
	}
	return copyAttachment(a), nil
}

// MessageAttachments returns the attachments of the messages that have one.
func (s *Store) MessageAttachments(ctx context.Context, messageIDs []string) (map[string]*models.Attachment, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make(map[string]*models.Attachment)
	st := s.attachments()
	for _, id := range messageIDs {
		if a, ok := st.byMessage[id]; ok {
			out[id] = copyAttachment(a)
		}
	}
	return out, nil
}

// MarkRead raises a read mark.
func (s *Store) MarkRead(ctx context.Context, conversationID string, side models.SenderKind, seq int64) (*models.Conversation, error) {
	if side != models.SenderVisitor && side != models.SenderAgent {
		return nil, models.Errorf(models.EINVALID, "only a visitor or an agent reads")
	}
	if seq < 0 {
		return nil, models.Errorf(models.EINVALID, "seq must not be negative")
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[conversationID]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	if seq > c.LastSeq {
		return nil, models.Errorf(models.EINVALID, "seq %d is beyond the conversation's last message (%d)", seq, c.LastSeq)
	}
	mark := &c.VisitorReadSeq
	if side == models.SenderAgent {
		mark = &c.AgentReadSeq
	}
	if seq > *mark {
		*mark = seq
	}
	return copyConv(c), nil
}
