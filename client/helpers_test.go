package client_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's connection opener and fasthttp's shared timers
		// outlive a stopped server by design.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's worker-pool cleaner sleeps out its interval after the
		// server stopped (server side, not the client's).
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

const testPassword = "correct-horse-battery"

// recorder reads a client's events until they end and keeps them.
type recorder struct {
	c    *client.Client
	mu   sync.Mutex
	msgs []wire.MessageView
	evs  []client.Event
	done chan struct{}
}

func record(c *client.Client) *recorder {
	r := &recorder{c: c, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range c.Events() {
			r.mu.Lock()
			if ev.Kind == client.EventMessage {
				r.msgs = append(r.msgs, ev.Message)
			}
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) messages() []wire.MessageView {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.MessageView(nil), r.msgs...)
}

func (r *recorder) count(kind client.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or the deadline passes (a failure
// deadline only: cond decides).
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bodies returns the bodies of msgs from the given sender kind, in order.
func bodies(msgs []wire.MessageView, kind models.SenderKind) []string {
	var out []string
	for _, m := range msgs {
		if m.SenderKind == kind {
			out = append(out, m.Body)
		}
	}
	return out
}

// checkOrdered fails unless the messages of each conversation have seq
// 1, 2, 3… with no gap and no repeat.
func checkOrdered(tb testing.TB, who string, msgs []wire.MessageView) {
	tb.Helper()
	last := map[string]int64{}
	for _, m := range msgs {
		if m.Seq != last[m.ConversationID]+1 {
			tb.Errorf("%s: conversation %s: seq %d after %d", who, m.ConversationID, m.Seq, last[m.ConversationID])
		}
		last[m.ConversationID] = m.Seq
	}
}

// MustAgent creates an agent, logs in and connects.
func MustAgent(tb testing.TB, srv *apptest.Server, baseURL, email string, o client.AgentOptions) (*client.Client, *models.Agent) {
	tb.Helper()
	a := srv.CreateAgent(tb, email, "Agent "+email, models.RoleAgent, testPassword)
	return MustDialAgent(tb, srv.URL, baseURL, email, o), a
}

// MustDialAgent logs in at loginURL and connects to baseURL.
func MustDialAgent(tb testing.TB, loginURL, baseURL, email string, o client.AgentOptions) *client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := client.Login(ctx, loginURL, email, testPassword)
	if err != nil {
		tb.Fatalf("login %s: %v", email, err)
	}
	o.AccessToken = tok.AccessToken
	if o.TokenSource == nil {
		o.TokenSource = client.NewRefreshingTokens(loginURL, tok).Token
	}
	c, err := client.DialAgent(ctx, baseURL, o)
	if err != nil {
		tb.Fatalf("dial agent %s: %v", email, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// MustVisitor connects a new shopper.
func MustVisitor(tb testing.TB, baseURL string, o client.VisitorOptions) *client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if o.Lang == "" {
		o.Lang = "en"
	}
	if o.Page.URL == "" {
		o.Page = wire.Page{URL: baseURL + "/cart", Title: "Cart"}
	}
	c, err := client.DialVisitor(ctx, baseURL, o)
	if err != nil {
		tb.Fatalf("dial visitor: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func send(tb testing.TB, c *client.Client, conv, body string) client.Ack {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ack, err := c.Send(ctx, conv, body)
	if err != nil {
		tb.Fatalf("send %q: %v", body, err)
	}
	return ack
}

func fastBackoff() client.Options {
	return client.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
}

var _ = fmt.Sprintf
