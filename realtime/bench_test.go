package realtime_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
)

// discardSocket accepts every write and counts the data frames in a
// counter shared by all sockets, signalling when it reaches its target.
type discardSocket struct{ c *writeCounter }

type writeCounter struct {
	writes, target atomic.Int64
	reached        chan struct{}
}

func (d discardSocket) WriteMessage(int, []byte) error {
	if d.c.writes.Add(1) == d.c.target.Load() {
		d.c.reached <- struct{}{}
	}
	return nil
}
func (discardSocket) WriteControl(int, []byte, time.Time) error { return nil }
func (discardSocket) SetWriteDeadline(time.Time) error          { return nil }
func (discardSocket) Close() error                              { return nil }

// BenchmarkDeliverFanout measures delivering one event to 10,000 visitor
// connections: resolving the audience, queueing the shared frame for each,
// and their writers taking it off the queue and writing it. Each iteration
// waits until all 10,000 writes are done, so no queue ever overflows and
// ns/op is the whole fan-out.
func BenchmarkDeliverFanout(b *testing.B) {
	const conns = 10_000
	counter := &writeCounter{reached: make(chan struct{}, 1)}
	var slow atomic.Int64
	hub := realtime.NewHub(realtime.Options{
		PingInterval: -1,
		OnSlowClient: func(realtime.Identity) { slow.Add(1) },
	})
	cs := make([]*realtime.Conn, conns)
	for i := range cs {
		cs[i] = hub.Register(realtime.Identity{Kind: realtime.KindVisitor, ID: strconv.Itoa(i)}, discardSocket{counter})
	}
	b.Cleanup(func() {
		for _, c := range cs {
			hub.Unregister(c)
		}
	})
	e := models.Event{Type: models.EventAnnouncement, To: models.Audience{AllVisitors: true}, Frame: []byte(`{"type":"announcement","text":"sale: 20% off today"}`)}
	// deliver-ns/op is the part spent in the Deliver call (resolving and
	// enqueueing), which is what a bus handler waits for.
	var inDeliver time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		counter.target.Store(int64(i * conns))
		start := time.Now()
		hub.Deliver(e)
		inDeliver += time.Since(start)
		select {
		case <-counter.reached:
		case <-time.After(time.Minute):
			b.Fatalf("only %d of %d writes after a minute", counter.writes.Load(), i*conns)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(inDeliver.Nanoseconds())/float64(b.N), "deliver-ns/op")
	if n := slow.Load(); n > 0 {
		b.Fatalf("%d connections were cut off as slow during the benchmark", n)
	}
}
