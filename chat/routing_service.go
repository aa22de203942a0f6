package chat

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/routing"
)

// Availability says whether anyone could answer a conversation of a
// department (nil: none) now, and if not, why. The dispatcher implements
// it.
type Availability interface {
	Unavailable(ctx context.Context, dept *models.Department) routing.Unavailability
}

// SendVisitorMessageTo is SendVisitorMessage for a shopper who asked for a
// department: a conversation the message opens is for that department
// (EINVALID if it does not exist). An empty department is
// SendVisitorMessage. When the message opens a conversation and avail says
// nobody can answer, the shopper also gets an unavailable frame.
func (s *Service) SendVisitorMessageTo(ctx context.Context, v *models.Visitor, conversationID, clientID, body, department string, avail Availability, emailReplies bool) (wire.ServerFrame, error) {
	var dept *models.Department
	if department != "" {
		d, err := s.store.Department(ctx, department)
		if models.ErrorCode(err) == models.ENOTFOUND {
			return wire.ServerFrame{}, models.Errorf(models.EINVALID, "no such department")
		} else if err != nil {
			return wire.ServerFrame{}, err
		}
		dept = d
	}
	if dept == nil || conversationID != "" {
		ack, err := s.SendVisitorMessage(ctx, v, conversationID, clientID, body)
		if err == nil && conversationID == "" {
			s.tellIfUnavailable(ctx, v, ack.ConversationID, ack.Seq, nil, avail, emailReplies)
		}
		return ack, err
	}
	if err := s.checkText(clientID, body); err != nil {
		return wire.ServerFrame{}, err
	}
	key := "v:" + v.ID
	if open, err := s.store.OpenConversationOf(ctx, v.ID); err == nil {
		key = open.ID
	}
	unlock := s.lock(key)
	defer unlock()
	res, err := s.store.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: clientID, Body: body,
		DepartmentID: &dept.ID, Now: s.now()})
	if err != nil {
		return wire.ServerFrame{}, err
	}
	s.announceVisitorMessage(ctx, v, res)
	if res.Opened && !res.Duplicate {
		s.tellIfUnavailable(ctx, v, res.Conversation.ID, 1, dept, avail, emailReplies)
	}
	return ackFrame(res.Message), nil
}

// tellIfUnavailable sends the unavailable frame for a conversation just
// opened (seq 1) when nobody could answer it: outside business hours, or
// with nobody online who could.
func (s *Service) tellIfUnavailable(ctx context.Context, v *models.Visitor, convID string, seq int64, dept *models.Department, avail Availability, emailReplies bool) {
	if avail == nil || seq != 1 {
		return
	}
	u := avail.Unavailable(ctx, dept)
	if u.Reason == "" {
		return
	}
	s.publish(ctx, models.EventConversation, models.Audience{Visitors: []string{v.ID}},
		wire.ServerFrame{Type: wire.TypeUnavailable, ConversationID: convID, Reason: u.Reason, OpensAt: u.OpensAt, EmailReplies: &emailReplies})
}

// TransferRequest is an agent's request to hand a conversation on.
type TransferRequest struct {
	ConversationID string
	ToAgentID      string
	ToDepartmentID string
	Note           string
	// Capacity returns the target agent's cap.
	Capacity func(*models.Agent) int
}

// Transfer hands a conversation to another agent or department with a note
// only agents see. An agent may transfer only conversations assigned to
// them; an admin may reassign any open conversation. The shopper is told in
// a system message (without the note); the receiving agent gets a transfer
// frame with the note; the agent who had it gets the conversation frame.
func (s *Service) Transfer(ctx context.Context, by *models.Agent, r TransferRequest) (*models.Conversation, *models.TransferRecord, error) {
	if !utf8.ValidString(r.Note) {
		return nil, nil, models.Errorf(models.EINVALID, "note is not valid UTF-8")
	}
	t := models.Transfer{ConversationID: r.ConversationID, ToAgentID: r.ToAgentID, ToDepartmentID: r.ToDepartmentID,
		Note: strings.TrimSpace(r.Note), ByAgentID: by.ID, Now: s.now()}
	if by.Role != models.RoleAdmin {
		if _, err := s.Conversation(ctx, by, r.ConversationID); err != nil {
			return nil, nil, err
		}
		t.FromAgentID = by.ID
	}
	var to *models.Agent
	if r.ToAgentID != "" {
		a, err := s.store.Agent(ctx, r.ToAgentID)
		if err != nil {
			return nil, nil, err
		}
		to = a
		t.Capacity = r.Capacity(a)
	}
	unlock := s.lock(r.ConversationID)
	c, rec, err := s.store.TransferConversation(ctx, t)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	text := "You are being transferred to another team; the next free agent will continue this conversation."
	if to != nil {
		text = "You have been transferred to " + to.Name + "."
	}
	if res, err := s.store.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderSystem,
		Body: text, Now: s.now()}); err == nil {
		c = res.Conversation
		s.publishMessage(ctx, c, res.Message, "")
	}
	v, verr := s.store.Visitor(ctx, c.VisitorID)
	if verr != nil {
		v = nil
	}
	if rec.FromAgentID != "" {
		s.publishConversationTo(ctx, c, to, v, &rec.FromAgentID)
	} else {
		s.publishConversationTo(ctx, c, to, v, nil)
	}
	if to != nil {
		view, tv := wire.NewConversationView(c, to, v), wire.NewTransferView(rec)
		s.publish(ctx, models.EventConversation, models.Audience{Agents: []string{to.ID}},
			wire.ServerFrame{Type: wire.TypeTransfer, ConversationID: c.ID, Transfer: &tv, Conversation: &view})
	}
	unlock()
	s.kicker.Kick()
	return c, rec, nil
}

// SetPriority sets an open conversation's priority (admins), tells its
// shopper and agent, and asks for a pass: the queue order changed.
func (s *Service) SetPriority(ctx context.Context, conversationID string, p models.Priority) (*models.Conversation, error) {
	unlock := s.lock(conversationID)
	c, err := s.store.SetPriority(ctx, conversationID, p, s.now())
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

// Transfers returns a conversation's transfer records, with their notes,
// for an agent who may read it.
func (s *Service) Transfers(ctx context.Context, a *models.Agent, conversationID string) ([]*models.TransferRecord, error) {
	if _, err := s.Conversation(ctx, a, conversationID); err != nil {
		return nil, err
	}
	return s.store.Transfers(ctx, conversationID)
}
