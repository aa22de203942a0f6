package memstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

// duplicate returns the acknowledgement for a ClientID the sender already
// used, if any. Only messages with both a sender and a client id take part,
// as with sqlstore's unique index, in which NULLs never collide.
func (s *Store) duplicate(senderID, clientID string) (models.SendResult, bool) {
	if senderID == "" || clientID == "" {
		return models.SendResult{}, false
	}
	m, ok := s.bySender[senderKey{senderID, clientID}]
	if !ok {
		return models.SendResult{}, false
	}
	return models.SendResult{Message: copyMsg(m), Conversation: copyConv(s.conversations[m.ConversationID]), Duplicate: true}, true
}

// appendTo stores a message in the open conversation c.
func (s *Store) appendTo(c *models.Conversation, kind models.SenderKind, senderID, clientID, body string, now time.Time) models.SendResult {
	c.LastSeq++
	c.LastMessageAt, c.UpdatedAt = now, now
	m := &models.Message{
		ID: uuid.NewString(), ConversationID: c.ID, Seq: c.LastSeq, SenderKind: kind,
		SenderID: senderID, ClientID: clientID, Body: body, CreatedAt: now,
	}
	s.messages[c.ID] = append(s.messages[c.ID], m)
	if senderID != "" && clientID != "" {
		s.bySender[senderKey{senderID, clientID}] = m
	}
	return models.SendResult{Message: copyMsg(m), Conversation: copyConv(c)}
}

// openOf returns the visitor's open conversation, through the index.
func (s *Store) openOf(visitorID string) *models.Conversation {
	c, ok := s.conversations[s.openByVisitor[visitorID]]
	if !ok || !c.Status.Open() {
		return nil
	}
	return c
}

// SendVisitorMessage appends a shopper's message to their open conversation
// or opens one.
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
	if err := s.lock(); err != nil {
		return models.SendResult{}, err
	}
	defer s.mu.Unlock()
	if res, ok := s.duplicate(m.VisitorID, m.ClientID); ok {
		return res, nil
	}
	if _, ok := s.visitors[m.VisitorID]; !ok {
		return models.SendResult{}, models.Errorf(models.ENOTFOUND, "visitor not found")
	}
	c := s.openOf(m.VisitorID)
	opened := false
	if c == nil {
		c = &models.Conversation{
			ID: uuid.NewString(), VisitorID: m.VisitorID, DepartmentID: ptr(m.DepartmentID),
			Status: models.StatusQueued, QueuedAt: now, LastMessageAt: now, CreatedAt: now, UpdatedAt: now,
		}
		s.conversations[c.ID] = c
		s.openByVisitor[c.VisitorID] = c.ID
		opened = true
	}
	res := s.appendTo(c, models.SenderVisitor, m.VisitorID, m.ClientID, m.Body, now)
	res.Opened = opened
	return res, nil
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
	return s.appendChecked(m, nil)
}

// appendChecked appends m under the store's lock after the checks every
// append makes (a duplicate is answered first, then the conversation must
// exist, be open and, when asked, be the agent's). prepare, when set, may
// still refuse before anything is written; the func it returns completes
// the write with the stored message.
func (s *Store) appendChecked(m models.NewMessage, prepare func() (func(models.SendResult), error)) (models.SendResult, error) {
	now := nowOr(m.Now)
	if err := s.lock(); err != nil {
		return models.SendResult{}, err
	}
	defer s.mu.Unlock()
	if res, ok := s.duplicate(m.SenderID, m.ClientID); ok {
		return res, nil
	}
	c, ok := s.conversations[m.ConversationID]
	switch {
	case !ok:
		return models.SendResult{}, models.Errorf(models.ENOTFOUND, "conversation not found")
	case !c.Status.Open():
		return models.SendResult{}, models.Errorf(models.ECONFLICT, "the conversation is resolved")
	case m.RequireAgentID != "" && (c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != m.RequireAgentID):
		return models.SendResult{}, models.Errorf(models.EFORBIDDEN, "the conversation is not assigned to you")
	}
	complete := func(models.SendResult) {}
	if prepare != nil {
		var err error
		if complete, err = prepare(); err != nil {
			return models.SendResult{}, err
		}
	}
	res := s.appendTo(c, m.SenderKind, m.SenderID, m.ClientID, m.Body, now)
	complete(res)
	return res, nil
}

// Conversation returns the conversation with the id.
func (s *Store) Conversation(ctx context.Context, id string) (*models.Conversation, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[id]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	return copyConv(c), nil
}

// OpenConversationOf returns the visitor's queued or assigned conversation.
func (s *Store) OpenConversationOf(ctx context.Context, visitorID string) (*models.Conversation, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := s.openOf(visitorID)
	if c == nil {
		return nil, models.Errorf(models.ENOTFOUND, "no open conversation")
	}
	return copyConv(c), nil
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
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*models.Conversation
	for _, c := range s.conversations {
		if f.AgentID != "" && (c.AgentID == nil || *c.AgentID != f.AgentID) {
			continue
		}
		if f.VisitorID != "" && c.VisitorID != f.VisitorID {
			continue
		}
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, c.Status) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *models.Conversation) int {
		return cmp.Or(b.LastMessageAt.Compare(a.LastMessageAt), cmp.Compare(b.ID, a.ID))
	})
	if n := clampLimit(f.Limit); len(out) > n {
		out = out[:n]
	}
	for i, c := range out {
		out[i] = copyConv(c)
	}
	return out, nil
}

