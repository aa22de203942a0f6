package handlers_test

import (
	"testing"
	"time"

	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// pair is a shopper whose conversation is assigned to a connected agent.
type pair struct {
	shop   *shopper
	agent  *agentConn
	token  string // the agent's access token
	convID string
}

// mustPair connects an agent (email) and a shopper whose first message is
// assigned to them.
func mustPair(t *testing.T, srv *apptest.Server, email string) pair {
	t.Helper()
	srv.CreateAgent(t, email, "Agent "+email, models.RoleAgent, testPassword)
	tok := login(t, srv, email, testPassword)
	agent := connectAgent(t, srv, tok.AccessToken)
	shop := newShopper(t, srv, "")
	ack := shop.say("hello-"+email, "hello from "+email)
	agent.waitConversation(ack.ConversationID, models.StatusAssigned)
	shop.waitConversation(ack.ConversationID, models.StatusAssigned)
	return pair{shop: shop, agent: agent, token: tok.AccessToken, convID: ack.ConversationID}
}

func isType(typ string) func(wire.ServerFrame) bool {
	return func(f wire.ServerFrame) bool { return f.Type == typ }
}

func TestTypingReachesTheOtherSide(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	p := mustPair(t, srv, "ty@shop.test")

	p.shop.send(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: p.convID})
	got := p.agent.nextType(wire.TypeTyping)
	if got.ConversationID != p.convID || got.SenderKind != models.SenderVisitor {
		t.Errorf("agent got typing %+v, want the shopper's in %s", got, p.convID)
	}

	p.agent.send(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: p.convID})
	got = p.shop.nextType(wire.TypeTyping)
	if got.ConversationID != p.convID || got.SenderKind != models.SenderAgent || got.SenderName != "Agent ty@shop.test" {
		t.Errorf("shopper got typing %+v, want the agent's, with their name", got)
	}

	t.Run("never stored", func(t *testing.T) {
		if n := len(mustMessages(t, srv, p.convID)); n != 1 {
			t.Fatalf("%d messages stored after typing, want 1", n)
		}
	})

	t.Run("refused for a conversation not theirs", func(t *testing.T) {
		other := mustPair(t, srv, "ty2@shop.test")
		p.agent.send(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: other.convID})
		p.agent.waitError(models.ENOTFOUND, wire.TypeTyping)
		p.shop.send(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: other.convID})
		p.shop.waitError(models.ENOTFOUND, wire.TypeTyping)
		// Nothing reached the other pair's agent: their next frame of
		// these kinds is the marker message.
		other.shop.say("marker-1", "marker one")
		f := other.agent.next("typing or marker", func(f wire.ServerFrame) bool {
			return f.Type == wire.TypeTyping || (f.Type == wire.TypeMessage && f.Message.Body == "marker one")
		})
		if f.Type == wire.TypeTyping {
			t.Fatalf("another agent's typing reached this pair's agent: %+v", f)
		}
	})
}

func TestTypingIsThrottled(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	p := mustPair(t, srv, "th@shop.test")

	start := time.Now()
	const sent = 10
	for range sent {
		p.shop.send(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: p.convID})
	}
	// The marker is handled after the typing frames (one read loop per
	// socket) and published after them: every typing frame that was
	// forwarded arrives before it.
	p.shop.say("marker", "done typing")
	elapsed := time.Since(start)
	forwarded := 0
	for {
		f := p.agent.next("typing or marker", func(f wire.ServerFrame) bool {
			return f.Type == wire.TypeTyping || (f.Type == wire.TypeMessage && f.Message.Body == "done typing")
		})
		if f.Type == wire.TypeMessage {
			break
		}
		forwarded++
	}
	// One per started TypingInterval: however slow the machine, the bound
	// is computed from the time it actually took.
	limit := 1 + int(elapsed/chat.TypingInterval)
	if forwarded < 1 || forwarded > limit {
		t.Fatalf("%d of %d typing frames forwarded in %v, want between 1 and %d", forwarded, sent, elapsed, limit)
	}
	if forwarded == sent {
		t.Fatal("no typing frame was dropped")
	}
}
