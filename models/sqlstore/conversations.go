package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// message is the stored form of models.Message. SenderID and ClientID are
// NULL rather than empty for system messages, so that the unique index on
// (sender_id, client_id), which makes sends idempotent, does not also make
// a conversation's second system message a "duplicate" of its first: SQL
// unique indexes treat NULLs as distinct.
type message struct {
	ID             string            `gorm:"primaryKey;size:36"`
	ConversationID string            `gorm:"size:36;not null;uniqueIndex:idx_messages_conv_seq,priority:1"`
	Seq            int64             `gorm:"not null;uniqueIndex:idx_messages_conv_seq,priority:2"`
	SenderKind     models.SenderKind `gorm:"size:16;not null"`
	SenderID       *string           `gorm:"size:36;uniqueIndex:idx_messages_sender_client,priority:1"`
	ClientID       *string           `gorm:"size:64;uniqueIndex:idx_messages_sender_client,priority:2"`
	Body           string            `gorm:"type:text;not null"`
	CreatedAt      time.Time         `gorm:"not null"`
}

func (message) TableName() string { return "messages" }

func (m *message) model() *models.Message {
	out := &models.Message{
		ID: m.ID, ConversationID: m.ConversationID, Seq: m.Seq, SenderKind: m.SenderKind,
		Body: m.Body, CreatedAt: m.CreatedAt,
	}
	if m.SenderID != nil {
		out.SenderID = *m.SenderID
	}
	if m.ClientID != nil {
		out.ClientID = *m.ClientID
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

var openStatuses = []models.Status{models.StatusQueued, models.StatusAssigned}

func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC()
}

// findDuplicate returns the sender's message with clientID and its
// conversation as a duplicate result, or ok=false if there is none.
func (s *Store) findDuplicate(tx *gorm.DB, senderID, clientID string) (models.SendResult, bool, error) {
	if senderID == "" || clientID == "" {
		return models.SendResult{}, false, nil
	}
	var m message
	err := tx.Where("sender_id = ? AND client_id = ?", senderID, clientID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.SendResult{}, false, nil
	}
	if err != nil {
		return models.SendResult{}, false, err
	}
	var c models.Conversation
	if err := tx.Where("id = ?", m.ConversationID).Take(&c).Error; err != nil {
		return models.SendResult{}, false, err
	}
	return models.SendResult{Message: m.model(), Conversation: &c, Duplicate: true}, true, nil
}

// afterUniqueViolation is called when a send failed on the unique index:
// a concurrent send of the same ClientID committed first. Its message is
// the acknowledgement.
func (s *Store) afterUniqueViolation(ctx context.Context, senderID, clientID string, cause error) (models.SendResult, error) {
	res, ok, err := s.findDuplicate(s.db.WithContext(ctx), senderID, clientID)
	if err != nil {
		return models.SendResult{}, s.mapErr(err, "send message")
	}
	if !ok {
		return models.SendResult{}, models.Internal(cause, "send message")
	}
	return res, nil
}

// appendIn appends a message to conversation c (open, and locked by the
// caller's transaction) and returns the stored message and the conversation
// after it. The conditional UPDATE is what numbers messages: it is done under
// the conversation's row lock, so last_seq+1 is unique and gap-free, and it
// refuses a conversation that was resolved meanwhile.
func (s *Store) appendIn(tx *gorm.DB, convID string, kind models.SenderKind, senderID, clientID, body string, now time.Time) (*models.Message, *models.Conversation, error) {
	res := tx.Model(&models.Conversation{}).
		Where("id = ? AND status IN ?", convID, openStatuses).
		Updates(map[string]any{
			"last_seq":        gorm.Expr("last_seq + 1"),
			"last_message_at": now,
			"updated_at":      now,
		})
	if res.Error != nil {
		return nil, nil, res.Error
	}
	if res.RowsAffected != 1 {
		return nil, nil, models.Errorf(models.ECONFLICT, "the conversation is resolved")
	}
	var c models.Conversation
	if err := tx.Where("id = ?", convID).Take(&c).Error; err != nil {
		return nil, nil, err
	}
	m := message{
		ID: uuid.NewString(), ConversationID: convID, Seq: c.LastSeq, SenderKind: kind,
		SenderID: nullable(senderID), ClientID: nullable(clientID), Body: body, CreatedAt: now,
	}
	if err := tx.Create(&m).Error; err != nil {
		return nil, nil, err
	}
	return m.model(), &c, nil
}

// SendVisitorMessage appends a shopper's message to their open conversation
// or opens one. The visitor's row is locked first, so two first messages
// sent at once cannot open two conversations.
func (s *Store) SendVisitorMessage(ctx context.Context, m models.VisitorMessage) (models.SendResult, error) {
	switch {
	case m.VisitorID == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "visitor id is required")
	case m.ClientID == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "client id is required")
	case strings.TrimSpace(m.Body) == "":
		return models.SendResult{}, models.Errorf(models.EINVALID, "message is empty")
	}
	now := nowOr(m.Now)
	// The cheap path for retries: no write lock taken.
	if res, ok, err := s.findDuplicate(s.db.WithContext(ctx), m.VisitorID, m.ClientID); err != nil {
		return models.SendResult{}, s.mapErr(err, "send message")
	} else if ok {
		return res, nil
	}
	var out models.SendResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = models.SendResult{}
		var v models.Visitor
		if err := s.forUpdate(tx).Select("id").Where("id = ?", m.VisitorID).Take(&v).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.ENOTFOUND, "visitor not found")
			}
			return err
		}
		// With the visitor locked, a concurrent send of the same ClientID
		// has either committed (and is seen here) or waits for us.
		if res, ok, err := s.findDuplicate(tx, m.VisitorID, m.ClientID); err != nil {
			return err
		} else if ok {
			out = res
			return nil
		}
		var c models.Conversation
		err := tx.Where("visitor_id = ? AND status IN ?", m.VisitorID, openStatuses).
			Order("created_at DESC").Take(&c).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			c = models.Conversation{
				ID: uuid.NewString(), VisitorID: m.VisitorID, DepartmentID: m.DepartmentID,
				Status: models.StatusQueued, QueuedAt: now, LastMessageAt: now,
				CreatedAt: now, UpdatedAt: now,
			}
			if err := tx.Create(&c).Error; err != nil {
				return err
			}
			out.Opened = true
		case err != nil:
			return err
		}
		msg, conv, err := s.appendIn(tx, c.ID, models.SenderVisitor, m.VisitorID, m.ClientID, m.Body, now)
		if err != nil {
			return err
		}
		out.Message, out.Conversation = msg, conv
		return nil
	})
	if err != nil {
		if isUnique(err) {
			return s.afterUniqueViolation(ctx, m.VisitorID, m.ClientID, err)
		}
		return models.SendResult{}, s.mapErr(err, "send message")
	}
	return out, nil
}

