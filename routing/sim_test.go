package routing_test

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/routing"
)

var (
	simSeeds  = flag.Int("sim.seeds", 12, "how many seeds TestSimulation runs")
	simSeed   = flag.Uint64("sim.seed", 0, "run TestSimulation for this one seed only (replay a failure)")
	simEvents = flag.Int("sim.events", 1000, "events per seed")
)

// TestSimulation drives the dispatcher with a seeded random stream of
// events — shoppers arriving and leaving, agents connecting, dropping, going
// away, resolving, taking, transferring, changing caps, departments
// changing, priorities raised, time passing — against the in-memory store
// (which passes the same contract suite as SQLite) and a fake clock. After
// every event it makes a pass and, with the dispatcher idle, checks the
// routing rules. A failure names its seed: replay it with
// go test ./routing -run TestSimulation -sim.seed=N.
func TestSimulation(t *testing.T) {
	seeds := make([]uint64, 0, *simSeeds)
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for i := 1; i <= *simSeeds; i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			if err := simulate(seed, *simEvents); err != nil {
				t.Fatalf("seed %d: %v\nreplay: go test ./routing -run TestSimulation -sim.seed=%d", seed, err, seed)
			}
		})
	}
}

// simNotifier records what a pass assigned, to check order and manual
// departments.
type simNotifier struct {
	taking   bool
	assigned []simAssign
}

type simAssign struct {
	conv  *models.Conversation
	agent string
	take  bool
}

func (n *simNotifier) Assigned(_ context.Context, c *models.Conversation, a *models.Agent) {
	n.assigned = append(n.assigned, simAssign{conv: c, agent: a.ID, take: n.taking})
}
func (n *simNotifier) Requeued(context.Context, *models.Conversation, string, string) {}
func (n *simNotifier) QueueChanged(context.Context, []*models.Conversation)           {}

type sim struct {
	ctx     context.Context
	rng     *rand.Rand
	store   *memstore.Store
	clock   *routing.FakeClock
	d       *routing.Dispatcher
	n       *simNotifier
	def     int
	agents  []*models.Agent
	depts   []*models.Department
	convs   []string // every conversation ever opened
	ceiling map[string]int
	step    int
}

func simulate(seed uint64, events int) (err error) {
	ctx := context.Background()
	s := &sim{ctx: ctx, rng: rand.New(rand.NewPCG(seed, seed*7919)), store: memstore.New(),
		clock: routing.NewFakeClock(t0), n: &simNotifier{}, def: 3, ceiling: map[string]int{}}
	opts := routing.Options{Clock: s.clock, DefaultMaxChats: s.def, GracePeriod: 30 * time.Second}
	if seed%2 == 0 {
		opts.UnansweredAfter = 2 * time.Minute
	}
	s.d = routing.New(s.store, s.n, opts)
	defer s.d.Close()
	for i := range 8 {
		a := &models.Agent{Email: fmt.Sprintf("a%d@shop.test", i), Name: fmt.Sprint("A", i), Role: models.RoleAgent,
			PasswordHash: "x", MaxChats: s.rng.IntN(4)}
		if err := s.store.CreateAgent(ctx, a); err != nil {
			return err
		}
		s.agents = append(s.agents, a)
	}
	strategies := []string{models.StrategyLeastBusy, models.StrategyRoundRobin, models.StrategyManual}
	for i, st := range strategies {
		d := &models.Department{Name: "D" + st, Strategy: st, Members: s.someAgents(),
			FallbackAfter: time.Duration(i*30) * time.Second}
		if err := s.store.CreateDepartment(ctx, d); err != nil {
			return err
		}
		s.depts = append(s.depts, d)
	}
	for s.step = 0; s.step < events; s.step++ {
		what, err := s.event()
		if err != nil {
			return fmt.Errorf("event %d (%s): %w", s.step, what, err)
		}
		s.n.assigned = s.n.assigned[:0]
		if err := s.d.Step(ctx); err != nil {
			return fmt.Errorf("event %d (%s): Step: %w", s.step, what, err)
		}
		if err := s.check(); err != nil {
			return fmt.Errorf("after event %d (%s): %w", s.step, what, err)
		}
	}
	return nil
}

func (s *sim) someAgents() []string {
	var out []string
	for _, a := range s.agents {
		if s.rng.IntN(3) == 0 {
			out = append(out, a.ID)
		}
	}
	return out
}

func (s *sim) agent() *models.Agent { return s.agents[s.rng.IntN(len(s.agents))] }

func pick[T any](rng *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rng.IntN(len(xs))], true
}

func (s *sim) open(status models.Status) []*models.Conversation {
	cs, _ := s.store.Conversations(s.ctx, models.ConversationFilter{Statuses: []models.Status{status}, Limit: 500})
	slices.SortFunc(cs, func(a, b *models.Conversation) int { return cmp.Compare(a.ID, b.ID) })
	return cs
}

// tolerated: refusals the rules allow (someone else was faster, the agent
// is full or not allowed, …).
func tolerated(err error) error {
	switch models.ErrorCode(err) {
	case "", models.ECONFLICT, models.ECAPACITY, models.EFORBIDDEN:
		return nil
	}
	return err
}

