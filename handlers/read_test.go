package handlers_test

import (
	"context"
	"testing"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

func mustMessages(t *testing.T, srv *apptest.Server, convID string) []*models.Message {
	t.Helper()
	msgs, err := srv.Store.Messages(context.Background(), convID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func mustConv(t *testing.T, srv *apptest.Server, convID string) *models.Conversation {
	t.Helper()
	c, err := srv.Store.Conversation(context.Background(), convID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestReadReceipts(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	p := mustPair(t, srv, "rd@shop.test")
	p.agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: p.convID, ClientID: "a-1", Body: "How can I help?"})
	p.shop.waitMessage("How can I help?") // seq 2

	isRead := func(kind models.SenderKind) func(wire.ServerFrame) bool {
		return func(f wire.ServerFrame) bool { return f.Type == wire.TypeRead && f.SenderKind == kind }
	}

	t.Run("shopper's read reaches the agent and is stored", func(t *testing.T) {
		p.shop.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 2})
		got := p.agent.next("read", isRead(models.SenderVisitor))
		if got.ConversationID != p.convID || got.Seq != 2 {
			t.Fatalf("agent got %+v, want read of %s up to 2 by the visitor", got, p.convID)
		}
		if c := mustConv(t, srv, p.convID); c.VisitorReadSeq != 2 || c.AgentReadSeq != 0 {
			t.Fatalf("stored marks visitor %d agent %d, want 2 and 0", c.VisitorReadSeq, c.AgentReadSeq)
		}
	})

	t.Run("agent's read reaches the shopper", func(t *testing.T) {
		p.agent.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 1})
		got := p.shop.next("read", isRead(models.SenderAgent))
		if got.Seq != 1 {
			t.Fatalf("shopper got %+v, want the agent's read up to 1", got)
		}
		if c := mustConv(t, srv, p.convID); c.AgentReadSeq != 1 {
			t.Fatalf("stored agent mark %d, want 1", c.AgentReadSeq)
		}
	})

	t.Run("monotonic: a lower mark changes and announces nothing", func(t *testing.T) {
		p.shop.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 1})
		p.shop.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 2})
		p.shop.say("after-reads", "marker after reads")
		f := p.agent.next("read or marker", func(f wire.ServerFrame) bool {
			return isRead(models.SenderVisitor)(f) || (f.Type == wire.TypeMessage && f.Message.Body == "marker after reads")
		})
		if f.Type == wire.TypeRead {
			t.Fatalf("a read that did not raise the mark was announced: %+v", f)
		}
		if c := mustConv(t, srv, p.convID); c.VisitorReadSeq != 2 {
			t.Fatalf("stored visitor mark %d, want still 2", c.VisitorReadSeq)
		}
	})

	t.Run("beyond the last message is refused", func(t *testing.T) {
		p.shop.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 99})
		p.shop.waitError(models.EINVALID, wire.TypeRead)
		if c := mustConv(t, srv, p.convID); c.VisitorReadSeq != 2 {
			t.Fatalf("stored visitor mark %d after a refused read, want 2", c.VisitorReadSeq)
		}
	})

	t.Run("refused for others' conversations", func(t *testing.T) {
		other := mustPair(t, srv, "rd2@shop.test")
		p.shop.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: other.convID, Seq: 1})
		p.shop.waitError(models.ENOTFOUND, wire.TypeRead)
		p.agent.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: other.convID, Seq: 1})
		p.agent.waitError(models.ENOTFOUND, wire.TypeRead)
		if c := mustConv(t, srv, other.convID); c.VisitorReadSeq != 0 || c.AgentReadSeq != 0 {
			t.Fatalf("others' marks changed to visitor %d agent %d", c.VisitorReadSeq, c.AgentReadSeq)
		}
	})

	t.Run("an admin looking in cannot mark it read for the agent", func(t *testing.T) {
		admin := connectAgent(t, srv, login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken)
		admin.send(wire.ClientFrame{Type: wire.TypeRead, ConversationID: p.convID, Seq: 3})
		admin.waitError(models.EFORBIDDEN, wire.TypeRead)
	})

	t.Run("marks survive a restart", func(t *testing.T) {
		srv.Restart(t)
		if c := mustConv(t, srv, p.convID); c.VisitorReadSeq != 2 || c.AgentReadSeq != 1 {
			t.Fatalf("after restart marks visitor %d agent %d, want 2 and 1", c.VisitorReadSeq, c.AgentReadSeq)
		}
	})
}
