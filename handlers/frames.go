package handlers

import (
	"context"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// visitorSocket is a shopper's socket after hello.
type visitorSocket struct {
	*socket
	visitor *models.Visitor
}

// agentSocket is an agent's socket. agent is refreshed from the store before
// each frame.
type agentSocket struct {
	*socket
	agent   *models.Agent
	session *agentSession
}

// Frame handlers: one per client frame type, registered in the tables
// below (features in other files add theirs in registerFrames). A handler
// answers through the socket; a returned error becomes an error frame
// referring to the frame, and the connection stays open.
type (
	visitorFrameHandler func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error
	agentFrameHandler   func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error
)

// registerFrames fills the frame tables.
func (s *Server) registerFrames() {
	s.visitorFrames = map[string]visitorFrameHandler{
		wire.TypeSend: func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
			ack, err := s.Chat.SendVisitorMessage(ctx, vs.visitor, f.ConversationID, f.ClientID, f.Body)
			if err == nil {
				vs.send(ack)
			}
			return err
		},
		wire.TypeSync: func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
			page, err := s.Chat.VisitorSync(ctx, vs.visitor, f.ConversationID, f.AfterSeq, f.Limit)
			if err == nil {
				vs.send(page)
			}
			return err
		},
		wire.TypeResolve: func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
			return s.Chat.VisitorResolve(ctx, vs.visitor, f.ConversationID)
		},
		wire.TypeHello: func(context.Context, *visitorSocket, wire.ClientFrame) error {
			return models.Errorf(models.EINVALID, "hello was already sent")
		},
	}
	s.agentFrames = map[string]agentFrameHandler{
		wire.TypeSend: func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
			ack, err := s.Chat.SendAgentMessage(ctx, as.agent, f.ConversationID, f.ClientID, f.Body)
			if err == nil {
				as.send(ack)
			}
			return err
		},
		wire.TypeSync: func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
			page, err := s.Chat.AgentSync(ctx, as.agent, f.ConversationID, f.AfterSeq, f.Limit)
			if err == nil {
				as.send(page)
			}
			return err
		},
		wire.TypeResolve: func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
			_, err := s.Chat.Resolve(ctx, as.agent, f.ConversationID)
			return err
		},
		wire.TypeStatus: func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
			return s.setStatus(ctx, as.agent.ID, f.Status)
		},
		wire.TypeAuth: func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
			return s.reauth(ctx, as, f.Token)
		},
	}
	s.registerAnnouncementFrames()
	s.registerRoutingFrames()
	s.registerTypingFrames()
	s.registerReadFrames()
}
