package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

func TestSendReceiveResumeAfterRestart(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	agent, _ := MustAgent(t, srv, srv.URL, "li@shop.test", client.AgentOptions{Options: fastBackoff()})
	shop := MustVisitor(t, srv.URL, client.VisitorOptions{Options: fastBackoff()})
	ar, sr := record(agent), record(shop)

	ack := send(t, shop, "", "Do you ship to Lyon?")
	if ack.Seq != 1 || ack.ConversationID == "" || ack.MessageID == "" {
		t.Fatalf("ack = %+v, want seq 1 with ids", ack)
	}
	conv := ack.ConversationID
	waitFor(t, 10*time.Second, "agent to get the question", func() bool { return len(ar.messages()) == 1 })
	send(t, agent, conv, "Yes, in 2 days.")
	waitFor(t, 10*time.Second, "shopper to get the reply", func() bool { return len(sr.messages()) == 2 })

	srv.Restart(t)
	// Sent while the clients are reconnecting: pending until acked.
	send(t, shop, conv, "And to Lille?")
	send(t, agent, conv, "Lille too.")
	waitFor(t, 20*time.Second, "both sides to have 4 messages", func() bool {
		return len(ar.messages()) == 4 && len(sr.messages()) == 4
	})

	want := []string{"Do you ship to Lyon?", "Yes, in 2 days.", "And to Lille?", "Lille too."}
	for _, r := range []struct {
		who string
		rec *recorder
	}{{"agent", ar}, {"shopper", sr}} {
		msgs := r.rec.messages()
		checkOrdered(t, r.who, msgs)
		var got []string
		for _, m := range msgs {
			got = append(got, m.Body)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", r.who, got, want)
		}
		if n := r.rec.count(client.EventConnected); n < 2 {
			t.Errorf("%s connected %d times, want a reconnect after the restart", r.who, n)
		}
	}
	stored, err := srv.Store.Messages(context.Background(), conv, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 4 {
		t.Errorf("stored %d messages, want 4", len(stored))
	}
	if got := agent.LastSeq(conv); got != 4 {
		t.Errorf("agent LastSeq = %d, want 4", got)
	}
}

func TestRefusalIsTypedError(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := MustVisitor(t, srv.URL, client.VisitorOptions{})
	record(shop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := shop.Send(ctx, "", strings.Repeat("x", srv.Config.MaxMessageBytes+1))
	var me *models.Error
	if !errors.As(err, &me) || me.Code != models.ETOOLARGE {
		t.Fatalf("oversized send: %v, want a *models.Error with %s", err, models.ETOOLARGE)
	}
	if shop.Pending() != 0 {
		t.Errorf("a refused message is still pending")
	}
	// The connection stays usable.
	if ack := send(t, shop, "", "hello"); ack.Seq != 1 {
		t.Errorf("ack seq %d, want 1", ack.Seq)
	}
}

func TestRevokedAgentStopsForGood(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	agent, a := MustAgent(t, srv, srv.URL, "li@shop.test", client.AgentOptions{Options: fastBackoff()})
	r := record(agent)
	// What a logout or password change does; the socket's watchdog notices.
	if _, err := srv.Store.UpdateAgent(context.Background(), a.ID, models.AgentUpdate{RevokeTokens: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-agent.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("client still running 15s after its tokens were revoked")
	}
	if models.ErrorCode(agent.Err()) != models.EUNAUTHORIZED {
		t.Errorf("Err = %v, want %s", agent.Err(), models.EUNAUTHORIZED)
	}
	<-r.done
	if n := r.count(client.EventConnected); n != 1 {
		t.Errorf("connected %d times, want 1 (no reconnect after 4503)", n)
	}
	if _, err := agent.Send(context.Background(), "x", "y"); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Errorf("Send after revocation = %v, want %s", err, models.EUNAUTHORIZED)
	}
}

func TestOverflowLosesNothing(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	agent, _ := MustAgent(t, srv, srv.URL, "li@shop.test", client.AgentOptions{})
	shop := MustVisitor(t, srv.URL, client.VisitorOptions{Options: client.Options{EventBuffer: 4, MinBackoff: 20 * time.Millisecond}})
	ar := record(agent)
	conv := send(t, shop, "", "first").ConversationID
	waitFor(t, 10*time.Second, "agent to get the first message", func() bool { return len(ar.messages()) == 1 })
	const n = 30
	for i := 0; i < n; i++ {
		send(t, agent, conv, "reply "+string(rune('A'+i)))
	}
	// Only now does the shopper's application start reading.
	sr := record(shop)
	waitFor(t, 20*time.Second, "the shopper to catch up", func() bool { return len(sr.messages()) == n+1 })
	msgs := sr.messages()
	checkOrdered(t, "shopper", msgs)
	if shop.Stats().Overflows == 0 {
		t.Errorf("no overflow counted with a 4-event buffer and %d messages", n)
	}
}
