package chat

import (
	"context"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// AgentWelcome returns the first frame of an agent's socket: who they are,
// their open conversations with their shoppers, and the queue.
func (s *Service) AgentWelcome(ctx context.Context, a *models.Agent, status string) (wire.ServerFrame, error) {
	convs, err := s.store.Conversations(ctx, models.ConversationFilter{AgentID: a.ID,
		Statuses: []models.Status{models.StatusAssigned}, Limit: 500})
	if err != nil {
		return wire.ServerFrame{}, err
	}
	views, err := s.agentViews(ctx, convs)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	queue, err := s.QueueViews(ctx)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	av := wire.NewAgentView(a)
	return wire.ServerFrame{Type: wire.TypeWelcome, Agent: &av, Status: status,
		Conversations: nonNil(views), Queue: nonNil(queue)}, nil
}

func nonNil(v []wire.ConversationView) []wire.ConversationView {
	if v == nil {
		return []wire.ConversationView{}
	}
	return v
}

// agentViews returns views of convs with their shoppers and agents' names,
// as agents see them.
func (s *Service) agentViews(ctx context.Context, convs []*models.Conversation) ([]wire.ConversationView, error) {
	agentIDs := make([]string, 0, len(convs))
	for _, c := range convs {
		if c.AgentID != nil {
			agentIDs = append(agentIDs, *c.AgentID)
		}
	}
	agents, err := s.store.AgentsByID(ctx, agentIDs)
	if err != nil {
		return nil, err
	}
	views := make([]wire.ConversationView, 0, len(convs))
	for _, c := range convs {
		v, err := s.store.Visitor(ctx, c.VisitorID)
		if err != nil {
			return nil, err
		}
		var a *models.Agent
		if c.AgentID != nil {
			a = agents[*c.AgentID]
		}
		views = append(views, wire.NewConversationView(c, a, v))
	}
	return views, nil
}

// QueueViews returns the head of the queue as agents see it.
func (s *Service) QueueViews(ctx context.Context) ([]wire.ConversationView, error) {
	q, err := s.store.Queue(ctx)
	if err != nil {
		return nil, err
	}
	if len(q) > s.opts.QueueFrameLimit {
		q = q[:s.opts.QueueFrameLimit]
	}
	return s.agentViews(ctx, q)
}

// CanRead reports whether the agent may read the conversation: admins may
// read all; an agent, the conversations assigned to them and the earlier
// conversations of a shopper whose open conversation they hold.
func (s *Service) CanRead(ctx context.Context, a *models.Agent, c *models.Conversation) (bool, error) {
	if a.Role == models.RoleAdmin || (c.AgentID != nil && *c.AgentID == a.ID) {
		return true, nil
	}
	held, err := s.store.Conversations(ctx, models.ConversationFilter{AgentID: a.ID, VisitorID: c.VisitorID,
		Statuses: []models.Status{models.StatusAssigned}, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(held) > 0, nil
}

// Conversation returns a conversation the agent may read; ENOTFOUND
// otherwise, so that agents cannot probe for others' conversations.
func (s *Service) Conversation(ctx context.Context, a *models.Agent, id string) (*models.Conversation, error) {
	c, err := s.store.Conversation(ctx, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.CanRead(ctx, a, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, models.Errorf(models.ENOTFOUND, "no such conversation")
	}
	return c, nil
}

// ConversationView returns the agent's view of a conversation they may read.
func (s *Service) ConversationView(ctx context.Context, a *models.Agent, id string) (wire.ConversationView, error) {
	c, err := s.Conversation(ctx, a, id)
	if err != nil {
		return wire.ConversationView{}, err
	}
	views, err := s.agentViews(ctx, []*models.Conversation{c})
	if err != nil {
		return wire.ConversationView{}, err
	}
	return views[0], nil
}

// ListConversations lists what the agent may see: with a visitorID, that
// shopper's conversations if the agent may read them; otherwise the agent's
// own (admins: everyone's).
func (s *Service) ListConversations(ctx context.Context, a *models.Agent, f models.ConversationFilter) ([]wire.ConversationView, error) {
	if a.Role != models.RoleAdmin {
		if f.VisitorID == "" {
			f.AgentID = a.ID
		} else {
			held, err := s.store.Conversations(ctx, models.ConversationFilter{AgentID: a.ID, VisitorID: f.VisitorID,
				Statuses: []models.Status{models.StatusAssigned}, Limit: 1})
			if err != nil {
				return nil, err
			}
			if len(held) == 0 {
				f.AgentID = a.ID // only those they handled themselves
			}
		}
	}
	convs, err := s.store.Conversations(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.agentViews(ctx, convs)
}

// AgentSync returns a page of messages of a conversation the agent may read.
func (s *Service) AgentSync(ctx context.Context, a *models.Agent, conversationID string, afterSeq int64, limit int) (wire.ServerFrame, error) {
	if _, err := s.Conversation(ctx, a, conversationID); err != nil {
		return wire.ServerFrame{}, err
	}
	return s.messagesFrame(ctx, conversationID, afterSeq, limit)
}

// SendAgentMessage stores an agent's reply in a conversation assigned to
// them, then tells both parties. A resend of the same clientID gets the
// same acknowledgement and changes nothing.
func (s *Service) SendAgentMessage(ctx context.Context, a *models.Agent, conversationID, clientID, body string) (wire.ServerFrame, error) {
	ack, _, err := s.SendAgentReply(ctx, a, conversationID, clientID, body)
	return ack, err
}

// SendAgentReply is SendAgentMessage that also reports whether the reply
// was stored now (fresh) rather than being a resend of one already stored
// (by this instance or another: the store's unique client id decides), so
// that what follows a reply, such as mailing it, happens once.
func (s *Service) SendAgentReply(ctx context.Context, a *models.Agent, conversationID, clientID, body string) (ack wire.ServerFrame, fresh bool, err error) {
	if err := s.checkText(clientID, body); err != nil {
		return wire.ServerFrame{}, false, err
	}
	if conversationID == "" {
		return wire.ServerFrame{}, false, models.Errorf(models.EINVALID, "conversation_id is required")
	}
	unlock := s.lock(conversationID)
	defer unlock()
	res, err := s.store.AppendMessage(ctx, models.NewMessage{ConversationID: conversationID, SenderKind: models.SenderAgent,
		SenderID: a.ID, ClientID: clientID, Body: body, RequireAgentID: a.ID, Now: s.now()})
	if models.ErrorCode(err) == models.EFORBIDDEN {
		// Do not reveal whether a conversation the agent may not read exists.
		if _, rerr := s.Conversation(ctx, a, conversationID); rerr != nil {
			return wire.ServerFrame{}, false, rerr
		}
	}
	if err != nil {
		return wire.ServerFrame{}, false, err
	}
	if !res.Duplicate {
		s.publishMessage(ctx, res.Conversation, res.Message, a.Name)
	}
	return ackFrame(res.Message), !res.Duplicate, nil
}

// Resolve closes a conversation for the agent holding it, or for an admin.
func (s *Service) Resolve(ctx context.Context, a *models.Agent, conversationID string) (*models.Conversation, error) {
	c, err := s.Conversation(ctx, a, conversationID)
	if err != nil {
		return nil, err
	}
	if a.Role != models.RoleAdmin && (c.AgentID == nil || *c.AgentID != a.ID) {
		return nil, models.Errorf(models.EFORBIDDEN, "only the agent holding a conversation can resolve it")
	}
	return s.resolve(ctx, conversationID)
}

func (s *Service) resolve(ctx context.Context, conversationID string) (*models.Conversation, error) {
	unlock := s.lock(conversationID)
	c, err := s.store.ResolveConversation(ctx, conversationID, s.now())
	if err != nil {
		unlock()
		return nil, err
	}
	v, verr := s.store.Visitor(ctx, c.VisitorID)
	if verr != nil {
		v = nil
	}
	a, _ := s.agentName(ctx, c.AgentID)
	s.publishConversation(ctx, c, a, v)
	unlock()
	s.kicker.Kick()
	return c, nil
}

// messagesFrame returns a messages frame for the page after afterSeq.
func (s *Service) messagesFrame(ctx context.Context, conversationID string, afterSeq int64, limit int) (wire.ServerFrame, error) {
	if afterSeq < 0 {
		return wire.ServerFrame{}, models.Errorf(models.EINVALID, "after_seq must not be negative")
	}
	if limit <= 0 || limit > 500 {
		if limit < 0 || limit > 500 {
			return wire.ServerFrame{}, models.Errorf(models.EINVALID, "limit must be between 1 and 500")
		}
		limit = 100
	}
	msgs, err := s.store.Messages(ctx, conversationID, afterSeq, limit+1)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[:limit]
	}
	views, err := s.messageViews(ctx, msgs)
	if err != nil {
		return wire.ServerFrame{}, err
	}
	return wire.ServerFrame{Type: wire.TypeMessages, ConversationID: conversationID, Messages: views, More: more}, nil
}

// Messages returns a page of messages as views, and whether more follow.
func (s *Service) Messages(ctx context.Context, a *models.Agent, conversationID string, afterSeq int64, limit int) ([]wire.MessageView, bool, error) {
	f, err := s.AgentSync(ctx, a, conversationID, afterSeq, limit)
	return f.Messages, f.More, err
}

func (s *Service) messageViews(ctx context.Context, msgs []*models.Message) ([]wire.MessageView, error) {
	var ids []string
	for _, m := range msgs {
		if m.SenderKind == models.SenderAgent {
			ids = append(ids, m.SenderID)
		}
	}
	agents, err := s.store.AgentsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	views := make([]wire.MessageView, 0, len(msgs))
	for _, m := range msgs {
		name := ""
		if a := agents[m.SenderID]; a != nil && m.SenderKind == models.SenderAgent {
			name = a.Name
		}
		views = append(views, wire.NewMessageView(m, name))
	}
	if err := s.addAttachments(ctx, msgs, views); err != nil {
		return nil, err
	}
	return views, nil
}
