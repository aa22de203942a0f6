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

// bumpSeq numbers the next message of the open conversation with the id
// (and, when cond is set, matching it too) with a conditional UPDATE: its
// WHERE clause holds the rules and is re-checked under the row's lock, so
// last_seq+1 is unique and gap-free and a conversation resolved meanwhile
// is refused. ok=false says no row matched. It then reads the row back by
// primary key. (UPDATE ... RETURNING would save that read, but on SQLite it
// builds a temporary table each time, which inside a group commit's
// savepoints cost several times the read.)
func bumpSeq(tx *gorm.DB, now time.Time, id string, cond string, args ...any) (c models.Conversation, ok bool, err error) {
	q := tx.Model(&models.Conversation{}).Where("id = ? AND status IN ?", id, openStatuses)
	if cond != "" {
		q = q.Where(cond, args...)
	}
	res := q.Updates(map[string]any{
		"last_seq":        gorm.Expr("last_seq + 1"),
		"last_message_at": now,
		"updated_at":      now,
	})
	if res.Error != nil || res.RowsAffected != 1 {
		return c, false, res.Error
	}
	err = tx.Where("id = ?", id).Take(&c).Error
	return c, err == nil, err
}

// insertMessage stores the message bumpSeq numbered in c. A duplicate
// (sender, client id) fails here on the unique index, which undoes the
// caller's whole transaction (or, in a group commit, its savepoint).
func insertMessage(tx *gorm.DB, c *models.Conversation, kind models.SenderKind, senderID, clientID, body string, now time.Time) (*models.Message, error) {
	m := message{
		ID: uuid.NewString(), ConversationID: c.ID, Seq: c.LastSeq, SenderKind: kind,
		SenderID: nullable(senderID), ClientID: nullable(clientID), Body: body, CreatedAt: now,
	}
	if err := tx.Create(&m).Error; err != nil {
		return nil, err
	}
	return m.model(), nil
}

// afterSendFailed turns a failed send into its answer. A duplicate wins
// over any other refusal: a retry whose first attempt committed gets that
// attempt's acknowledgement, even if the conversation was resolved or
// transferred since.
func (s *Store) afterSendFailed(ctx context.Context, senderID, clientID string, err error, what string) (models.SendResult, error) {
	if isUnique(err) {
		return s.afterUniqueViolation(ctx, senderID, clientID, err)
	}
	switch models.ErrorCode(err) {
	case models.ECONFLICT, models.EFORBIDDEN:
		if res, ok, ferr := s.findDuplicate(s.db.WithContext(ctx), senderID, clientID); ferr == nil && ok {
			return res, nil
		}
	}
	return models.SendResult{}, s.mapErr(err, what)
}

// SendVisitorMessage appends a shopper's message to their open conversation
// or opens one. On PostgreSQL the visitor's row is locked first, so two
// first messages sent at once cannot open two conversations; on SQLite
// writes run one at a time anyway.
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
	// No look for a duplicate first: retries are rare and every message
	// would pay for the read. A duplicate fails on the unique index, which
	// undoes its attempt, and afterSendFailed answers with the original.
	var out models.SendResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = models.SendResult{}
		if s.postgres {
			if err := s.lockVisitor(tx, m.VisitorID); err != nil {
				return err
			}
		}
		var c models.Conversation
		ok := false
		var err error
		if m.OpenConversationID != "" {
			c, ok, err = bumpSeq(tx, now, m.OpenConversationID, "visitor_id = ?", m.VisitorID)
			if err != nil {
				return err
			}
		}
		if !ok {
			var open []string
			err := tx.Model(&models.Conversation{}).Where("visitor_id = ? AND status IN ?", m.VisitorID, openStatuses).
				Order("created_at DESC").Limit(1).Pluck("id", &open).Error
			if err != nil {
				return err
			}
			if len(open) == 1 {
				if c, ok, err = bumpSeq(tx, now, open[0], ""); err != nil {
					return err
				}
			}
		}
		if !ok {
			if !s.postgres {
				if err := s.lockVisitor(tx, m.VisitorID); err != nil {
					return err
				}
			}
			c = models.Conversation{
				ID: uuid.NewString(), VisitorID: m.VisitorID, DepartmentID: m.DepartmentID,
				Status: models.StatusQueued, QueuedAt: now, LastMessageAt: now, LastSeq: 1,
				CreatedAt: now, UpdatedAt: now,
			}
			if err := tx.Create(&c).Error; err != nil {
				return err
			}
			out.Opened = true
		}
		msg, err := insertMessage(tx, &c, models.SenderVisitor, m.VisitorID, m.ClientID, m.Body, now)
		if err != nil {
			return err
		}
		out.Message, out.Conversation = msg, &c
		return nil
	})
	if err != nil {
		return s.afterSendFailed(ctx, m.VisitorID, m.ClientID, err, "send message")
	}
	return out, nil
}

// lockVisitor returns ENOTFOUND unless the visitor exists, and on
// PostgreSQL locks their row until the transaction ends.
func (s *Store) lockVisitor(tx *gorm.DB, id string) error {
	var v models.Visitor
	err := s.forUpdate(tx).Select("id").Where("id = ?", id).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return models.Errorf(models.ENOTFOUND, "visitor not found")
	}
	return err
}

// AppendMessage appends m to its conversation.
func (s *Store) AppendMessage(ctx context.Context, m models.NewMessage) (models.SendResult, error) {
	return s.appendChecked(ctx, m, "send message", nil)
}

// appendChecked validates and appends m; also, when set, runs in the same
// transaction with the stored message (an attachment's row, say).
func (s *Store) appendChecked(ctx context.Context, m models.NewMessage, what string, also func(tx *gorm.DB, msg *models.Message) error) (models.SendResult, error) {
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
	// As in SendVisitorMessage, duplicates are found when they fail:
	// afterSendFailed acknowledges a retry with its original even if the
	// conversation was resolved or transferred since.
	var out models.SendResult
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = models.SendResult{}
		cond, args := "", []any(nil)
		if m.RequireAgentID != "" {
			cond, args = "status = ? AND agent_id = ?", []any{models.StatusAssigned, m.RequireAgentID}
		}
		c, ok, err := bumpSeq(tx, now, m.ConversationID, cond, args...)
		if err != nil {
			return err
		}
		if !ok {
			return whyNotAppendable(tx, m.ConversationID)
		}
		msg, err := insertMessage(tx, &c, m.SenderKind, m.SenderID, m.ClientID, m.Body, now)
		if err != nil {
			return err
		}
		if also != nil {
			if err := also(tx, msg); err != nil {
				return err
			}
		}
		out.Message, out.Conversation = msg, &c
		return nil
	})
	if err != nil {
		return s.afterSendFailed(ctx, m.SenderID, m.ClientID, err, what)
	}
	return out, nil
}

// whyNotAppendable explains why bumpSeq matched no row.
func whyNotAppendable(tx *gorm.DB, id string) error {
	var c models.Conversation
	if err := tx.Select("id", "status").Where("id = ?", id).Take(&c).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.ENOTFOUND, "conversation not found")
		}
		return err
	}
	if !c.Status.Open() {
		return models.Errorf(models.ECONFLICT, "the conversation is resolved")
	}
	return models.Errorf(models.EFORBIDDEN, "the conversation is not assigned to you")
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