// AppendMessage appends m to its conversation.
func (s *Store) AppendMessage(ctx context.Context, m models.NewMessage) (models.SendResult, error) {
	switch m.SenderKind {
	case models.SenderVisitor, models.SenderAgent:
		if m.SenderID == "" || m.ClientID == "" {
			return models.SendResult{}, models.Errorf(models.EINVALID, "sender id and client id are required")
		}
	case models.SenderSystem:
	default:
		return models.SendResult{}, models.Errorf(models.EINVALID, "unknown sender kind %q", m.SenderKind)
	}
	if strings.TrimSpace(m.Body) == "" {
		return models.SendResult{}, models.Errorf(models.EINVALID, "message is empty")
	}
	now := nowOr(m.Now)
	// A duplicate is acknowledged before any other check, so a retry after
	// the conversation was resolved or transferred still gets its answer.
	if res, ok, err := s.findDuplicate(s.db.WithContext(ctx), m.SenderID, m.ClientID); err != nil {
		return models.SendResult{}, s.mapErr(err, "send message")
	} else if ok {
		return res, nil
	}
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
		out.Message, out.Conversation = msg, conv
		return nil
	})
	if err != nil {
		if isUnique(err) {
			return s.afterUniqueViolation(ctx, m.SenderID, m.ClientID, err)
		}
		return models.SendResult{}, s.mapErr(err, "send message")
	}
	return out, nil
}

