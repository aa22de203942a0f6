// Package bustest is the contract suite for models.Bus. Every
// implementation runs the same checks, so that a MemoryBus, a Redis bus and
// a NATS bus behave alike for the hub:
//
//	func TestBus(t *testing.T) { bustest.Run(t, openTwoHandles) }
//
// open returns two handles that share one transport, as two Kefu instances
// would (for an in-process bus, the same bus twice). The checks use
// deadlines only to fail instead of hanging, never to measure speed.
package bustest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Deadline is how long the suite waits for an event before failing.
const Deadline = 10 * time.Second

// Opener returns two handles on one transport, fresh for each call (a new
// channel or subject prefix), and arranges for them to be closed when t
// ends.
type Opener func(t *testing.T) (a, b models.Bus)

// Run runs the contract checks as subtests of t.
func Run(t *testing.T, open Opener) {
	t.Run("DeliveredUnchangedEverywhere", func(t *testing.T) { testUnchanged(t, open) })
	t.Run("OrderFromOnePublisher", func(t *testing.T) { testOrder(t, open) })
	t.Run("ConcurrentPublishers", func(t *testing.T) { testConcurrent(t, open) })
	t.Run("CancelStopsDelivery", func(t *testing.T) { testCancel(t, open) })
	t.Run("Ping", func(t *testing.T) { testPing(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
}

// Recorder is a handler that keeps what it receives, for waiting on.
type Recorder struct {
	mu     sync.Mutex
	events []models.Event
	notify chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{notify: make(chan struct{}, 1)} }

// Handle is the models.Bus handler.
func (r *Recorder) Handle(e models.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Events returns a copy of what was received so far.
func (r *Recorder) Events() []models.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]models.Event(nil), r.events...)
}

// WaitFor waits until n events have arrived and returns them, failing tb
// after Deadline.
func (r *Recorder) WaitFor(tb testing.TB, n int) []models.Event {
	tb.Helper()
	deadline := time.NewTimer(Deadline)
	defer deadline.Stop()
	for {
		if ev := r.Events(); len(ev) >= n {
			return ev
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			tb.Fatalf("got %d events after %v, want %d", len(r.Events()), Deadline, n)
		}
	}
}

// MustSubscribe subscribes a new Recorder to bus and cancels it when tb ends.
func MustSubscribe(tb testing.TB, bus models.Bus) *Recorder {
	tb.Helper()
	r := NewRecorder()
	cancel, err := bus.Subscribe(r.Handle)
	if err != nil {
		tb.Fatalf("Subscribe: %v", err)
	}
	tb.Cleanup(cancel)
	return r
}

// MustPublish publishes e or fails tb.
func MustPublish(tb testing.TB, bus models.Bus, e models.Event) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	if err := bus.Publish(ctx, e); err != nil {
		tb.Fatalf("Publish(%s): %v", e.Type, err)
	}
}

type numbered struct {
	P int `json:"p"`
	N int `json:"n"`
}

