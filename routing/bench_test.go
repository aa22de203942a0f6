package routing_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/routing"
)

// BenchmarkAssign measures one pass over a backlog of 10,000 queued
// conversations with 500 online agents whose caps (20 each) take it all,
// on the memory store, and reports assignments per second. The backlog is
// built once and requeued between passes, untimed.
func BenchmarkAssign(b *testing.B) {
	const (
		nConv   = 10000
		nAgents = 500
		perCap  = 20
	)
	ctx := context.Background()
	s := memstore.New()
	clock := routing.NewFakeClock(t0)
	d := routing.New(s, nil, routing.Options{Clock: clock, DefaultMaxChats: perCap})
	defer d.Close()
	var agents []*models.Agent
	for j := range nAgents {
		a := MustAgent(b, s, fmt.Sprintf("agent%04d", j), 0)
		agents = append(agents, a)
		d.AgentConnected(a.ID)
	}
	for j := range nConv {
		MustShopper(b, s, t0.Add(time.Duration(j)*time.Millisecond))
	}
	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Step(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total += nConv
		// Every agent full, nothing left queued: the pass did it all.
		for _, a := range agents {
			held, err := s.Conversations(ctx, models.ConversationFilter{AgentID: a.ID, Statuses: []models.Status{models.StatusAssigned}})
			if err != nil {
				b.Fatal(err)
			}
			if len(held) != perCap {
				b.Fatalf("agent %s holds %d, want %d: least-busy fills evenly", a.Name, len(held), perCap)
			}
			for _, c := range held {
				if _, err := s.RequeueConversation(ctx, c.ID, a.ID, clock.Now()); err != nil {
					b.Fatal(err)
				}
			}
		}
		clock.Advance(time.Second)
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "assignments/s")
}