// Conversation returns the conversation with the id.
func (s *Store) Conversation(ctx context.Context, id string) (*models.Conversation, error) {
	var c models.Conversation
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, s.mapErr(err, "conversation")
	}
	return &c, nil
}

// OpenConversationOf returns the visitor's queued or assigned conversation.
func (s *Store) OpenConversationOf(ctx context.Context, visitorID string) (*models.Conversation, error) {
	var c models.Conversation
	err := s.db.WithContext(ctx).Where("visitor_id = ? AND status IN ?", visitorID, openStatuses).
		Order("created_at DESC").Take(&c).Error
	if err != nil {
		return nil, s.mapErr(err, "open conversation")
	}
	return &c, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 500:
		return 500
	}
	return n
}

// Conversations lists conversations matching f, newest activity first.
func (s *Store) Conversations(ctx context.Context, f models.ConversationFilter) ([]*models.Conversation, error) {
	q := s.db.WithContext(ctx).Model(&models.Conversation{})
	if f.AgentID != "" {
		q = q.Where("agent_id = ?", f.AgentID)
	}
	if f.VisitorID != "" {
		q = q.Where("visitor_id = ?", f.VisitorID)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	var cs []*models.Conversation
	if err := q.Order("last_message_at DESC, id DESC").Limit(clampLimit(f.Limit)).Find(&cs).Error; err != nil {
		return nil, s.mapErr(err, "list conversations")
	}
	return cs, nil
}

// Messages returns up to limit messages with Seq > afterSeq, in Seq order.
func (s *Store) Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]*models.Message, error) {
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Model(&models.Conversation{}).Where("id = ?", conversationID).Count(&n).Error; err != nil {
		return nil, s.mapErr(err, "messages")
	}
	if n == 0 {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	var rows []message
	err := db.Where("conversation_id = ? AND seq > ?", conversationID, afterSeq).
		Order("seq").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, s.mapErr(err, "messages")
	}
	out := make([]*models.Message, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// Queue returns the queued conversations in serving order.
func (s *Store) Queue(ctx context.Context) ([]*models.Conversation, error) {
	var cs []*models.Conversation
	err := s.db.WithContext(ctx).Where("status = ?", models.StatusQueued).
		Order("priority DESC, queued_at ASC, id ASC").Find(&cs).Error
	if err != nil {
		return nil, s.mapErr(err, "queue")
	}
	return cs, nil
}

// AssignConversation gives a queued conversation to an agent. Both changes
// are conditional UPDATEs whose WHERE clauses are the rules (still queued;
// below capacity and enabled), re-checked by the database under the row
// locks, so racing dispatchers in any number of processes cannot assign a
// conversation twice or push an agent over its cap.
func (s *Store) AssignConversation(ctx context.Context, a models.Assignment) (*models.Conversation, error) {
	if a.ConversationID == "" || a.AgentID == "" {
		return nil, models.Errorf(models.EINVALID, "conversation and agent are required")
	}
	now := nowOr(a.Now)
	var out models.Conversation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Conversation{}).
			Where("id = ? AND status = ?", a.ConversationID, models.StatusQueued).
			Updates(map[string]any{
				"status": models.StatusAssigned, "agent_id": a.AgentID,
				"assigned_at": now, "updated_at": now,
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if err := s.exists(tx, &models.Conversation{}, a.ConversationID); err != nil {
				return err
			}
			return models.Errorf(models.ECONFLICT, "the conversation is no longer queued")
		}
		res = tx.Model(&models.Agent{}).
			Where("id = ? AND open_chats < ? AND disabled = ?", a.AgentID, a.Capacity, false).
			Updates(map[string]any{
				"open_chats": gorm.Expr("open_chats + 1"), "last_assigned_at": now,
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			var ag models.Agent
			if err := tx.Where("id = ?", a.AgentID).Take(&ag).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return models.Errorf(models.ENOTFOUND, "agent not found")
				}
				return err
			}
			if ag.Disabled {
				return models.Errorf(models.EFORBIDDEN, "the agent is disabled")
			}
			return models.Errorf(models.ECAPACITY, "the agent already holds %d of %d chats", ag.OpenChats, a.Capacity)
		}
		rec := models.AssignmentRecord{
			ID: uuid.NewString(), ConversationID: a.ConversationID, AgentID: a.AgentID,
			Strategy: a.Strategy, Reason: a.Reason, CreatedAt: now,
		}
		if err := tx.Create(&rec).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", a.ConversationID).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "assign conversation")
	}
	return &out, nil
}

