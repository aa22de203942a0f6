package sqlstore

import (
	"context"
	"errors"

	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// readColumn is the column holding side's read mark.
func readColumn(side models.SenderKind) (string, error) {
	switch side {
	case models.SenderVisitor:
		return "visitor_read_seq", nil
	case models.SenderAgent:
		return "agent_read_seq", nil
	}
	return "", models.Errorf(models.EINVALID, "only a visitor or an agent reads")
}

// MarkRead raises a read mark. The UPDATE's conditions make it monotonic
// and bounded by last_seq in one statement, so concurrent marks need no
// lock: the highest one wins whatever the order.
func (s *Store) MarkRead(ctx context.Context, conversationID string, side models.SenderKind, seq int64) (*models.Conversation, error) {
	col, err := readColumn(side)
	if err != nil {
		return nil, err
	}
	if seq < 0 {
		return nil, models.Errorf(models.EINVALID, "seq must not be negative")
	}
	var c models.Conversation
	err = s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Conversation{}).
			Where("id = ? AND last_seq >= ? AND "+col+" < ?", conversationID, seq, seq).
			Update(col, seq)
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Where("id = ?", conversationID).Take(&c).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.ENOTFOUND, "conversation not found")
			}
			return err
		}
		if res.RowsAffected == 0 && seq > c.LastSeq {
			return models.Errorf(models.EINVALID, "seq %d is beyond the conversation's last message (%d)", seq, c.LastSeq)
		}
		return nil
	})
	if err != nil {
		return nil, s.mapErr(err, "mark read")
	}
	return &c, nil
}
