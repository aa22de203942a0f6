package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/routing"
)

// TestEstimateWaits: each waiting shopper's place and wait come from the
// agents who may serve them (their department's, or everyone), those
// agents' free capacity, and their department's own recent handling times;
// with no history, nobody online, a manual department, or history older
// than a week, the wait is honestly unknown. The fake clock moves the
// history out of the window and the conversations past their fallback.
func TestEstimateWaits(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	clock := routing.NewFakeClock(t0)
	d := routing.New(s, nil, routing.Options{Clock: clock, DefaultMaxChats: 1})
	t.Cleanup(func() { d.Close() })

	ana := MustAgent(t, s, "ana", 1)
	bo := MustAgent(t, s, "bo", 2)
	cai := MustAgent(t, s, "cai", 1)
	dave := MustAgent(t, s, "dave", 1)
	eve := MustAgent(t, s, "eve", 1) // never online
	dept := func(name, strategy string, fallback time.Duration, members ...string) string {
		t.Helper()
		x := &models.Department{Name: name, Strategy: strategy, FallbackAfter: fallback, Members: members}
		if err := s.CreateDepartment(ctx, x); err != nil {
			t.Fatal(err)
		}
		return x.ID
	}
	sales := dept("Sales", models.StrategyLeastBusy, time.Hour, ana.ID, bo.ID)
	returns := dept("Returns", models.StrategyManual, 0, dave.ID)
	gifts := dept("Gifts", models.StrategyLeastBusy, 0, eve.ID)

	// History: conversations handled (assigned → resolved) before t0.
	handled := func(deptID, agentID string, assigned time.Time, took time.Duration) {
		t.Helper()
		var c *models.Conversation
		if deptID == "" {
			c = MustShopper(t, s, assigned)
		} else {
			c = MustShopperIn(t, s, deptID, assigned)
		}
		if _, err := s.AssignConversation(ctx, models.Assignment{ConversationID: c.ID, AgentID: agentID, Capacity: 5, Now: assigned}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResolveConversation(ctx, c.ID, assigned.Add(took)); err != nil {
			t.Fatal(err)
		}
	}
	handled(sales, ana.ID, t0.Add(-3*time.Hour), 10*time.Minute)
	handled(sales, bo.ID, t0.Add(-2*time.Hour), 20*time.Minute)
	handled("", cai.ID, t0.Add(-2*time.Hour), 4*time.Minute)
	handled(returns, dave.ID, t0.Add(-2*time.Hour), 6*time.Minute)
	handled(sales, ana.ID, t0.Add(-9*24*time.Hour), 3*time.Hour) // too old to count

	// Load now: Ana full, Bo one of two.
	for _, a := range []*models.Agent{ana, bo} {
		c := MustShopperIn(t, s, sales, t0.Add(-30*time.Minute))
		if _, err := s.AssignConversation(ctx, models.Assignment{ConversationID: c.ID, AgentID: a.ID, Capacity: 5, Now: t0.Add(-30 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []*models.Agent{ana, bo, cai, dave} {
		d.AgentConnected(a.ID)
	}

	// The queue, in arrival order.
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	s1 := MustShopperIn(t, s, sales, at(1))
	s2 := MustShopperIn(t, s, sales, at(2))
	n1 := MustShopper(t, s, at(3))
	s3 := MustShopperIn(t, s, sales, at(4))
	r1 := MustShopperIn(t, s, returns, at(5))
	g1 := MustShopperIn(t, s, gifts, at(6))
	n2 := MustShopper(t, s, at(7))
	clock.Advance(10 * time.Minute)
	names := map[string]string{s1.ID: "s1", s2.ID: "s2", n1.ID: "n1", s3.ID: "s3", r1.ID: "r1", g1.ID: "g1", n2.ID: "n2"}

	check := func(phase string, want map[string]routing.Wait) {
		t.Helper()
		queue, err := s.Queue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waits, err := d.EstimateWaits(ctx, queue)
		if err != nil {
			t.Fatalf("%s: EstimateWaits: %v", phase, err)
		}
		if len(waits) != len(queue) || len(queue) != len(want) {
			t.Fatalf("%s: %d waits for %d queued; want %d", phase, len(waits), len(queue), len(want))
		}
		for i, c := range queue {
			if got := waits[i]; got != want[c.ID] {
				t.Errorf("%s: %s: %+v; want %+v", phase, names[c.ID], got, want[c.ID])
			}
		}
	}
	// Sales: 3 slots (Ana 1, Bo 2), 1 free, handling 15 min on average:
	// the first is served at once, then one slot frees every 5 min.
	// Everyone else shares all four online agents: 5 slots, 3 free,
	// handling 10 min on average over all four recent conversations.
	// Returns is manual; Gifts has nobody online and no history.
	check("now", map[string]routing.Wait{
		s1.ID: {Position: 1, Seconds: 0, Known: true},
		s2.ID: {Position: 2, Seconds: 300, Known: true},
		n1.ID: {Position: 3, Seconds: 0, Known: true},
		s3.ID: {Position: 3, Seconds: 600, Known: true},
		r1.ID: {Position: 1},
		g1.ID: {Position: 1},
		n2.ID: {Position: 7, Seconds: 480, Known: true},
	})

	// Cai goes away: the shared pool loses a free slot and a slot; the
	// averages are the cached ones.
	if err := d.SetStatus(cai.ID, routing.StatusAway); err != nil {
		t.Fatal(err)
	}
	check("Cai away", map[string]routing.Wait{
		s1.ID: {Position: 1, Seconds: 0, Known: true},
		s2.ID: {Position: 2, Seconds: 300, Known: true},
		n1.ID: {Position: 3, Seconds: 150, Known: true}, // (3-2)×10min/4
		s3.ID: {Position: 3, Seconds: 600, Known: true},
		r1.ID: {Position: 1},
		g1.ID: {Position: 1},
		n2.ID: {Position: 7, Seconds: 750, Known: true}, // (7-2)×10min/4
	})

	// A Sales conversation handled in 40 min: the averages are reused for
	// 30 s, then read again.
	handled(sales, bo.ID, clock.Now().Add(-50*time.Minute), 40*time.Minute)
	cached := map[string]routing.Wait{
		s1.ID: {Position: 1, Seconds: 0, Known: true},
		s2.ID: {Position: 2, Seconds: 300, Known: true},
		n1.ID: {Position: 3, Seconds: 150, Known: true},
		s3.ID: {Position: 3, Seconds: 600, Known: true},
		r1.ID: {Position: 1},
		g1.ID: {Position: 1},
		n2.ID: {Position: 7, Seconds: 750, Known: true},
	}
	check("new history, cached averages", cached)
	clock.Advance(31 * time.Second)
	check("new history, read again", map[string]routing.Wait{
		s1.ID: {Position: 1, Seconds: 0, Known: true},
		s2.ID: {Position: 2, Seconds: 467, Known: true}, // (2-1)×(70min/3)/3
		n1.ID: {Position: 3, Seconds: 240, Known: true}, // (3-2)×16min/4
		s3.ID: {Position: 3, Seconds: 934, Known: true}, // (3-1)×(70min/3)/3
		r1.ID: {Position: 1},
		g1.ID: {Position: 1},
		n2.ID: {Position: 7, Seconds: 1200, Known: true}, // (7-2)×16min/4
	})

	// A week later the history is too old to speak for today, and the
	// Sales conversations have waited past their fallback: they are in
	// line with everyone, by arrival.
	clock.Advance(7 * 24 * time.Hour)
	check("a week later", map[string]routing.Wait{
		s1.ID: {Position: 1}, s2.ID: {Position: 2}, n1.ID: {Position: 3}, s3.ID: {Position: 4},
		r1.ID: {Position: 1}, g1.ID: {Position: 1}, n2.ID: {Position: 7},
	})

	// Fresh history in Sales only: its conversations (all shared now) use
	// the shop-wide average, which that one conversation makes.
	handled(sales, bo.ID, clock.Now().Add(-time.Hour), 8*time.Minute)
	clock.Advance(time.Minute) // past the 30 s reuse of the averages
	check("new history", map[string]routing.Wait{
		s1.ID: {Position: 1, Seconds: 0, Known: true},
		s2.ID: {Position: 2, Seconds: 0, Known: true},
		n1.ID: {Position: 3, Seconds: 120, Known: true}, // 4 slots, 2 free: (3-2)×8min/4
		s3.ID: {Position: 4, Seconds: 240, Known: true},
		r1.ID: {Position: 1},
		g1.ID: {Position: 1},
		n2.ID: {Position: 7, Seconds: 600, Known: true},
	})
}
