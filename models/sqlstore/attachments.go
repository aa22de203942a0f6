package sqlstore

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// checkAttachment validates what SendAttachment is asked to store; the
// memory store has its own copy of these rules, and storetest checks both.
func checkAttachment(m models.NewMessage, a *models.Attachment) error {
	switch {
	case a == nil:
		return models.Errorf(models.EINVALID, "attachment is required")
	case m.SenderKind != models.SenderVisitor && m.SenderKind != models.SenderAgent:
		return models.Errorf(models.EINVALID, "attachments come from a visitor or an agent")
	case m.SenderID == "" || m.ClientID == "":
		return models.Errorf(models.EINVALID, "sender id and client id are required")
	case m.Body == "":
		return models.Errorf(models.EINVALID, "message is empty")
	case a.Name == "" || a.ContentType == "" || a.BlobKey == "":
		return models.Errorf(models.EINVALID, "attachment name, type and blob key are required")
	case a.Size < 0:
		return models.Errorf(models.EINVALID, "attachment size is negative")
	}
	return nil
}

// SendAttachment stores the attachment row and its message in one
// transaction.
func (s *Store) SendAttachment(ctx context.Context, m models.NewMessage, a *models.Attachment) (models.SendResult, error) {
	if err := checkAttachment(m, a); err != nil {
		return models.SendResult{}, err
	}
	now := nowOr(m.Now)
	if res, ok, err := s.findDuplicate(s.db.WithContext(ctx), m.SenderID, m.ClientID); err != nil {
		return models.SendResult{}, s.mapErr(err, "send attachment")
	} else if ok {
		return res, nil
	}
	row := *a
	if row.ID == "" {
		row.ID = uuid.NewString()
	}
	row.ConversationID, row.CreatedAt = m.ConversationID, now
	var out models.SendResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = models.SendResult{}
		var c models.Conversation
		if err := s.forUpdate(tx).Where("id = ?", m.ConversationID).Take(&c).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.ENOTFOUND, "conversation not found")
			}
			return err
		}
		if res, ok, err := s.findDuplicate(tx, m.SenderID, m.ClientID); err != nil {
			return err
		} else if ok {
			out = res
			return nil
		}
		if !c.Status.Open() {
			return models.Errorf(models.ECONFLICT, "the conversation is resolved")
		}
		if m.RequireAgentID != "" && (c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != m.RequireAgentID) {
			return models.Errorf(models.EFORBIDDEN, "the conversation is not assigned to you")
		}
		msg, conv, err := s.appendIn(tx, c.ID, m.SenderKind, m.SenderID, m.ClientID, m.Body, now)
		if err != nil {
			return err
		}
		row.MessageID = msg.ID
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out.Message, out.Conversation = msg, conv
		return nil
	})
	if err != nil {
		if isUnique(err) {
			return s.afterUniqueViolation(ctx, m.SenderID, m.ClientID, err)
		}
		return models.SendResult{}, s.mapErr(err, "send attachment")
	}
	if !out.Duplicate {
		*a = row
	}
	return out, nil
}

// Attachment returns the attachment with the id.
func (s *Store) Attachment(ctx context.Context, id string) (*models.Attachment, error) {
	var a models.Attachment
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error; err != nil {
		return nil, s.mapErr(err, "attachment")
	}
	return &a, nil
}

// MessageAttachments returns the attachments of the messages that have one.
func (s *Store) MessageAttachments(ctx context.Context, messageIDs []string) (map[string]*models.Attachment, error) {
	out := make(map[string]*models.Attachment)
	if len(messageIDs) == 0 {
		return out, nil
	}
	var rows []*models.Attachment
	if err := s.db.WithContext(ctx).Where("message_id IN ?", messageIDs).Find(&rows).Error; err != nil {
		return nil, s.mapErr(err, "message attachments")
	}
	for _, a := range rows {
		out[a.MessageID] = a
	}
	return out, nil
}
