package chat

import (
	"context"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// publishMessage tells both parties of a stored message.
func (s *Service) publishMessage(ctx context.Context, c *models.Conversation, m *models.Message, senderName string) {
	to := models.Audience{Visitors: []string{c.VisitorID}}
	if c.AgentID != nil {
		to.Agents = []string{*c.AgentID}
	}
	view := wire.NewMessageView(m, senderName)
	s.publish(ctx, models.EventMessage, to, wire.ServerFrame{Type: wire.TypeMessage, Message: &view})
}

// publishConversation tells the shopper, and the agent holding it (if any),
// that a conversation changed. Each side gets its own view: agents see the
// shopper, shoppers see only the agent's name.
func (s *Service) publishConversation(ctx context.Context, c *models.Conversation, agent *models.Agent, visitor *models.Visitor) {
	s.publishConversationTo(ctx, c, agent, visitor, c.AgentID)
}

func (s *Service) publishConversationTo(ctx context.Context, c *models.Conversation, agent *models.Agent, visitor *models.Visitor, agentID *string) {
	forVisitor := wire.NewConversationView(c, agent, nil)
	s.publish(ctx, models.EventConversation, models.Audience{Visitors: []string{c.VisitorID}},
		wire.ServerFrame{Type: wire.TypeConversation, Conversation: &forVisitor})
	if agentID == nil {
		return
	}
	forAgent := wire.NewConversationView(c, agent, visitor)
	s.publish(ctx, models.EventConversation, models.Audience{Agents: []string{*agentID}},
		wire.ServerFrame{Type: wire.TypeConversation, Conversation: &forAgent})
}

// Assigned tells the shopper who will serve them and the agent what they
// got. The dispatcher calls it after the assignment committed.
func (s *Service) Assigned(ctx context.Context, c *models.Conversation, agent *models.Agent) {
	unlock := s.lock(c.ID)
	defer unlock()
	v, err := s.store.Visitor(ctx, c.VisitorID)
	if err != nil {
		s.log.Warn("loading visitor for assignment", "conversation", c.ID, "err", err)
		v = nil
	}
	s.publishConversation(ctx, c, agent, v)
}

// Requeued tells the shopper, in the conversation itself, that they are
// waiting again, and tells the agent who had it that it is gone.
func (s *Service) Requeued(ctx context.Context, c *models.Conversation, fromAgentID string, reason string) {
	unlock := s.lock(c.ID)
	defer unlock()
	text := "Your agent is no longer available. You are back in the queue and the next free agent will continue this conversation."
	if reason != "" {
		text = reason
	}
	res, err := s.store.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderSystem,
		Body: text, Now: s.now()})
	if err == nil {
		c = res.Conversation
		s.publishMessage(ctx, c, res.Message, "")
	} else {
		s.log.Warn("storing requeue notice", "conversation", c.ID, "err", err)
	}
	v, err := s.store.Visitor(ctx, c.VisitorID)
	if err != nil {
		v = nil
	}
	s.publishConversationTo(ctx, c, nil, v, &fromAgentID)
}

// QueueChanged pushes the queue's head to every agent and each waiting
// shopper's place to that shopper.
func (s *Service) QueueChanged(ctx context.Context, queue []*models.Conversation) {
	head := queue
	if len(head) > s.opts.QueueFrameLimit {
		head = head[:s.opts.QueueFrameLimit]
	}
	views, err := s.agentViews(ctx, head)
	if err != nil {
		s.log.Warn("building queue frame", "err", err)
	} else {
		s.publish(ctx, models.EventQueue, models.Audience{AllAgents: true},
			wire.ServerFrame{Type: wire.TypeQueue, Queue: nonNil(views)})
	}
	for i, c := range queue {
		s.publish(ctx, models.EventQueue, models.Audience{Visitors: []string{c.VisitorID}},
			wire.ServerFrame{Type: wire.TypePosition, ConversationID: c.ID, Position: i + 1})
	}
}

// AgentStatus tells every socket of an agent their presence status, so that
// all their tabs agree.
func (s *Service) AgentStatus(ctx context.Context, agentID, status string) {
	s.publish(ctx, models.EventPresence, models.Audience{Agents: []string{agentID}},
		wire.ServerFrame{Type: wire.TypeStatus, Status: status})
}
