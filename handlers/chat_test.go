package handlers_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

func TestRoundTripShopperAgentShopper(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	tok := login(t, srv, "li@shop.test", testPassword)
	agent := connectAgent(t, srv, tok.AccessToken)
	if agent.welcome.Agent == nil || agent.welcome.Agent.Email != "li@shop.test" || agent.welcome.Status != "online" {
		t.Fatalf("agent welcome = %+v", agent.welcome)
	}

	shop := newShopper(t, srv, "")
	ack := shop.say("c-1", "Do you ship to Lyon?")
	if ack.Seq != 1 || ack.MessageID == "" || ack.ConversationID == "" {
		t.Fatalf("ack = %+v, want seq 1 with ids", ack)
	}
	conv := ack.ConversationID

	assigned := agent.waitConversation(conv, models.StatusAssigned)
	if v := assigned.Conversation.Visitor; v == nil || v.PageURL != srv.URL+"/cart" || v.Lang != "en" {
		t.Errorf("agent sees visitor %+v, want page and language", v)
	}
	got := shop.waitConversation(conv, models.StatusAssigned)
	if got.Conversation.AgentName != "Li Na" {
		t.Errorf("shopper sees agent name %q, want Li Na", got.Conversation.AgentName)
	}
	if got.Conversation.Visitor != nil {
		t.Errorf("shopper was sent visitor details meant for agents")
	}

	agent.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: conv})
	page := agent.nextType(wire.TypeMessages)
	if len(page.Messages) != 1 || page.Messages[0].Body != "Do you ship to Lyon?" || page.More {
		t.Fatalf("agent history = %+v", page)
	}

	agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "a-1", Body: "Yes, in 2 days."})
	aack := agent.next("agent ack", func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck })
	if aack.Seq != 2 {
		t.Errorf("agent ack seq %d, want 2", aack.Seq)
	}
	reply := shop.waitMessage("Yes, in 2 days.")
	if reply.Message.Seq != 2 || reply.Message.SenderKind != models.SenderAgent || reply.Message.SenderName != "Li Na" {
		t.Errorf("shopper got %+v", reply.Message)
	}

	shop.say("c-2", "Great, thanks!")
	agent.waitMessage("Great, thanks!")

	msgs, err := srv.Store.Messages(context.Background(), conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		seq  int64
		kind models.SenderKind
		body string
	}{{1, models.SenderVisitor, "Do you ship to Lyon?"}, {2, models.SenderAgent, "Yes, in 2 days."}, {3, models.SenderVisitor, "Great, thanks!"}}
	if len(msgs) != len(want) {
		t.Fatalf("stored %d messages, want %d", len(msgs), len(want))
	}
	for i, w := range want {
		if msgs[i].Seq != w.seq || msgs[i].SenderKind != w.kind || msgs[i].Body != w.body {
			t.Errorf("message %d = seq %d %s %q, want seq %d %s %q", i, msgs[i].Seq, msgs[i].SenderKind, msgs[i].Body, w.seq, w.kind, w.body)
		}
	}

	// Resolve; the shopper's next message opens a new conversation.
	agent.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: conv})
	shop.waitConversation(conv, models.StatusResolved)
	next := shop.say("c-3", "One more question")
	if next.ConversationID == conv || next.Seq != 1 {
		t.Errorf("after resolve, ack = %+v; want a new conversation starting at seq 1", next)
	}
}

func TestSameClientIDTwiceStoresOnce(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := newShopper(t, srv, "")
	first := shop.say("dup-1", "hello?")
	second := shop.say("dup-1", "hello?")
	if ackKey(first) != ackKey(second) {
		t.Errorf("acks differ: %+v then %+v", first, second)
	}
	msgs, err := srv.Store.Messages(context.Background(), first.ConversationID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Errorf("stored %d messages, want 1", len(msgs))
	}
}