// event applies one random event and names it.
func (s *sim) event() (string, error) {
	ctx := s.ctx
	switch r := s.rng.IntN(100); {
	case r < 25: // a shopper arrives
		var dept *string
		if d, ok := pick(s.rng, s.depts); ok && s.rng.IntN(4) > 0 {
			dept = &d.ID
		}
		v := &models.Visitor{TokenHash: fmt.Sprintf("%064d", len(s.convs)+1)}
		if err := s.store.CreateVisitor(ctx, v); err != nil {
			return "arrive", err
		}
		res, err := s.store.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m", Body: "hi",
			DepartmentID: dept, Now: s.clock.Now()})
		if err != nil {
			return "arrive", err
		}
		s.convs = append(s.convs, res.Conversation.ID)
		return "arrive", nil
	case r < 32: // a shopper leaves
		c, ok := pick(s.rng, append(s.open(models.StatusQueued), s.open(models.StatusAssigned)...))
		if !ok {
			return "leave (none)", nil
		}
		_, err := s.store.ResolveConversation(ctx, c.ID, s.clock.Now())
		return "leave", tolerated(err)
	case r < 42:
		a := s.agent()
		s.d.AgentConnected(a.ID)
		return "connect " + a.Name, nil
	case r < 50:
		a := s.agent()
		s.d.AgentDisconnected(a.ID)
		return "drop " + a.Name, nil
	case r < 56:
		a := s.agent()
		st := routing.StatusAway
		if s.rng.IntN(2) == 0 {
			st = routing.StatusOnline
		}
		_ = s.d.SetStatus(a.ID, st) // ECONFLICT when not connected
		return fmt.Sprintf("%s %s", st, a.Name), nil
	case r < 66: // an agent resolves one of theirs
		c, ok := pick(s.rng, s.open(models.StatusAssigned))
		if !ok {
			return "resolve (none)", nil
		}
		_, err := s.store.ResolveConversation(ctx, c.ID, s.clock.Now())
		return "resolve", tolerated(err)
	case r < 70: // an agent answers
		c, ok := pick(s.rng, s.open(models.StatusAssigned))
		if !ok {
			return "answer (none)", nil
		}
		_, err := s.store.AppendMessage(ctx, models.NewMessage{ConversationID: c.ID, SenderKind: models.SenderAgent,
			SenderID: *c.AgentID, ClientID: fmt.Sprint("r", s.step), Body: "hello", RequireAgentID: *c.AgentID, Now: s.clock.Now()})
		return "answer", tolerated(err)
	case r < 75: // an agent takes from the queue
		c, ok := pick(s.rng, s.open(models.StatusQueued))
		if !ok {
			return "take (none)", nil
		}
		a := s.agent()
		s.n.taking = true
		_, err := s.d.Take(ctx, c.ID, a.ID)
		s.n.taking = false
		return "take " + a.Name, tolerated(err)
	case r < 80: // a transfer, to a connected agent or a department
		c, ok := pick(s.rng, s.open(models.StatusAssigned))
		if !ok {
			return "transfer (none)", nil
		}
		t := models.Transfer{ConversationID: c.ID, FromAgentID: *c.AgentID, Note: "n", Now: s.clock.Now()}
		if s.rng.IntN(2) == 0 {
			a := s.agent()
			if s.d.Presence(a.ID).Connections == 0 {
				return "transfer (target away)", nil
			}
			t.ToAgentID, t.Capacity = a.ID, s.capOf(a.ID)
		} else {
			d, _ := pick(s.rng, s.depts)
			t.ToDepartmentID = d.ID
		}
		_, _, err := s.store.TransferConversation(ctx, t)
		return "transfer", tolerated(err)
	case r < 84: // an admin changes a cap
		a := s.agent()
		n := s.rng.IntN(5)
		if cur, err := s.store.Agent(ctx, a.ID); err == nil {
			s.ceiling[a.ID] = max(s.ceiling[a.ID], cur.OpenChats)
		}
		_, err := s.store.UpdateAgent(ctx, a.ID, models.AgentUpdate{MaxChats: &n})
		return fmt.Sprintf("cap %s=%d", a.Name, n), err
	case r < 87: // an admin changes a department
		d, _ := pick(s.rng, s.depts)
		members := s.someAgents()
		st := []string{models.StrategyLeastBusy, models.StrategyRoundRobin, models.StrategyManual}[s.rng.IntN(3)]
		fb := time.Duration(s.rng.IntN(3)*20) * time.Second
		_, err := s.store.UpdateDepartment(ctx, d.ID, models.DepartmentUpdate{Members: &members, Strategy: &st, FallbackAfter: &fb})
		return "department " + d.Name, err
	case r < 89: // an admin raises a priority
		c, ok := pick(s.rng, s.open(models.StatusQueued))
		if !ok {
			return "priority (none)", nil
		}
		_, err := s.store.SetPriority(ctx, c.ID, models.PriorityHigh, s.clock.Now())
		return "priority", err
	default: // time passes
		dt := time.Duration(1+s.rng.IntN(40)) * time.Second
		s.clock.Advance(dt)
		return fmt.Sprint("advance ", dt), nil
	}
}

