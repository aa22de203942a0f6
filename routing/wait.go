package routing

import (
	"context"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Wait is one queued shopper's place and estimated wait. Position is
// their place in line among the conversations waiting for the same agents
// (1 = next). Known is false when Kefu cannot tell the wait (see
// EstimateWaits); Seconds is then 0.
type Wait struct {
	Position int
	Seconds  int
	Known    bool
}

// How handling times are sampled for the wait estimate.
const (
	// handlingRecent is how many recently resolved conversations are read
	// (the store's largest page); each department averages its own among
	// them, at most handlingPerGroup of the newest.
	handlingRecent   = 500
	handlingPerGroup = 50
	// handlingWindow: only conversations resolved this recently count, so
	// that last month's slow week does not speak for today.
	handlingWindow = 7 * 24 * time.Hour
	// handlingTTL is how long the averages are reused before the store is
	// read again (when there are any).
	handlingTTL = 30 * time.Second
)

// handling is the average time from assignment to resolution, per
// department ("" for all conversations whatever their department).
type handling struct {
	avg map[string]time.Duration
	at  time.Time // when computed, by the dispatcher's clock; zero: never
}

// waitCache holds the handling averages between passes.
type waitCache struct {
	mu sync.Mutex
	h  handling
}

// EstimateWaits returns the place in line and estimated wait of each
// conversation of queue (in serve order, as the Notifier gets it), from the
// point of view of the agents who may serve it:
//
//   - its pool is its department's members (every agent when it has none,
//     its department was deleted, or its fallback wait is over), counting
//     only those connected here, online and enabled;
//   - ahead, its Position, is how many conversations before it, itself
//     included, wait for the same pool (its department's, or the whole
//     queue for the shared pool);
//   - free is the pool's free capacity now, slots its total capacity, and
//     avg the average handling time (assignment to resolution) of the
//     department's own recently resolved conversations (every recent
//     conversation for the shared pool).
//
// The first free conversations ahead are served at the next pass (wait 0);
// after that one slot frees up every avg/slots on average, so the wait is
// (ahead − free) × avg ÷ slots, rounded up to a second. It is not known
// (Known false) when the pool has nobody online, when the department has no
// handling history in the last week, or for a manual department, whose
// agents take conversations when they choose.
func (d *Dispatcher) EstimateWaits(ctx context.Context, queue []*models.Conversation) ([]Wait, error) {
	out := make([]Wait, len(queue))
	if len(queue) == 0 {
		return out, nil
	}
	agents, err := d.store.Agents(ctx)
	if err != nil {
		return nil, err
	}
	depts, err := d.departments(ctx)
	if err != nil {
		return nil, err
	}
	now := d.clock.Now()
	avg, err := d.handlingTimes(ctx, now)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	online := make(map[string]bool, len(d.agents))
	for id, p := range d.agents {
		online[id] = p.conns > 0 && p.status == StatusOnline
	}
	d.mu.Unlock()

	type pool struct{ free, slots, ahead int }
	pools := map[string]*pool{}
	poolOf := func(key string, member func(string) bool) *pool {
		if p := pools[key]; p != nil {
			return p
		}
		p := &pool{}
		for _, a := range agents {
			if a.Disabled || !online[a.ID] || !member(a.ID) {
				continue
			}
			c := a.Capacity(d.def)
			p.slots += c
			p.free += max(0, c-a.OpenChats)
		}
		pools[key] = p
		return p
	}
	everyone := func(string) bool { return true }
	for i, c := range queue {
		dept := deptOf(c, depts)
		shared := dept == nil || dept.FallenBack(c.QueuedAt, now)
		avgKey := ""
		var p *pool
		if shared {
			p = poolOf("", everyone)
			p.ahead = i + 1 // the shared pool may serve anything ahead
		} else {
			avgKey = dept.ID
			p = poolOf(dept.ID, dept.HasMember)
			p.ahead++
		}
		out[i].Position = p.ahead
		a, ok := avg[avgKey]
		if !ok || p.slots == 0 || (!shared && dept.Strategy == models.StrategyManual) {
			continue
		}
		out[i] = estimate(p.ahead, p.free, p.slots, a)
	}
	return out, nil
}

// estimate is the wait of the shopper ahead-th in line for a pool with
// free of slots open and an average handling time of avg.
func estimate(ahead, free, slots int, avg time.Duration) Wait {
	if ahead <= free {
		return Wait{Position: ahead, Seconds: 0, Known: true}
	}
	w := time.Duration(ahead-free) * avg / time.Duration(slots)
	return Wait{Position: ahead, Seconds: int((w + time.Second - 1) / time.Second), Known: true}
}

// handlingTimes returns the average handling time per department (and
// "" for all), from the cache when it is younger than handlingTTL.
func (d *Dispatcher) handlingTimes(ctx context.Context, now time.Time) (map[string]time.Duration, error) {
	d.waits.mu.Lock()
	h := d.waits.h
	d.waits.mu.Unlock()
	if !h.at.IsZero() && !now.Before(h.at) && now.Sub(h.at) < handlingTTL {
		return h.avg, nil
	}
	convs, err := d.store.Conversations(ctx, models.ConversationFilter{Statuses: []models.Status{models.StatusResolved}, Limit: handlingRecent})
	if err != nil {
		return nil, err
	}
	type acc struct {
		sum time.Duration
		n   int
	}
	sums := map[string]*acc{}
	add := func(key string, dur time.Duration) {
		a := sums[key]
		if a == nil {
			a = &acc{}
			sums[key] = a
		}
		if a.n < handlingPerGroup {
			a.sum += dur
			a.n++
		}
	}
	for _, c := range convs { // newest activity first
		if c.AssignedAt == nil || c.ResolvedAt == nil || !c.ResolvedAt.After(*c.AssignedAt) || now.Sub(*c.ResolvedAt) > handlingWindow {
			continue
		}
		dur := c.ResolvedAt.Sub(*c.AssignedAt)
		add("", dur)
		if c.DepartmentID != nil {
			add(*c.DepartmentID, dur)
		}
	}
	avg := make(map[string]time.Duration, len(sums))
	for k, a := range sums {
		avg[k] = a.sum / time.Duration(a.n)
	}
	if len(avg) > 0 {
		// With no history at all nothing is kept, so the first
		// conversation resolved shows in the very next estimate.
		d.waits.mu.Lock()
		d.waits.h = handling{avg: avg, at: now}
		d.waits.mu.Unlock()
	}
	return avg, nil
}
