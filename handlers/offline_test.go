package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/smtpsink"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// TestOfflineLifeCycle: nobody is online, the shopper leaves an address and
// goes; the reply that comes later reaches them by e-mail with a link back,
// while a reply to a shopper still on the page is not mailed.
func TestOfflineLifeCycle(t *testing.T) {
	sink := smtpsink.Start(t)
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.SMTPURL = "smtp://" + sink.Addr + "?from=help@shop.test"
	}})
	srv.CreateAgent(t, "night@shop.test", "Night Owl", models.RoleAgent, testPassword)

	shop := newShopper(t, srv, "")
	conv := shop.say("o-1", "Is the teapot back in stock?").ConversationID
	if u := shop.nextType("unavailable"); u.ConversationID != conv {
		t.Fatalf("unavailable frame %+v", u)
	}
	shop.send(map[string]string{"type": "email", "email": "ann@example.test"})
	shop.nextType("email_saved")

	agent := connectAgent(t, srv, login(t, srv, "night@shop.test", testPassword).AccessToken)
	agent.waitConversation(conv, models.StatusAssigned)

	// Still on the page: the reply arrives live and nothing is mailed.
	agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "r-1", Body: "Let me check."})
	shop.waitMessage("Let me check.")
	sink.None(t, 700*time.Millisecond)

	// Gone: the next reply is mailed to the address they left.
	shop.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.App.Hub.VisitorConnections(shop.visitorID) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "r-2", Body: "Yes, back on Monday."})
	agent.next("ack r-2", func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck && f.ClientID == "r-2" })
	m := sink.Next(t)
	if len(m.To) != 1 || m.To[0] != "ann@example.test" {
		t.Errorf("mail to %v, want ann@example.test", m.To)
	}
	if !strings.Contains(m.Data, "Yes, back on Monday.") || !strings.Contains(m.Data, srv.URL) {
		t.Errorf("mail lacks the reply or a link back to %s:\n%s", srv.URL, m.Data)
	}
	// Back on the page with the same token: the reply is in the history.
	again := newShopper(t, srv, shop.token)
	again.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: conv})
	page := again.nextType(wire.TypeMessages)
	if n := len(page.Messages); n < 3 || page.Messages[n-1].Body != "Yes, back on Monday." {
		t.Errorf("history after return: %+v", page.Messages)
	}
}

// TestOfflineResentReplyMailedOnce: an agent's reply resent with the same
// client id (a console that lost the ack) is stored once and mailed once;
// the next reply is the next mail.
func TestOfflineResentReplyMailedOnce(t *testing.T) {
	sink := smtpsink.Start(t)
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.SMTPURL = "smtp://" + sink.Addr + "?from=help@shop.test"
	}})
	srv.CreateAgent(t, "once@shop.test", "Once", models.RoleAgent, testPassword)
	shop := newShopper(t, srv, "")
	conv := shop.say("o-1", "Where is my order?").ConversationID
	shop.nextType("unavailable")
	shop.send(map[string]string{"type": "email", "email": "ann@example.test"})
	shop.nextType("email_saved")
	shop.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.App.Hub.VisitorConnections(shop.visitorID) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	agent := connectAgent(t, srv, login(t, srv, "once@shop.test", testPassword).AccessToken)
	agent.waitConversation(conv, models.StatusAssigned)

	reply := func(clientID, body string) wire.ServerFrame {
		t.Helper()
		agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: clientID, Body: body})
		return agent.next("ack "+clientID, func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck && f.ClientID == clientID })
	}
	first := reply("r-1", "It ships today.")
	if m := sink.Next(t); !strings.Contains(m.Data, "It ships today.") {
		t.Fatalf("first mail:\n%s", m.Data)
	}
	if again := reply("r-1", "It ships today."); again.MessageID != first.MessageID {
		t.Fatalf("resend acked %s, want the first message %s", again.MessageID, first.MessageID)
	}
	reply("r-2", "Tracking number follows.")
	if m := sink.Next(t); !strings.Contains(m.Data, "Tracking number follows.") {
		t.Fatalf("the mail after a resend is not the next reply's; the resend was mailed again:\n%s", m.Data)
	}
	if n := len(mustMessages(t, srv, conv)); n != 3 {
		t.Errorf("%d messages, want the question and two replies", n)
	}
}