func (s *sim) capOf(agentID string) int {
	a, err := s.store.Agent(s.ctx, agentID)
	if err != nil {
		return 0
	}
	return a.Capacity(s.def)
}

// check verifies the rules with the dispatcher idle.
func (s *sim) check() error {
	ctx := s.ctx
	now := s.clock.Now()
	agents, err := s.store.Agents(ctx)
	if err != nil {
		return err
	}
	deptList, err := s.store.Departments(ctx)
	if err != nil {
		return err
	}
	depts := map[string]*models.Department{}
	for _, d := range deptList {
		depts[d.ID] = d
	}
	deptOf := func(c *models.Conversation) *models.Department {
		if c.DepartmentID == nil {
			return nil
		}
		return depts[*c.DepartmentID]
	}
	// No conversation lost; each assigned one held by exactly one agent,
	// and every agent's counter matches what they hold.
	held := map[string]int{}
	var queued []*models.Conversation
	all := s.open(models.StatusQueued)
	all = append(all, s.open(models.StatusAssigned)...)
	if s.step%50 == 0 || s.step == *simEvents-1 {
		// Every conversation ever opened, now and then (it is slow).
		all = all[:0]
		for _, id := range s.convs {
			c, err := s.store.Conversation(ctx, id)
			if err != nil {
				return fmt.Errorf("conversation %s lost: %v", id, err)
			}
			all = append(all, c)
		}
	}
	for _, c := range all {
		id := c.ID
		switch c.Status {
		case models.StatusQueued:
			if c.AgentID != nil {
				return fmt.Errorf("queued conversation %s has agent %s", id, *c.AgentID)
			}
			queued = append(queued, c)
		case models.StatusAssigned:
			if c.AgentID == nil {
				return fmt.Errorf("assigned conversation %s has no agent", id)
			}
			held[*c.AgentID]++
		case models.StatusResolved:
		default:
			return fmt.Errorf("conversation %s in state %q", id, c.Status)
		}
	}
	free := map[string]bool{}
	for _, a := range agents {
		if a.OpenChats != held[a.ID] {
			return fmt.Errorf("agent %s: OpenChats %d but holds %d", a.Name, a.OpenChats, held[a.ID])
		}
		// Lowering a cap does not take chats away: the agent may hold
		// more than the new cap until they resolve some, never more than
		// they held when it was lowered.
		c := a.Capacity(s.def)
		limit := max(c, s.ceiling[a.ID])
		if a.OpenChats > limit {
			return fmt.Errorf("agent %s holds %d, over their cap %d", a.Name, a.OpenChats, limit)
		}
		s.ceiling[a.ID] = min(s.ceiling[a.ID], a.OpenChats)
		p := s.d.Presence(a.ID)
		if p.Connections == 0 && p.Status == routing.StatusOffline && a.OpenChats > 0 {
			return fmt.Errorf("agent %s is offline past the grace period and still holds %d", a.Name, a.OpenChats)
		}
		free[a.ID] = !a.Disabled && p.Connections > 0 && p.Status == routing.StatusOnline && a.OpenChats < c
	}
	// Nothing waits while an eligible agent has room (automatic
	// strategies).
	for _, c := range queued {
		dept := deptOf(c)
		if dept != nil && dept.Strategy == models.StrategyManual {
			continue
		}
		fell := dept != nil && dept.FallenBack(c.QueuedAt, now)
		for _, a := range agents {
			if free[a.ID] && routing.Eligible(a.ID, dept, fell) {
				return fmt.Errorf("conversation %s (dept %v) waits while %s is eligible with room", c.ID, deptName(dept), a.Name)
			}
		}
	}
	// Order, and manual departments: what the pass assigned.
	key := func(c *models.Conversation) string {
		return fmt.Sprintf("%d|%s|%s", 1-int(c.Priority), c.QueuedAt.Format(time.RFC3339Nano), c.ID)
	}
	for _, as := range s.n.assigned {
		if as.take {
			continue
		}
		c := as.conv
		dept := deptOf(c)
		if dept != nil && dept.Strategy == models.StrategyManual {
			return fmt.Errorf("conversation %s of manual department %s assigned to %s without a take", c.ID, dept.Name, as.agent)
		}
		fell := dept != nil && dept.FallenBack(c.QueuedAt, now)
		if !routing.Eligible(as.agent, dept, fell) {
			return fmt.Errorf("conversation %s of %s given to non-member %s before its fallback", c.ID, deptName(dept), as.agent)
		}
		for _, q := range queued {
			if deptName(deptOf(q)) != deptName(dept) || strings.Compare(key(q), key(c)) >= 0 {
				continue
			}
			if routing.Eligible(as.agent, dept, dept != nil && dept.FallenBack(q.QueuedAt, now)) {
				return fmt.Errorf("conversation %s was assigned to %s before %s, which is ahead in the queue", c.ID, as.agent, q.ID)
			}
		}
	}
	return nil
}

func deptName(d *models.Department) string {
	if d == nil {
		return "(none)"
	}
	return d.Name
}
