package routing_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/routing"
)

// timingNotifier records when each conversation's assignment was
// announced.
type timingNotifier struct {
	mu   sync.Mutex
	at   map[string]time.Time
	done chan struct{}
	want int
}

func (n *timingNotifier) Assigned(_ context.Context, c *models.Conversation, _ *models.Agent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.at[c.ID] = time.Now()
	if len(n.at) == n.want {
		close(n.done)
	}
}
func (n *timingNotifier) Requeued(context.Context, *models.Conversation, string, string) {}
func (n *timingNotifier) QueueChanged(context.Context, []*models.Conversation)           {}

// BenchmarkBurst measures, with the dispatcher running (Run, real clock)
// on the memory store with 500 online agents, the time from a shopper's
// first message being stored to the dispatcher announcing its assignment
// (Notifier.Assigned, where the chat service publishes the agent's frame),
// for a burst of 1,000 new conversations sent by 50 goroutines at once.
// It reports the median and the 99th percentile.
func BenchmarkBurst(b *testing.B) {
	const (
		nConv   = 1000
		nAgents = 500
		senders = 50
	)
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := memstore.New()
		n := &timingNotifier{at: map[string]time.Time{}, done: make(chan struct{}), want: nConv}
		d := routing.New(s, n, routing.Options{DefaultMaxChats: 5})
		for j := range nAgents {
			d.AgentConnected(MustAgent(b, s, fmt.Sprintf("agent%04d", j), 0).ID)
		}
		visitors := make([]string, nConv)
		for j := range visitors {
			buf := make([]byte, 32)
			rand.Read(buf)
			v := &models.Visitor{TokenHash: hex.EncodeToString(buf)}
			if err := s.CreateVisitor(context.Background(), v); err != nil {
				b.Fatal(err)
			}
			visitors[j] = v.ID
		}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { defer close(ran); _ = d.Run(ctx) }()
		sent := make([]time.Time, nConv)
		ids := make([]string, nConv)
		b.StartTimer()
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := g; j < nConv; j += senders {
					res, err := s.SendVisitorMessage(context.Background(), models.VisitorMessage{VisitorID: visitors[j], ClientID: "m1", Body: "hi"})
					if err != nil {
						b.Error(err)
						return
					}
					sent[j], ids[j] = time.Now(), res.Conversation.ID
					d.Kick()
				}
			}()
		}
		wg.Wait()
		select {
		case <-n.done:
		case <-time.After(time.Minute):
			b.Fatal("the burst was not assigned within a minute")
		}
		b.StopTimer()
		cancel()
		<-ran
		d.Close()
		n.mu.Lock()
		for j, id := range ids {
			lat = append(lat, max(0, n.at[id].Sub(sent[j])))
		}
		n.mu.Unlock()
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkAssignRoundRobin is BenchmarkAssign for a round-robin
// department holding every agent.
func BenchmarkAssignRoundRobin(b *testing.B) {
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
	dept := &models.Department{Name: "all", Strategy: models.StrategyRoundRobin}
	var agents []*models.Agent
	for j := range nAgents {
		a := MustAgent(b, s, fmt.Sprintf("agent%04d", j), 0)
		agents = append(agents, a)
		dept.Members = append(dept.Members, a.ID)
		d.AgentConnected(a.ID)
	}
	if err := s.CreateDepartment(ctx, dept); err != nil {
		b.Fatal(err)
	}
	for j := range nConv {
		MustShopperIn(b, s, dept.ID, t0.Add(time.Duration(j)*time.Millisecond))
	}
	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Step(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		total += nConv
		for _, a := range agents {
			held, err := s.Conversations(ctx, models.ConversationFilter{AgentID: a.ID, Statuses: []models.Status{models.StatusAssigned}})
			if err != nil {
				b.Fatal(err)
			}
			if len(held) != perCap {
				b.Fatalf("agent %s holds %d, want %d", a.Name, len(held), perCap)
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
