package realtime_test

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/realtime"
)

// recordingSocket records what is written to it. While gate is set, each
// data write first announces itself on entered and then waits for gate,
// like a socket whose peer does not read.
type recordingSocket struct {
	mu      sync.Mutex
	frames  []string
	closes  []int // close codes of the close frames written
	pings   int
	closed  bool
	gate    chan struct{}
	entered chan struct{}
}

func (s *recordingSocket) WriteMessage(_ int, b []byte) error {
	if s.gate != nil {
		s.entered <- struct{}{}
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(b))
	return nil
}

func (s *recordingSocket) WriteControl(t int, b []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch t {
	case realtime.CloseMessage:
		s.closes = append(s.closes, int(b[0])<<8|int(b[1]))
	case realtime.PingMessage:
		s.pings++
	}
	return nil
}

func (s *recordingSocket) SetWriteDeadline(time.Time) error { return nil }

func (s *recordingSocket) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *recordingSocket) snapshot() (frames []string, closes []int, pings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.frames...), append([]int(nil), s.closes...), s.pings
}

// waitFor polls cond until it holds; the deadline only turns a hang into a
// failure.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// An idle connection keeps no goroutine: the writer runs while frames are
// due and exits when they are written, and comes back for the next ones,
// which arrive in order.
func TestIdleConnectionsHoldNoWriter(t *testing.T) {
	const conns = 200
	hub := MustNewHub(t, realtime.Options{PingInterval: -1})
	before := runtime.NumGoroutine()
	socks := make([]*recordingSocket, conns)
	cs := make([]*realtime.Conn, conns)
	for i := range cs {
		socks[i] = &recordingSocket{}
		cs[i] = hub.Register(realtime.Identity{Kind: realtime.KindVisitor, ID: strconv.Itoa(i)}, socks[i])
	}
	t.Cleanup(func() {
		for _, c := range cs {
			hub.Unregister(c)
		}
	})
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Fatalf("%d goroutines after registering %d idle connections, want about %d", n, conns, before)
	}
	var want []string
	for round := range 3 {
		frame := fmt.Sprint("round ", round)
		want = append(want, frame)
		hub.Deliver(models.Event{Type: models.EventAnnouncement, To: models.Audience{AllVisitors: true}, Frame: []byte(frame)})
		waitFor(t, "every connection to have the frame", func() bool {
			for _, s := range socks {
				if f, _, _ := s.snapshot(); len(f) < len(want) {
					return false
				}
			}
			return true
		})
		// The writers exit once their queue is empty.
		waitFor(t, "the writers to exit", func() bool { return runtime.NumGoroutine() <= before+5 })
	}
	for i, s := range socks {
		if f, _, _ := s.snapshot(); fmt.Sprint(f) != fmt.Sprint(want) {
			t.Fatalf("connection %d got %q, want %q", i, f, want)
		}
	}
}

// The bound is SendQueue frames waiting, whether or not the queue has
// been allocated yet: one more cuts the connection off, without writing
// what waits, with wire.CloseSlowClient.
func TestSendQueueBoundCutsOffSlowClient(t *testing.T) {
	for _, queue := range []int{1, 4, 256} {
		t.Run(strconv.Itoa(queue), func(t *testing.T) {
			var cut atomic.Int64
			hub := MustNewHub(t, realtime.Options{SendQueue: queue, PingInterval: -1, CloseTimeout: time.Millisecond,
				OnSlowClient: func(realtime.Identity) { cut.Add(1) }})
			s := &recordingSocket{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			c := hub.Register(realtime.Identity{Kind: realtime.KindVisitor, ID: "slow"}, s)
			t.Cleanup(func() { hub.Unregister(c) })

			if !c.Send([]byte("first")) {
				t.Fatal("Send of the first frame returned false")
			}
			<-s.entered // the writer holds "first" and is stuck writing it
			for i := range queue {
				if !c.Send([]byte(strconv.Itoa(i))) {
					t.Fatalf("Send of waiting frame %d of %d returned false", i+1, queue)
				}
			}
			if cut.Load() != 0 {
				t.Fatal("cut off before the queue was over its bound")
			}
			if c.Send([]byte("one too many")) {
				t.Fatal("Send beyond SendQueue returned true")
			}
			if cut.Load() != 1 {
				t.Fatalf("OnSlowClient called %d times, want 1", cut.Load())
			}
			if v, _ := hub.Counts(); v != 0 {
				t.Errorf("Counts() = %d visitors after the cut-off, want 0", v)
			}
			close(s.gate) // the peer reads again
			select {
			case <-c.Done():
			case <-time.After(deadline):
				t.Fatal("the connection did not end after its close frame")
			}
			frames, closes, _ := s.snapshot()
			if fmt.Sprint(frames) != "[first]" {
				t.Errorf("frames written = %q, want only the one in progress", frames)
			}
			if fmt.Sprint(closes) != fmt.Sprint([]int{wire.CloseSlowClient}) {
				t.Errorf("close frames = %v, want [%d]", closes, wire.CloseSlowClient)
			}
		})
	}
}

// Pings keep coming on an idle connection, each written by a writer that
// the ping timer starts. (TestSocketUntouchedAfterUnregister checks that
// none comes after Unregister.)
func TestIdleConnectionKeepsPinging(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{PingInterval: 5 * time.Millisecond})
	s := &recordingSocket{}
	c := hub.Register(realtime.Identity{Kind: realtime.KindVisitor, ID: "V"}, s)
	t.Cleanup(func() { hub.Unregister(c) })
	waitFor(t, "three pings", func() bool { _, _, p := s.snapshot(); return p >= 3 })
}
