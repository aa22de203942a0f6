package routing_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/routing"
)

const grace = time.Minute

// newDispatcher returns a dispatcher on s with a fake clock at t0.
func newDispatcher(t *testing.T, s models.Store) (*routing.Dispatcher, *checkingNotifier, *routing.FakeClock) {
	t.Helper()
	clock := routing.NewFakeClock(t0)
	n := newNotifier(t, s)
	d := routing.New(s, n, routing.Options{Clock: clock, DefaultMaxChats: 3, GracePeriod: grace})
	t.Cleanup(func() { d.Close() })
	return d, n, clock
}

func TestDispatcher(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Run("second shopper waits for the cap, then gets the agent", func(t *testing.T) {
				s := kind.open(t)
				d, n, _ := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 1)
				d.AgentConnected(a.ID)
				c1 := MustShopper(t, s, t0)
				c2 := MustShopper(t, s, t0.Add(time.Second))

				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c1.ID)); got != a.ID {
					t.Errorf("first shopper's agent = %q, want %q", got, a.ID)
				}
				if got := MustConversation(t, s, c2.ID).Status; got != models.StatusQueued {
					t.Errorf("second shopper's status = %s, want queued", got)
				}
				expectEvents(t, n, assignedEvent(c1, a), queueEvent(c2))

				MustStep(t, d) // nothing changed: nothing to say
				expectEvents(t, n)

				if _, err := s.ResolveConversation(context.Background(), c1.ID, t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c2.ID)); got != a.ID {
					t.Errorf("second shopper's agent after resolve = %q, want %q", got, a.ID)
				}
				expectEvents(t, n, assignedEvent(c2, a), queueEvent())
			})

			t.Run("queue is served in order while capacity lasts", func(t *testing.T) {
				s := kind.open(t)
				d, n, _ := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 2)
				b := MustAgent(t, s, "bob", 1)
				d.AgentConnected(a.ID)
				d.AgentConnected(b.ID)
				var cs []*models.Conversation
				for i := range 5 {
					// Created out of order: the queue is by QueuedAt.
					cs = append(cs, MustShopper(t, s, t0.Add(time.Duration(5-i)*time.Second)))
				}
				MustStep(t, d)
				// Queue order is cs[4], cs[3], ...; a (0/2) and b (0/1)
				// tie at load 0 and both never assigned: ID decides, then
				// load ratio (a 1/2 vs b 0/1 → b), then a.
				first, second := a, b
				if b.ID < a.ID {
					first, second = b, a
				}
				third := a
				want := map[string]string{cs[4].ID: first.ID, cs[3].ID: second.ID, cs[2].ID: third.ID, cs[1].ID: "", cs[0].ID: ""}
				for id, wantAgent := range want {
					if got := agentOf(MustConversation(t, s, id)); got != wantAgent {
						t.Errorf("conversation %s agent = %q, want %q", id, got, wantAgent)
					}
				}
				expectEvents(t, n, assignedEvent(cs[4], first), assignedEvent(cs[3], second), assignedEvent(cs[2], third), queueEvent(cs[1], cs[0]))
			})

			t.Run("nobody online: stays queued until an agent connects", func(t *testing.T) {
				s := kind.open(t)
				d, n, _ := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 0)
				c := MustShopper(t, s, t0)
				MustStep(t, d)
				if got := MustConversation(t, s, c.ID).Status; got != models.StatusQueued {
					t.Errorf("status with nobody online = %s, want queued", got)
				}
				expectEvents(t, n, queueEvent(c))

				d.AgentConnected(a.ID)
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c.ID)); got != a.ID {
					t.Errorf("agent after connect = %q, want %q", got, a.ID)
				}
				expectEvents(t, n, assignedEvent(c, a), queueEvent())
			})

			t.Run("away agent keeps chats, gets none new", func(t *testing.T) {
				s := kind.open(t)
				d, n, _ := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 0)
				d.AgentConnected(a.ID)
				c1 := MustShopper(t, s, t0)
				MustStep(t, d)
				n.take()
				if err := d.SetStatus(a.ID, routing.StatusAway); err != nil {
					t.Fatal(err)
				}
				c2 := MustShopper(t, s, t0.Add(time.Second))
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c1.ID)); got != a.ID {
					t.Errorf("away agent's chat now with %q, want kept by %q", got, a.ID)
				}
				if got := MustConversation(t, s, c2.ID).Status; got != models.StatusQueued {
					t.Errorf("new chat with only an away agent: %s, want queued", got)
				}
				expectEvents(t, n, queueEvent(c2))
				if err := d.SetStatus(a.ID, routing.StatusOnline); err != nil {
					t.Fatal(err)
				}
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c2.ID)); got != a.ID {
					t.Errorf("after back online: agent %q, want %q", got, a.ID)
				}
			})

			t.Run("grace period", func(t *testing.T) {
				s := kind.open(t)
				ctx := context.Background()
				d, n, clock := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 0)
				b := MustAgent(t, s, "bob", 0)
				d.AgentConnected(a.ID)
				c := MustShopper(t, s, t0)
				MustStep(t, d)
				d.AgentConnected(b.ID)
				n.take()

				d.AgentDisconnected(a.ID)
				clock.Advance(grace - time.Second)
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c.ID)); got != a.ID {
					t.Fatalf("within grace: agent %q, want still %q", got, a.ID)
				}
				expectEvents(t, n)

				d.AgentConnected(a.ID) // back in time: the timer is cancelled
				clock.Advance(3 * grace)
				MustStep(t, d)
				if got := agentOf(MustConversation(t, s, c.ID)); got != a.ID {
					t.Fatalf("after reconnect: agent %q, want still %q", got, a.ID)
				}
				expectEvents(t, n)

				d.AgentDisconnected(a.ID)
				clock.Advance(grace)
				if got, want := d.Presence(a.ID), (routing.Presence{Status: routing.StatusOffline}); got != want {
					t.Errorf("presence after grace = %+v, want %+v", got, want)
				}
				MustStep(t, d)
				got := MustConversation(t, s, c.ID)
				if agentOf(got) != b.ID {
					t.Errorf("after grace: agent %q, want %q", agentOf(got), b.ID)
				}
				if !got.QueuedAt.Equal(c.QueuedAt) {
					t.Errorf("QueuedAt after requeue = %v, want the original %v", got.QueuedAt, c.QueuedAt)
				}
				expectEvents(t, n, "requeued "+c.ID+" "+a.ID+" "+routing.ReasonAgentOffline, assignedEvent(c, b))
				if ag, _ := s.Agent(ctx, a.ID); ag.OpenChats != 0 {
					t.Errorf("departed agent's OpenChats = %d, want 0", ag.OpenChats)
				}
				recs, err := s.Assignments(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != 2 || recs[0].AgentID != a.ID || recs[1].AgentID != b.ID {
					t.Errorf("assignment records: %+v, want ann then bob", recs)
				}
			})

			t.Run("requeued chat goes back to the head of the queue", func(t *testing.T) {
				s := kind.open(t)
				d, n, clock := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 1)
				d.AgentConnected(a.ID)
				c1 := MustShopper(t, s, t0)
				MustStep(t, d)
				expectEvents(t, n, assignedEvent(c1, a), queueEvent())
				c2 := MustShopper(t, s, t0.Add(time.Second))
				d.AgentDisconnected(a.ID)
				clock.Advance(grace)
				MustStep(t, d)
				expectEvents(t, n, "requeued "+c1.ID+" "+a.ID+" "+routing.ReasonAgentOffline, queueEvent(c1, c2))
			})

			t.Run("after a restart, absent agents get the grace period", func(t *testing.T) {
				s := kind.open(t)
				d, _, _ := newDispatcher(t, s)
				a := MustAgent(t, s, "ann", 0)
				b := MustAgent(t, s, "bob", 0)
				d.AgentConnected(a.ID)
				d.AgentConnected(b.ID)
				ca := MustShopper(t, s, t0)
				cb := MustShopper(t, s, t0.Add(time.Second))
				MustStep(t, d)
				d.Close()
				if agentOf(MustConversation(t, s, ca.ID)) == agentOf(MustConversation(t, s, cb.ID)) {
					t.Fatal("least-busy gave both chats to one agent")
				}
				holder := func(c *models.Conversation) string { return agentOf(MustConversation(t, s, c.ID)) }
				back, absent := holder(cb), holder(ca) // back comes back in time

				d2, n2, clock := newDispatcher(t, s)
				if err := d2.Recover(context.Background()); err != nil {
					t.Fatal(err)
				}
				clock.Advance(grace / 2)
				d2.AgentConnected(back)
				MustStep(t, d2)
				if got := holder(ca); got != absent {
					t.Errorf("within grace: absent agent's chat with %q, want still %q", got, absent)
				}
				n2.take()
				clock.Advance(grace)
				MustStep(t, d2)
				if got := holder(cb); got != back {
					t.Errorf("returning agent's chat now with %q, want %q", got, back)
				}
				if got := holder(ca); got != back {
					t.Errorf("absent agent's chat now with %q, want requeued to %q", got, back)
				}
				expectEvents(t, n2, "requeued "+ca.ID+" "+absent+" "+routing.ReasonAgentOffline, assignedEvent(ca, &models.Agent{ID: back}))
			})
		})
	}
}

