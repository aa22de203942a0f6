package routing_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/routing"
)

// TestRunKick checks that Run makes a pass when kicked, without waiting for
// its safety-net interval (set to an hour here).
func TestRunKick(t *testing.T) {
	s := MustSQLite(t)
	a := MustAgent(t, s, "ann", 1)
	c1 := MustShopper(t, s, t0)
	c2 := MustShopper(t, s, t0.Add(time.Second))

	assigned := make(chan string, 10)
	n := newNotifier(t, s)
	n.onAssigned = func(c *models.Conversation, _ *models.Agent) { assigned <- c.ID }
	d := routing.New(s, n, routing.Options{Interval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()

	wait := func(want string) {
		t.Helper()
		select {
		case got := <-assigned:
			if got != want {
				t.Fatalf("assigned %s, want %s", got, want)
			}
		case <-time.After(20 * time.Second): // failure deadline only
			t.Fatalf("%s was not assigned", want)
		}
	}
	d.AgentConnected(a.ID) // kicks
	wait(c1.ID)
	if _, err := s.ResolveConversation(ctx, c1.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	d.Kick()
	wait(c2.ID)

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; err != nil {
		t.Errorf("Run after Close returned %v, want nil", err)
	}
	d.Close()

	// A second Run on another dispatcher ends with its context.
	d2 := routing.New(s, n, routing.Options{})
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { runErr <- d2.Run(ctx2) }()
	cancel2()
	if err := <-runErr; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel returned %v, want context.Canceled", err)
	}
	d2.Close()
}

// TestRacingDispatchers has two dispatchers on two handles of one SQLite
// file, each stepped from several goroutines, race over a backlog while
// another goroutine resolves chats as soon as they are assigned. No
// conversation may be assigned twice and no agent may go over their cap.
func TestRacingDispatchers(t *testing.T) {
	t.Run("no departments", func(t *testing.T) { raceDispatchers(t, false) })
	// Half the backlog for a round-robin department, half for a
	// least-busy one, each with half the agents: the same guarantees, and
	// every conversation served by a member.
	t.Run("departments", func(t *testing.T) { raceDispatchers(t, true) })
}

func raceDispatchers(t *testing.T, withDepts bool) {
	const (
		nConv     = 200
		nAgents   = 10
		perDisp   = 3 // goroutines calling Step per dispatcher
		passLimit = 2000
	)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k.db")
	s1, s2 := MustSQLiteAt(t, path), MustSQLiteAt(t, path)

	caps := map[string]int{}
	var agents []*models.Agent
	for i := range nAgents {
		a := MustAgent(t, s1, "agent"+string(rune('a'+i)), 1+i%3)
		agents = append(agents, a)
		caps[a.ID] = a.MaxChats
	}
	convs := map[string]bool{}
	deptOf := map[string]*models.Department{} // conversation → department
	var depts []*models.Department
	if withDepts {
		for i, st := range []string{models.StrategyRoundRobin, models.StrategyLeastBusy} {
			d := &models.Department{Name: st, Strategy: st}
			for j := i * nAgents / 2; j < (i+1)*nAgents/2; j++ {
				d.Members = append(d.Members, agents[j].ID)
			}
			if err := s1.CreateDepartment(ctx, d); err != nil {
				t.Fatal(err)
			}
			depts = append(depts, d)
		}
	}
	for i := range nConv {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if !withDepts {
			convs[MustShopper(t, s1, now).ID] = true
			continue
		}
		d := depts[i%2]
		c := MustShopperIn(t, s1, d.ID, now)
		convs[c.ID] = true
		deptOf[c.ID] = d
	}

	var notified sync.Map // conversation ID → *atomic.Int32
	var overCap atomic.Int32
	newD := func(s models.Store) *routing.Dispatcher {
		n := newNotifier(t, s)
		n.onAssigned = func(c *models.Conversation, a *models.Agent) {
			v, _ := notified.LoadOrStore(c.ID, new(atomic.Int32))
			v.(*atomic.Int32).Add(1)
			if a.OpenChats > caps[a.ID] {
				overCap.Add(1)
			}
		}
		d := routing.New(s, n, routing.Options{Clock: routing.NewFakeClock(t0), DefaultMaxChats: 2})
		t.Cleanup(func() { d.Close() })
		for _, a := range agents {
			d.AgentConnected(a.ID)
		}
		return d
	}
	var refusals sync.Map // error code → *atomic.Int32
	count := func(s models.Store) models.Store {
		return &countingStore{Store: s, codes: &refusals}
	}
	ds := []*routing.Dispatcher{newD(count(s1)), newD(count(s2))}

	done := make(chan struct{})
	var passes atomic.Int32
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var stepErrs []error
	for _, d := range ds {
		for range perDisp {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					if passes.Add(1) > passLimit {
						return
					}
					if err := d.Step(ctx); err != nil {
						errMu.Lock()
						stepErrs = append(stepErrs, err)
						errMu.Unlock()
					}
				}
			}()
		}
	}

	// The resolver checks caps against the store's rows, then frees them.
	resolved := 0
	deadline := time.Now().Add(2 * time.Minute) // failure deadline only
	for resolved < nConv && time.Now().Before(deadline) && passes.Load() <= passLimit {
		held, err := s1.Conversations(ctx, models.ConversationFilter{Statuses: []models.Status{models.StatusAssigned}, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, c := range held {
			per[*c.AgentID]++
		}
		for id, n := range per {
			if n > caps[id] {
				t.Errorf("agent %s holds %d chats, cap %d", id, n, caps[id])
			}
		}
		for _, c := range held {
			if _, err := s1.ResolveConversation(ctx, c.ID, time.Now()); err != nil {
				t.Fatalf("resolve: %v", err)
			}
			resolved++
		}
	}
	close(done)
	wg.Wait()

	refusals.Range(func(k, v any) bool {
		t.Logf("store refused %d assignments with %s", v.(*atomic.Int32).Load(), k)
		return true
	})
	t.Logf("%d passes", passes.Load())
	for _, err := range stepErrs {
		t.Errorf("Step: %v", err)
	}
	if resolved != nConv {
		t.Fatalf("only %d of %d conversations were assigned (passes %d)", resolved, nConv, passes.Load())
	}
	for id := range convs {
		recs, err := s1.Assignments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 {
			t.Errorf("conversation %s has %d assignment records, want 1", id, len(recs))
		} else if d := deptOf[id]; d != nil && (!d.HasMember(recs[0].AgentID) || recs[0].Strategy != d.Strategy) {
			t.Errorf("conversation %s of %s went to %s by %s; want a member, by %s", id, d.Name, recs[0].AgentID, recs[0].Strategy, d.Strategy)
		}
		v, ok := notified.Load(id)
		if !ok || v.(*atomic.Int32).Load() != 1 {
			t.Errorf("conversation %s: Assigned notified %v times, want 1", id, v)
		}
	}
	if n := overCap.Load(); n > 0 {
		t.Errorf("%d assignments were notified with the agent over cap", n)
	}
	for _, a := range agents {
		fresh, err := s1.Agent(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.OpenChats != 0 {
			t.Errorf("agent %s OpenChats = %d after all resolved, want 0", a.Name, fresh.OpenChats)
		}
	}
}

// countingStore counts the codes of the store's refusals to assign, to show
// the race test really raced.
type countingStore struct {
	models.Store
	codes *sync.Map
}

func (s *countingStore) AssignConversation(ctx context.Context, a models.Assignment) (*models.Conversation, error) {
	c, err := s.Store.AssignConversation(ctx, a)
	if err != nil {
		v, _ := s.codes.LoadOrStore(models.ErrorCode(err), new(atomic.Int32))
		v.(*atomic.Int32).Add(1)
	}
	return c, err
}
