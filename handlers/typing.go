package handlers

import (
	"context"

	"github.com/kefu-chat/kefu/models/wire"
)

// registerTypingFrames adds the typing frame for both sides. Typing that
// comes too often is dropped without an error frame: it is a hint, and
// clients send it on every few keystrokes.
func (s *Server) registerTypingFrames() {
	s.visitorFrames[wire.TypeTyping] = func(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
		return s.Chat.VisitorTyping(ctx, vs.visitor, f.ConversationID)
	}
	s.agentFrames[wire.TypeTyping] = func(ctx context.Context, as *agentSocket, f wire.ClientFrame) error {
		return s.Chat.AgentTyping(ctx, as.agent, f.ConversationID)
	}
}
