package handlers

import (
	"context"

	"github.com/kefu-chat/kefu/models/wire"
)

// registerReadFrames adds the read frame for both sides: the sender has
// read the conversation up to seq.
func (s *Server) registerReadFrames() {
	s.visitorFrames[wire.TypeRead] = func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
		return s.Chat.VisitorRead(ctx, vs.visitor, f.ConversationID, f.Seq)
	}
	s.agentFrames[wire.TypeRead] = func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
		return s.Chat.AgentRead(ctx, as.agent, f.ConversationID, f.Seq)
	}
}
