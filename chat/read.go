package chat

import (
	"context"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// VisitorRead records that the shopper has read their conversation up to
// seq, and tells both parties. ENOTFOUND for a conversation that is not the
// shopper's; EINVALID for a seq beyond the last message.
func (s *Service) VisitorRead(ctx context.Context, v *models.Visitor, conversationID string, seq int64) error {
	if conversationID == "" {
		return models.Errorf(models.EINVALID, "conversation_id is required")
	}
	c, err := s.store.Conversation(ctx, conversationID)
	if err != nil {
		return err
	}
	if c.VisitorID != v.ID {
		return models.Errorf(models.ENOTFOUND, "no such conversation")
	}
	return s.markRead(ctx, c, models.SenderVisitor, seq)
}

// AgentRead records that the agent holding a conversation has read it up
// to seq, and tells both parties. ENOTFOUND for a conversation the agent may
// not read; EFORBIDDEN for one they may read but do not hold: an admin
// looking in does not mark it read for the agent who serves it.
func (s *Service) AgentRead(ctx context.Context, a *models.Agent, conversationID string, seq int64) error {
	c, err := s.heldBy(ctx, a, conversationID)
	if err != nil {
		return err
	}
	return s.markRead(ctx, c, models.SenderAgent, seq)
}

// markRead raises side's mark and publishes the new one to the shopper and
// to the agent holding the conversation: the other side shows "seen", and
// the reader's own other tabs learn that they have read it. A mark that
// does not rise publishes nothing.
func (s *Service) markRead(ctx context.Context, c *models.Conversation, side models.SenderKind, seq int64) error {
	if seq < 0 {
		return models.Errorf(models.EINVALID, "seq must not be negative")
	}
	if seq > c.LastSeq {
		// Checked by the store too, at commit; this answers without a write.
		return models.Errorf(models.EINVALID, "seq %d is beyond the conversation's last message (%d)", seq, c.LastSeq)
	}
	if seq <= readMark(c, side) {
		return nil
	}
	unlock := s.lock(c.ID)
	defer unlock()
	updated, err := s.store.MarkRead(ctx, c.ID, side, seq)
	if err != nil {
		return err
	}
	mark := readMark(updated, side)
	if mark != seq {
		return nil // a higher mark committed meanwhile and was announced by its own call
	}
	to := models.Audience{Visitors: []string{updated.VisitorID}}
	if updated.AgentID != nil {
		to.Agents = []string{*updated.AgentID}
	}
	s.publish(ctx, EventRead, to, wire.ServerFrame{Type: wire.TypeRead, ConversationID: updated.ID, SenderKind: side, Seq: mark})
	return nil
}

func readMark(c *models.Conversation, side models.SenderKind) int64 {
	if side == models.SenderAgent {
		return c.AgentReadSeq
	}
	return c.VisitorReadSeq
}