// interferingStore is a real store that lets a test act between a pass's
// reading and its first assignment, as another dispatcher would.
type interferingStore struct {
	models.Store
	before func()
}

func (s *interferingStore) AssignConversation(ctx context.Context, a models.Assignment) (*models.Conversation, error) {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Store.AssignConversation(ctx, a)
}

// TestStaleView checks what a pass does when the store refuses because
// someone changed things after the pass read them.
func TestStaleView(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) {
			tests := []struct {
				name string
				// interfere runs just before the first assignment; c1 and
				// c2 are queued, first is the agent the pass picks first.
				interfere   func(t *testing.T, s models.Store, c1, other *models.Conversation, first *models.Agent)
				wantC1      string // "first", "second" or "" (not assigned by us)
				wantRefused string // the code recorded in c1's reason
			}{
				{
					name: "agent filled elsewhere: next candidate",
					interfere: func(t *testing.T, s models.Store, _, other *models.Conversation, first *models.Agent) {
						if _, err := s.AssignConversation(ctx, models.Assignment{ConversationID: other.ID, AgentID: first.ID, Capacity: 1, Now: t0}); err != nil {
							t.Fatal(err)
						}
					},
					wantC1: "second", wantRefused: string(models.ECAPACITY),
				},
				{
					name: "agent disabled meanwhile: next candidate",
					interfere: func(t *testing.T, s models.Store, _, _ *models.Conversation, first *models.Agent) {
						yes := true
						if _, err := s.UpdateAgent(ctx, first.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
							t.Fatal(err)
						}
					},
					wantC1: "second", wantRefused: string(models.EFORBIDDEN),
				},
				{
					name: "conversation taken meanwhile: skipped",
					interfere: func(t *testing.T, s models.Store, c1, _ *models.Conversation, _ *models.Agent) {
						if _, err := s.ResolveConversation(ctx, c1.ID, t0); err != nil {
							t.Fatal(err)
						}
					},
					wantC1: "",
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					real := kind.open(t)
					a := MustAgent(t, real, "ann", 1)
					b := MustAgent(t, real, "bob", 1)
					first, second := a, b
					if b.ID < a.ID {
						first, second = b, a
					}
					c1 := MustShopper(t, real, t0)
					other := MustShopper(t, real, t0.Add(time.Hour)) // behind c1
					s := &interferingStore{Store: real}
					s.before = func() { tt.interfere(t, real, c1, other, first) }
					n := newNotifier(t, real)
					d := routing.New(s, n, routing.Options{Clock: routing.NewFakeClock(t0), DefaultMaxChats: 1})
					defer d.Close()
					d.AgentConnected(a.ID)
					d.AgentConnected(b.ID)
					MustStep(t, d)

					got := MustConversation(t, real, c1.ID)
					want := map[string]string{"first": first.ID, "second": second.ID, "": ""}[tt.wantC1]
					if agentOf(got) != want {
						t.Errorf("c1 agent = %q, want %q", agentOf(got), want)
					}
					for _, ag := range []*models.Agent{a, b} {
						fresh, _ := real.Agent(ctx, ag.ID)
						if fresh.OpenChats > 1 {
							t.Errorf("agent %s holds %d chats, cap 1", ag.Name, fresh.OpenChats)
						}
					}
					recs, err := real.Assignments(ctx, c1.ID)
					if err != nil {
						t.Fatal(err)
					}
					if want == "" {
						if len(recs) != 0 {
							t.Errorf("resolved conversation has %d assignment records, want 0", len(recs))
						}
						return
					}
					if len(recs) != 1 {
						t.Fatalf("%d assignment records, want 1", len(recs))
					}
					var reason struct {
						Strategy string `json:"strategy"`
						Agent    string `json:"agent"`
						Refused  []struct{ ID, Why string }
					}
					if err := json.Unmarshal([]byte(recs[0].Reason), &reason); err != nil {
						t.Fatalf("reason %q is not JSON: %v", recs[0].Reason, err)
					}
					if reason.Strategy != routing.StrategyLeastBusy || reason.Agent != want ||
						len(reason.Refused) != 1 || reason.Refused[0].ID != first.ID || reason.Refused[0].Why != tt.wantRefused {
						t.Errorf("reason %s: want agent %s and %s refused for %s", recs[0].Reason, want, first.ID, tt.wantRefused)
					}
				})
			}
		})
	}
}

