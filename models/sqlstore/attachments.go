package sqlstore

import (
	"context"

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
	row := *a
	if row.ID == "" {
		row.ID = uuid.NewString()
	}
	row.ConversationID, row.CreatedAt = m.ConversationID, nowOr(m.Now)
	m.Now = row.CreatedAt
	out, err := s.appendChecked(ctx, m, "send attachment", func(tx *gorm.DB, msg *models.Message) error {
		row.MessageID = msg.ID
		return tx.Create(&row).Error
	})
	if err != nil {
		return models.SendResult{}, err
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