// exists returns ENOTFOUND unless a row of model's table has the id.
func (s *Store) exists(tx *gorm.DB, model any, id string) error {
	var n int64
	if err := tx.Model(model).Where("id = ?", id).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return models.Errorf(models.ENOTFOUND, "not found")
	}
	return nil
}

// RequeueConversation returns a conversation assigned to fromAgentID to the
// queue, keeping its QueuedAt.
func (s *Store) RequeueConversation(ctx context.Context, conversationID, fromAgentID string, now time.Time) (*models.Conversation, error) {
	now = nowOr(now)
	var out models.Conversation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&models.Conversation{}).
			Where("id = ? AND status = ? AND agent_id = ?", conversationID, models.StatusAssigned, fromAgentID).
			Updates(map[string]any{
				"status": models.StatusQueued, "agent_id": nil, "assigned_at": nil, "updated_at": now,
			})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if err := s.exists(tx, &models.Conversation{}, conversationID); err != nil {
				return err
			}
			return models.Errorf(models.ECONFLICT, "the conversation is not assigned to that agent")
		}
		if err := releaseChat(tx, fromAgentID); err != nil {
			return err
		}
		return tx.Where("id = ?", conversationID).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "requeue conversation")
	}
	return &out, nil
}

func releaseChat(tx *gorm.DB, agentID string) error {
	return tx.Model(&models.Agent{}).Where("id = ? AND open_chats > 0", agentID).
		Update("open_chats", gorm.Expr("open_chats - 1")).Error
}

// ResolveConversation closes an open conversation.
func (s *Store) ResolveConversation(ctx context.Context, conversationID string, now time.Time) (*models.Conversation, error) {
	now = nowOr(now)
	var out models.Conversation
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var c models.Conversation
		if err := s.forUpdate(tx).Where("id = ?", conversationID).Take(&c).Error; err != nil {
			return err
		}
		if !c.Status.Open() {
			return models.Errorf(models.ECONFLICT, "the conversation is already resolved")
		}
		res := tx.Model(&models.Conversation{}).
			Where("id = ? AND status = ?", c.ID, c.Status).
			Updates(map[string]any{"status": models.StatusResolved, "resolved_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return models.Errorf(models.ECONFLICT, "the conversation changed; try again")
		}
		if c.Status == models.StatusAssigned && c.AgentID != nil {
			if err := releaseChat(tx, *c.AgentID); err != nil {
				return err
			}
		}
		return tx.Where("id = ?", c.ID).Take(&out).Error
	})
	if err != nil {
		return nil, s.mapErr(err, "resolve conversation")
	}
	return &out, nil
}

// Assignments returns the assignment records of a conversation, oldest first.
func (s *Store) Assignments(ctx context.Context, conversationID string) ([]*models.AssignmentRecord, error) {
	var rs []*models.AssignmentRecord
	err := s.db.WithContext(ctx).Where("conversation_id = ?", conversationID).
		Order("created_at, id").Find(&rs).Error
	if err != nil {
		return nil, s.mapErr(err, "assignments")
	}
	return rs, nil
}