func frame(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func testUnchanged(t *testing.T, open Opener) {
	a, b := open(t)
	onA, onB := MustSubscribe(t, a), MustSubscribe(t, b)
	// Frames as publishers encode them (json.Marshal: compact, HTML
	// characters escaped), with text that transports might mangle.
	events := []models.Event{
		{Type: models.EventMessage, To: models.Audience{Agents: []string{"ag-1", "ag-2"}, Visitors: []string{"v-1"}},
			Frame: frame(t, map[string]any{"type": "message", "body": "你好 <b>&amp;</b> \"quoted\" \\ \u2028 🎉"})},
		{Type: models.EventQueue, To: models.Audience{AllAgents: true}, Frame: frame(t, map[string]any{"type": "queue", "queue": []int{}})},
		{Type: models.EventAnnouncement, To: models.Audience{AllVisitors: true, Admins: true}, Frame: json.RawMessage(`{"type":"announcement","raw":"<&>"}`)},
		{Type: models.EventRevoke, To: models.Audience{Agents: []string{"ag-3"}}},
	}
	for _, e := range events {
		MustPublish(t, a, e)
	}
	// And the other way round: what b publishes reaches a.
	back := models.Event{Type: models.EventPresence, To: models.Audience{Admins: true}, Frame: frame(t, map[string]string{"type": "presence"})}
	MustPublish(t, b, back)

	for name, r := range map[string]*Recorder{"a": onA, "b": onB} {
		got := r.WaitFor(t, len(events)+1)
		if len(got) != len(events)+1 {
			t.Fatalf("subscriber on %s: got %d events, want %d: %+v", name, len(got), len(events)+1, got)
		}
		// a's events are in order; b's one may arrive anywhere among them.
		var fromA []models.Event
		sawBack := false
		for _, e := range got {
			if e.Type == back.Type {
				sawBack = true
				assertSame(t, name, e, back)
				continue
			}
			fromA = append(fromA, e)
		}
		if !sawBack {
			t.Errorf("subscriber on %s never got the event published on b", name)
		}
		for i := range fromA {
			assertSame(t, name, fromA[i], events[i])
		}
	}
}

func assertSame(t *testing.T, where string, got, want models.Event) {
	t.Helper()
	if got.Type != want.Type {
		t.Errorf("on %s: Type = %q, want %q", where, got.Type, want.Type)
	}
	if !reflect.DeepEqual(normal(got.To), normal(want.To)) {
		t.Errorf("on %s: To = %+v, want %+v", where, got.To, want.To)
	}
	if !bytes.Equal(got.Frame, want.Frame) {
		t.Errorf("on %s: Frame = %q, want %q", where, got.Frame, want.Frame)
	}
}

// normal treats empty and nil lists alike: an encoding transport cannot
// tell them apart, and the hub does not either.
func normal(a models.Audience) models.Audience {
	if len(a.Agents) == 0 {
		a.Agents = nil
	}
	if len(a.Visitors) == 0 {
		a.Visitors = nil
	}
	return a
}

func testOrder(t *testing.T, open Opener) {
	a, b := open(t)
	onA, onB := MustSubscribe(t, a), MustSubscribe(t, b)
	const n = 1000
	for i := range n {
		MustPublish(t, a, models.Event{Type: models.EventMessage, To: models.Audience{Visitors: []string{"v"}}, Frame: frame(t, numbered{N: i})})
	}
	for name, r := range map[string]*Recorder{"a": onA, "b": onB} {
		got := r.WaitFor(t, n)
		for i, e := range got {
			var f numbered
			if err := json.Unmarshal(e.Frame, &f); err != nil {
				t.Fatalf("on %s: event %d: %v", name, i, err)
			}
			if f.N != i {
				t.Fatalf("on %s: event %d carries n=%d: order from one publisher not kept", name, i, f.N)
			}
		}
	}
}

func testConcurrent(t *testing.T, open Opener) {
	a, b := open(t)
	onA, onB := MustSubscribe(t, a), MustSubscribe(t, b)
	const publishers, each = 4, 250
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		bus := a
		if p%2 == 1 {
			bus = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				b, _ := json.Marshal(numbered{P: p, N: i})
				if err := bus.Publish(context.Background(), models.Event{Type: models.EventMessage, Frame: b}); err != nil {
					errs <- fmt.Errorf("publisher %d: %w", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for name, r := range map[string]*Recorder{"a": onA, "b": onB} {
		got := r.WaitFor(t, publishers*each)
		next := make([]int, publishers)
		for _, e := range got {
			var f numbered
			if err := json.Unmarshal(e.Frame, &f); err != nil {
				t.Fatalf("on %s: %v", name, err)
			}
			if f.N != next[f.P] {
				t.Fatalf("on %s: publisher %d: got n=%d, want %d", name, f.P, f.N, next[f.P])
			}
			next[f.P]++
		}
	}
}

func testCancel(t *testing.T, open Opener) {
	a, b := open(t)
	stay := MustSubscribe(t, b)
	gone := NewRecorder()
	cancel, err := b.Subscribe(gone.Handle)
	if err != nil {
		t.Fatal(err)
	}
	MustPublish(t, a, models.Event{Type: "before", Frame: json.RawMessage(`{}`)})
	gone.WaitFor(t, 1)
	stay.WaitFor(t, 1)

	cancel()
	cancel() // idempotent
	const after = 50
	for range after {
		MustPublish(t, a, models.Event{Type: "after", Frame: json.RawMessage(`{}`)})
	}
	// stay receiving them all means they went through the transport; by
	// then gone would have had them too if cancel had not worked.
	stay.WaitFor(t, 1+after)
	for _, e := range gone.Events() {
		if e.Type == "after" {
			t.Fatalf("a cancelled subscription received an event published after cancel")
		}
	}
}

func testPing(t *testing.T, open Opener) {
	a, b := open(t)
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	for name, bus := range map[string]models.Bus{"a": a, "b": b} {
		if err := bus.Ping(ctx); err != nil {
			t.Errorf("Ping on %s: %v", name, err)
		}
	}
}

func testClose(t *testing.T, open Opener) {
	a, b := open(t)
	r := MustSubscribe(t, b)
	MustPublish(t, a, models.Event{Type: "x", Frame: json.RawMessage(`{}`)})
	r.WaitFor(t, 1)
	for name, bus := range map[string]models.Bus{"a": a, "b": b} {
		if err := bus.Close(); err != nil {
			t.Errorf("first Close on %s: %v", name, err)
		}
		if err := bus.Close(); err != nil {
			t.Errorf("second Close on %s: %v", name, err)
		}
		if err := bus.Publish(context.Background(), models.Event{Type: "x", Frame: json.RawMessage(`{}`)}); err == nil {
			t.Errorf("Publish on %s after Close: got nil error", name)
		}
		if _, err := bus.Subscribe(func(models.Event) {}); err == nil {
			t.Errorf("Subscribe on %s after Close: got nil error", name)
		}
	}
}
