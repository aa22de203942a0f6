package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models"
)

// BenchmarkRoundTrip measures the time from a shopper's Send to the agent's
// client delivering the message, on three kefu processes sharing one
// PostgreSQL schema and a Redis bus (docs/benchmarks.md):
//
//   - pair/same: one shopper and one agent on the same instance;
//   - pair/cross: the shopper on one instance, the agent on another;
//   - load/one: 30 shoppers and 6 agents all on one instance;
//   - load/three: the same spread over the three instances.
//
// Run: go test -run '^$' -bench RoundTrip -benchtime 1x ./internal/cluster/
func BenchmarkRoundTrip(b *testing.B) {
	busURL := testenv.Redis(b)
	for _, sc := range []struct {
		name               string
		shoppers, agents   int
		shopAt, agentAt    func(i int) int
		messagesPerShopper int
	}{
		{"pair/same", 1, 1, func(int) int { return 0 }, func(int) int { return 0 }, 300},
		{"pair/cross", 1, 1, func(int) int { return 0 }, func(int) int { return 1 }, 300},
		{"load/one", 30, 6, func(int) int { return 0 }, func(int) int { return 0 }, 40},
		{"load/three", 30, 6, func(i int) int { return i % 3 }, func(i int) int { return (i + 1) % 3 }, 40},
	} {
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				lat, took := roundTrips(b, busURL, sc.shoppers, sc.agents, sc.shopAt, sc.agentAt, sc.messagesPerShopper)
				slices.Sort(lat)
				q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
				b.ReportMetric(q(0.5), "p50-ms")
				b.ReportMetric(q(0.99), "p99-ms")
				b.ReportMetric(float64(len(lat))/took.Seconds(), "msgs/s")
			}
		})
	}
}

func roundTrips(b *testing.B, busURL string, shoppers, agents int, shopAt, agentAt func(int) int, per int) ([]time.Duration, time.Duration) {
	b.StopTimer()
	dsn := freshSchema(b)
	env := clusterEnv(b, dsn, busURL)
	// The flood limit (and the client's pacing under it) would measure
	// pacing, not Kefu: lift both.
	env = append(env, fmt.Sprintf("KEFU_DEFAULT_MAX_CHATS=%d", (shoppers+agents-1)/agents+1),
		"KEFU_FRAMES_PER_SECOND=10000", "KEFU_FRAME_BURST=10000")
	fast := client.Options{FramesPerSecond: 10000, FrameBurst: 10000}
	addAgent(b, env, "boss@shop.test", "admin")
	for i := range agents {
		addAgent(b, env, fmt.Sprintf("a%d@shop.test", i), "agent")
	}
	ks := make([]*instance, 3)
	for i := range ks {
		ks[i] = startInstance(b, fmt.Sprintf("kefu%d", i), env)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	var lat []time.Duration
	got := make(chan struct{}, shoppers*per+shoppers)
	for i := range agents {
		c := dialAgent(b, ks[agentAt(i)], fmt.Sprintf("a%d@shop.test", i), client.Options{EventBuffer: 4096, FramesPerSecond: 10000, FrameBurst: 10000})
		go func() {
			for ev := range c.Events() {
				if ev.Kind != client.EventMessage || ev.Message.SenderKind != models.SenderVisitor {
					continue
				}
				now := time.Now()
				mu.Lock()
				if t0, ok := sentAt[ev.Message.Body]; ok {
					lat = append(lat, now.Sub(t0))
					delete(sentAt, ev.Message.Body)
					got <- struct{}{}
				}
				mu.Unlock()
			}
		}()
	}
	shops := make([]*client.Client, shoppers)
	convs := make([]string, shoppers)
	for i := range shops {
		shops[i] = dialShopper(b, ks[shopAt(i)], fast)
		go func(c *client.Client) { // the echo of its own lines; unread, the client would stall
			for range c.Events() {
			}
		}(shops[i])
		ack, err := shops[i].Send(ctx, "", fmt.Sprintf("s%d hello", i))
		if err != nil {
			b.Fatal(err)
		}
		convs[i] = ack.ConversationID
	}
	// Warm up: every conversation assigned and its opening line delivered.
	time.Sleep(time.Second)
	mu.Lock()
	lat = nil
	mu.Unlock()
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range shops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range per {
				body := fmt.Sprintf("s%d m%d", i, j)
				mu.Lock()
				sentAt[body] = time.Now()
				mu.Unlock()
				if _, err := s.Send(ctx, convs[i], body); err != nil {
					b.Error(err)
					return
				}
				select { // one message in flight per shopper: a round trip each
				case <-got:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) < shoppers*per {
		b.Fatalf("%d of %d messages reached an agent", len(lat), shoppers*per)
	}
	return slices.Clone(lat), took
}