func TestSameClientIDConcurrentlyStoresOnce(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := newShopper(t, srv, "")
	// A second socket of the same shopper, as a second tab would be.
	other := newShopper(t, srv, shop.token)
	var wg sync.WaitGroup
	acks := make(chan wire.ServerFrame, 50)
	for i, c := range []*shopper{shop, other} {
		wg.Add(1)
		go func(c *shopper, n int) {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				c.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: "same", Body: "once only"})
			}
		}(c, i)
	}
	wg.Wait()
	for _, c := range []*shopper{shop, other} {
		for j := 0; j < 25; j++ {
			acks <- c.next("ack", func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck })
		}
	}
	close(acks)
	var first wire.ServerFrame
	for a := range acks {
		if first.MessageID == "" {
			first = a
		}
		if ackKey(a) != ackKey(first) {
			t.Fatalf("acks differ: %+v and %+v", first, a)
		}
	}
	msgs, _ := srv.Store.Messages(context.Background(), first.ConversationID, 0, 100)
	if len(msgs) != 1 {
		t.Errorf("stored %d messages, want 1", len(msgs))
	}
}

func TestSecondShopperWaitsForCapacity(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.CreateAgent(t, "one@shop.test", "One", models.RoleAgent, testPassword)
	max := 1
	if _, err := srv.Store.UpdateAgent(context.Background(), a.ID, models.AgentUpdate{MaxChats: &max}); err != nil {
		t.Fatal(err)
	}
	agent := connectAgent(t, srv, login(t, srv, "one@shop.test", testPassword).AccessToken)

	first := newShopper(t, srv, "")
	c1 := first.say("f-1", "first").ConversationID
	agent.waitConversation(c1, models.StatusAssigned)

	second := newShopper(t, srv, "")
	c2 := second.say("s-1", "second").ConversationID
	pos := second.next("position", func(f wire.ServerFrame) bool { return f.Type == wire.TypePosition && f.ConversationID == c2 })
	if pos.Position != 1 {
		t.Errorf("position %d, want 1", pos.Position)
	}
	conv, _ := srv.Store.Conversation(context.Background(), c2)
	if conv.Status != models.StatusQueued {
		t.Fatalf("second conversation is %s while the agent is full, want queued", conv.Status)
	}

	agent.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: c1})
	agent.waitConversation(c2, models.StatusAssigned)
	second.waitConversation(c2, models.StatusAssigned)
}

func TestQueuedUntilAnAgentComesOnline(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "late@shop.test", "Late", models.RoleAgent, testPassword)
	shop := newShopper(t, srv, "")
	conv := shop.say("q-1", "anyone there?").ConversationID
	shop.waitConversation(conv, models.StatusQueued)
	time.Sleep(200 * time.Millisecond) // give a wrong dispatcher a chance to misbehave
	if c, _ := srv.Store.Conversation(context.Background(), conv); c.Status != models.StatusQueued {
		t.Fatalf("status %s with nobody online, want queued", c.Status)
	}
	agent := connectAgent(t, srv, login(t, srv, "late@shop.test", testPassword).AccessToken)
	agent.waitConversation(conv, models.StatusAssigned)
	shop.waitConversation(conv, models.StatusAssigned)
}

func TestAgentWithTwoTabs(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "tabs@shop.test", "Tabs", models.RoleAgent, testPassword)
	tok := login(t, srv, "tabs@shop.test", testPassword).AccessToken
	tab1 := connectAgent(t, srv, tok)
	tab2 := connectAgent(t, srv, tok)

	shop := newShopper(t, srv, "")
	conv := shop.say("t-1", "hi").ConversationID
	tab1.waitConversation(conv, models.StatusAssigned)
	tab2.waitConversation(conv, models.StatusAssigned)
	// Messages sent before the assignment come with the history (sync).

	tab1.conn.Close()
	shop.say("t-2", "still there?")
	tab2.waitMessage("still there?")
	c, _ := srv.Store.Conversation(context.Background(), conv)
	if c.Status != models.StatusAssigned {
		t.Errorf("after closing one tab the conversation is %s, want still assigned", c.Status)
	}
	tab2.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "r-1", Body: "yes"})
	shop.waitMessage("yes")
}