// failingStore is a real store whose Conversations and Queue fail while
// fail is set, as when the database is briefly unreachable.
type failingStore struct {
	models.Store
	fail bool
}

func (s *failingStore) Conversations(ctx context.Context, f models.ConversationFilter) ([]*models.Conversation, error) {
	if s.fail {
		return nil, models.Errorf(models.EUNAVAILABLE, "database down")
	}
	return s.Store.Conversations(ctx, f)
}

func (s *failingStore) Queue(ctx context.Context) ([]*models.Conversation, error) {
	if s.fail {
		return nil, models.Errorf(models.EUNAVAILABLE, "database down")
	}
	return s.Store.Queue(ctx)
}

// TestExpiryRetried checks that an agent whose grace ran out while the
// database was down is requeued by a later pass, not forgotten.
func TestExpiryRetried(t *testing.T) {
	real := MustSQLite(t)
	s := &failingStore{Store: real}
	clock := routing.NewFakeClock(t0)
	n := newNotifier(t, real)
	d := routing.New(s, n, routing.Options{Clock: clock, GracePeriod: grace})
	defer d.Close()
	a := MustAgent(t, real, "ann", 0)
	d.AgentConnected(a.ID)
	c := MustShopper(t, real, t0)
	MustStep(t, d)
	n.take()

	d.AgentDisconnected(a.ID)
	clock.Advance(grace)
	s.fail = true
	if got, want := models.ErrorCode(d.Step(context.Background())), models.EUNAVAILABLE; got != want {
		t.Errorf("Step with the database down: code %q, want %q", got, want)
	}
	if got := agentOf(MustConversation(t, real, c.ID)); got != a.ID {
		t.Errorf("agent = %q while down, want still %q", got, a.ID)
	}
	s.fail = false
	MustStep(t, d)
	if got := MustConversation(t, real, c.ID).Status; got != models.StatusQueued {
		t.Errorf("status after the database came back = %s, want queued", got)
	}
	expectEvents(t, n, "requeued "+c.ID+" "+a.ID+" "+routing.ReasonAgentOffline, queueEvent(c))
}