// Messages returns up to limit messages with Seq > afterSeq, in Seq order.
func (s *Store) Messages(ctx context.Context, conversationID string, afterSeq int64, limit int) ([]*models.Message, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if _, ok := s.conversations[conversationID]; !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	all := s.messages[conversationID] // all[i].Seq == i+1
	if afterSeq < 0 {
		afterSeq = 0
	}
	if afterSeq >= int64(len(all)) {
		return []*models.Message{}, nil
	}
	page := all[afterSeq:]
	if n := clampLimit(limit); len(page) > n {
		page = page[:n]
	}
	out := make([]*models.Message, len(page))
	for i, m := range page {
		out[i] = copyMsg(m)
	}
	return out, nil
}

// Queue returns the queued conversations in serving order.
func (s *Store) Queue(ctx context.Context) ([]*models.Conversation, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*models.Conversation
	for _, c := range s.conversations {
		if c.Status == models.StatusQueued {
			out = append(out, copyConv(c))
		}
	}
	slices.SortFunc(out, func(a, b *models.Conversation) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.QueuedAt.Compare(b.QueuedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// AssignConversation gives a queued conversation to an agent.
func (s *Store) AssignConversation(ctx context.Context, a models.Assignment) (*models.Conversation, error) {
	if a.ConversationID == "" || a.AgentID == "" {
		return nil, models.Errorf(models.EINVALID, "conversation and agent are required")
	}
	now := nowOr(a.Now)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[a.ConversationID]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	if c.Status != models.StatusQueued {
		return nil, models.Errorf(models.ECONFLICT, "the conversation is no longer queued")
	}
	ag, ok := s.agents[a.AgentID]
	switch {
	case !ok:
		return nil, models.Errorf(models.ENOTFOUND, "agent not found")
	case ag.Disabled:
		return nil, models.Errorf(models.EFORBIDDEN, "the agent is disabled")
	case ag.OpenChats >= a.Capacity:
		return nil, models.Errorf(models.ECAPACITY, "the agent already holds %d of %d chats", ag.OpenChats, a.Capacity)
	}
	c.Status, c.AgentID, c.AssignedAt, c.UpdatedAt = models.StatusAssigned, ptr(&a.AgentID), utcPtr(now), now
	ag.OpenChats++
	ag.LastAssignedAt = utcPtr(now)
	s.assignments[c.ID] = append(s.assignments[c.ID], &models.AssignmentRecord{
		ID: uuid.NewString(), ConversationID: c.ID, AgentID: a.AgentID,
		Strategy: a.Strategy, Reason: a.Reason, CreatedAt: now,
	})
	return copyConv(c), nil
}

func (s *Store) release(agentID string) {
	if ag, ok := s.agents[agentID]; ok && ag.OpenChats > 0 {
		ag.OpenChats--
	}
}

// RequeueConversation returns a conversation assigned to fromAgentID to the
// queue, keeping its QueuedAt.
func (s *Store) RequeueConversation(ctx context.Context, conversationID, fromAgentID string, now time.Time) (*models.Conversation, error) {
	now = nowOr(now)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[conversationID]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	if c.Status != models.StatusAssigned || c.AgentID == nil || *c.AgentID != fromAgentID {
		return nil, models.Errorf(models.ECONFLICT, "the conversation is not assigned to that agent")
	}
	c.Status, c.AgentID, c.AssignedAt, c.UpdatedAt = models.StatusQueued, nil, nil, now
	s.release(fromAgentID)
	return copyConv(c), nil
}

// ResolveConversation closes an open conversation.
func (s *Store) ResolveConversation(ctx context.Context, conversationID string, now time.Time) (*models.Conversation, error) {
	now = nowOr(now)
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c, ok := s.conversations[conversationID]
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "conversation not found")
	}
	if !c.Status.Open() {
		return nil, models.Errorf(models.ECONFLICT, "the conversation is already resolved")
	}
	if c.Status == models.StatusAssigned && c.AgentID != nil {
		s.release(*c.AgentID)
	}
	c.Status, c.ResolvedAt, c.UpdatedAt = models.StatusResolved, utcPtr(now), now
	if s.openByVisitor[c.VisitorID] == c.ID {
		delete(s.openByVisitor, c.VisitorID)
	}
	return copyConv(c), nil
}

// Assignments returns the assignment records of a conversation, oldest first.
func (s *Store) Assignments(ctx context.Context, conversationID string) ([]*models.AssignmentRecord, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	recs := s.assignments[conversationID]
	out := make([]*models.AssignmentRecord, len(recs))
	for i, r := range recs {
		c := *r
		out[i] = &c
	}
	return out, nil
}
