package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/chaos"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// rawVisitor opens a visitor socket by hand and says hello with token.
func rawVisitor(t *testing.T, srv *apptest.Server, token string) (*websocket.Conn, wire.ServerFrame) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial(srv.WSURL+"/ws/visitor", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.WriteJSON(wire.ClientFrame{Type: wire.TypeHello, Token: token, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	for {
		var f wire.ServerFrame
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for welcome: %v", err)
		}
		if f.Type == wire.TypeWelcome {
			return conn, f
		}
	}
}

// TestOneClientIDFiftyTimesAtOnce sends one message 50 times at once with
// one client id, from 5 sockets of the same visitor, 10 goroutines each
// writing on its own socket: stored once, 50 acks with one id and seq.
func TestOneClientIDFiftyTimesAtOnce(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	_, welcome := rawVisitor(t, srv, "")
	const sockets, perSocket = 5, 10
	conns := make([]*websocket.Conn, sockets)
	for i := range conns {
		conns[i], _ = rawVisitor(t, srv, welcome.Token)
	}
	frame, _ := json.Marshal(wire.ClientFrame{Type: wire.TypeSend, ClientID: "same-id-1", Body: "only once"})

	var wg sync.WaitGroup
	start := make(chan struct{})
	acks := make(chan wire.ServerFrame, sockets*perSocket)
	errs := make(chan error, sockets*2)
	for _, conn := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < perSocket; j++ {
				if err := conn.WriteMessage(websocket.TextMessage, frame); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for n := 0; n < perSocket; {
				var f wire.ServerFrame
				_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
				if err := conn.ReadJSON(&f); err != nil {
					errs <- fmt.Errorf("after %d acks: %w", n, err)
					return
				}
				switch f.Type {
				case wire.TypeAck:
					acks <- f
					n++
				case wire.TypeError:
					errs <- fmt.Errorf("error frame %+v", f)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(acks)
	var first wire.ServerFrame
	n := 0
	for a := range acks {
		if n == 0 {
			first = a
		}
		n++
		if a.MessageID != first.MessageID || a.Seq != first.Seq || a.ConversationID != first.ConversationID || a.ClientID != "same-id-1" {
			t.Errorf("ack %+v differs from %+v", a, first)
		}
	}
	if n != sockets*perSocket || first.Seq != 1 {
		t.Fatalf("%d acks, first seq %d; want %d acks of seq 1", n, first.Seq, sockets*perSocket)
	}
	stored, err := srv.Store.Messages(context.Background(), first.ConversationID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != first.MessageID {
		t.Fatalf("stored %d messages, want exactly the acknowledged one", len(stored))
	}

	// The same through the client package: several clients of the same
	// visitor sending one client id concurrently settle on one message.
	var cwg sync.WaitGroup
	got := make(chan client.Ack, 5)
	for i := 0; i < 5; i++ {
		c := MustVisitor(t, srv.URL, client.VisitorOptions{Token: welcome.Token})
		record(c)
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			ack, err := c.SendWithID(ctx, "", "same-id-2", "also only once")
			if err != nil {
				t.Error(err)
				return
			}
			got <- ack
		}()
	}
	cwg.Wait()
	close(got)
	var ids []string
	for a := range got {
		ids = append(ids, fmt.Sprintf("%s/%d", a.MessageID, a.Seq))
	}
	slices.Sort(ids)
	if len(ids) != 5 || len(slices.Compact(ids)) != 1 {
		t.Errorf("client acks %v, want one message", ids)
	}
	stored, _ = srv.Store.Messages(context.Background(), first.ConversationID, 0, 100)
	if len(stored) != 2 {
		t.Errorf("stored %d messages, want 2", len(stored))
	}
}

// script is what one shopper and their agent say to each other.
func script(shopper, lines int) (fromShopper, fromAgent []string) {
	for i := 0; i < lines; i++ {
		fromShopper = append(fromShopper, fmt.Sprintf("s%02d: question %d", shopper, i))
		fromAgent = append(fromAgent, fmt.Sprintf("s%02d: answer %d", shopper, i))
	}
	return fromShopper, fromAgent
}

// TestDroppedNetworks runs many shoppers and agents through a proxy that
// cuts connections at random moments; each side must end with exactly the
// other's messages, in order, once, and the database with exactly the
// script.
func TestDroppedNetworks(t *testing.T) {
	const (
		shoppers = 20
		agents   = 4
		lines    = 6 // each side of each conversation
		seed     = 20260522
	)
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.DefaultMaxChats = shoppers // every agent can hold every chat
		c.GracePeriod = 5 * time.Minute
	}})
	proxy, err := chaos.New(srv.Addr, chaos.Options{Seed: seed, MinLife: 100 * time.Millisecond, MaxLife: 700 * time.Millisecond, MaxCuts: 150})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	via := "http://" + proxy.Addr()
	opts := client.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 250 * time.Millisecond, Seed: seed}

	agentClients := make([]*client.Client, agents)
	agentRecs := make([]*recorder, agents)
	for i := range agentClients {
		email := fmt.Sprintf("agent%d@shop.test", i)
		srv.CreateAgent(t, email, fmt.Sprintf("Agent %d", i), models.RoleAgent, testPassword)
		agentClients[i] = MustDialAgent(t, srv.URL, via, email, client.AgentOptions{Options: opts})
		agentRecs[i] = record(agentClients[i])
	}
	shopClients := make([]*client.Client, shoppers)
	shopRecs := make([]*recorder, shoppers)
	for i := range shopClients {
		shopClients[i] = MustVisitor(t, via, client.VisitorOptions{Options: opts})
		shopRecs[i] = record(shopClients[i])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	convOf := make([]string, shoppers)

	// Each shopper opens their conversation and asks; each agent answers
	// the conversations they hold, one line after each question.
	var wg sync.WaitGroup
	for i, c := range shopClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qs, _ := script(i, lines)
			for j, q := range qs {
				ack, err := c.Send(ctx, convOf[i], q)
				if err != nil {
					t.Errorf("shopper %d line %d: %v", i, j, err)
					return
				}
				if j == 0 {
					convOf[i] = ack.ConversationID
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	owner := map[string]int{} // conversation → agent index
	waitFor(t, 30*time.Second, "every conversation to be assigned", func() bool {
		for _, conv := range convOf {
			c, err := srv.Store.Conversation(context.Background(), conv)
			if err != nil || c.AgentID == nil {
				return false
			}
			for i, ac := range agentClients {
				if ac.ID() == *c.AgentID {
					owner[conv] = i
				}
			}
		}
		return len(owner) == shoppers
	})
	for i, conv := range convOf {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, as := script(i, lines)
			for j, a := range as {
				if _, err := agentClients[owner[conv]].Send(ctx, conv, a); err != nil {
					t.Errorf("agent answer %d to shopper %d: %v", j, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	cutsDuringTraffic := proxy.Cuts()
	proxy.Calm()

	waitFor(t, 30*time.Second, "every side to have every message", func() bool {
		for i := range shopClients {
			if len(shopRecs[i].messages()) < 2*lines {
				return false
			}
		}
		n := 0
		for _, r := range agentRecs {
			n += len(r.messages())
		}
		return n >= shoppers*2*lines
	})

	var st client.Stats
	for i, conv := range convOf {
		qs, as := script(i, lines)
		sm := shopRecs[i].messages()
		checkOrdered(t, fmt.Sprintf("shopper %d", i), sm)
		if got := bodies(sm, models.SenderAgent); !slices.Equal(got, as) {
			t.Errorf("shopper %d got from the agent %q, want %q", i, got, as)
		}
		var am []wire.MessageView
		for _, m := range agentRecs[owner[conv]].messages() {
			if m.ConversationID == conv {
				am = append(am, m)
			}
		}
		checkOrdered(t, fmt.Sprintf("agent of shopper %d", i), am)
		if got := bodies(am, models.SenderVisitor); !slices.Equal(got, qs) {
			t.Errorf("agent of shopper %d got %q, want %q", i, got, qs)
		}
		stored, err := srv.Store.Messages(context.Background(), conv, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		var sq, sa []string
		for _, m := range stored {
			switch m.SenderKind {
			case models.SenderVisitor:
				sq = append(sq, m.Body)
			case models.SenderAgent:
				sa = append(sa, m.Body)
			default:
				t.Errorf("conversation of shopper %d holds a %s message %q", i, m.SenderKind, m.Body)
			}
		}
		if !slices.Equal(sq, qs) || !slices.Equal(sa, as) {
			t.Errorf("stored for shopper %d: %q / %q; want the script", i, sq, sa)
		}
		s := shopClients[i].Stats()
		st.Connects += s.Connects
		st.Resent += s.Resent
		st.Duplicates += s.Duplicates
		st.Gaps += s.Gaps
		st.Syncs += s.Syncs
	}
	for _, c := range agentClients {
		s := c.Stats()
		st.Connects += s.Connects
		st.Resent += s.Resent
		st.Duplicates += s.Duplicates
		st.Gaps += s.Gaps
		st.Syncs += s.Syncs
	}
	t.Logf("proxy: %d connections, %d cuts during traffic; clients: %d connects (%d reconnects), %d resent, %d syncs, %d duplicates dropped, %d early arrivals held; %d messages",
		proxy.Accepted(), cutsDuringTraffic, st.Connects, st.Connects-shoppers-agents, st.Resent, st.Syncs, st.Duplicates, st.Gaps, shoppers*2*lines)
	if cutsDuringTraffic == 0 || st.Connects == shoppers+agents {
		t.Errorf("the proxy cut nothing that mattered (%d cuts, %d connects): the test proved nothing", cutsDuringTraffic, st.Connects)
	}
}