func TestRestartKeepsHistoryAndOpenConversations(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "r@shop.test", "Rui", models.RoleAgent, testPassword)
	agent := connectAgent(t, srv, login(t, srv, "r@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("b-1", "before restart").ConversationID
	agent.waitConversation(conv, models.StatusAssigned)

	srv.Restart(t)
	shop.expectClose(1001)

	again := newShopper(t, srv, shop.token)
	if again.visitorID != shop.visitorID {
		t.Fatalf("visitor %s after restart, want %s", again.visitorID, shop.visitorID)
	}
	if again.welcome.Conversation == nil || again.welcome.Conversation.ID != conv || again.welcome.Conversation.Status != models.StatusAssigned {
		t.Fatalf("welcome conversation after restart = %+v, want %s assigned", again.welcome.Conversation, conv)
	}
	again.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: conv})
	page := again.nextType(wire.TypeMessages)
	if len(page.Messages) != 1 || page.Messages[0].Body != "before restart" {
		t.Fatalf("history after restart = %+v", page.Messages)
	}
	a2 := connectAgent(t, srv, login(t, srv, "r@shop.test", testPassword).AccessToken)
	if len(a2.welcome.Conversations) != 1 || a2.welcome.Conversations[0].ID != conv {
		t.Fatalf("agent's conversations after restart = %+v", a2.welcome.Conversations)
	}
	again.say("b-2", "after restart")
	a2.waitMessage("after restart")
}

func TestAgentReadsShoppersEarlierConversations(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "h@shop.test", "Hana", models.RoleAgent, testPassword)
	srv.CreateAgent(t, "o@shop.test", "Omar", models.RoleAgent, testPassword)
	tok := login(t, srv, "h@shop.test", testPassword).AccessToken
	agent := connectAgent(t, srv, tok)
	shop := newShopper(t, srv, "")
	old := shop.say("e-1", "first visit").ConversationID
	agent.waitConversation(old, models.StatusAssigned)
	agent.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: old})
	shop.waitConversation(old, models.StatusResolved)
	agent.conn.Close()

	// Now only Omar is online: the shopper's new conversation goes to him.
	otok := login(t, srv, "o@shop.test", testPassword).AccessToken
	omar := connectAgent(t, srv, otok)
	cur := shop.say("e-2", "second visit").ConversationID
	omar.waitConversation(cur, models.StatusAssigned)

	var list struct {
		Conversations []wire.ConversationView `json:"conversations"`
	}
	resp := request(t, "GET", srv.URL+"/api/conversations?status=all&visitor_id="+shop.visitorID, otok, nil, &list)
	if resp.StatusCode != 200 || len(list.Conversations) != 2 {
		t.Fatalf("Omar lists %d conversations (HTTP %d), want both of the shopper's", len(list.Conversations), resp.StatusCode)
	}
	var msgs struct {
		Messages []wire.MessageView `json:"messages"`
	}
	resp = request(t, "GET", fmt.Sprintf("%s/api/conversations/%s/messages", srv.URL, old), otok, nil, &msgs)
	if resp.StatusCode != 200 || len(msgs.Messages) != 1 || msgs.Messages[0].Body != "first visit" {
		t.Fatalf("Omar reads the earlier conversation: HTTP %d %+v", resp.StatusCode, msgs.Messages)
	}
	// Hana holds nothing of this shopper now: she may not read the new one.
	resp = request(t, "GET", fmt.Sprintf("%s/api/conversations/%s/messages", srv.URL, cur), login(t, srv, "h@shop.test", testPassword).AccessToken, nil, nil)
	if resp.StatusCode != 404 {
		t.Errorf("Hana reads a conversation that is not hers: HTTP %d, want 404", resp.StatusCode)
	}
}
