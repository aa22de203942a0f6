package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/routing"
)

// instance is one simulated Kefu instance: a dispatcher and its shared
// presence, on a store and a clock shared with the others.
type instance struct {
	d *routing.Dispatcher
	p *routing.SharedPresence
}

func newInstance(t *testing.T, s models.Store, c *routing.FakeClock, id string, grace time.Duration) instance {
	t.Helper()
	d := routing.New(s, nil, routing.Options{Clock: c, GracePeriod: grace})
	t.Cleanup(func() { d.Close() })
	p, err := routing.NewSharedPresence(d, s, routing.SharedPresenceOptions{InstanceID: id, Clock: c, Heartbeat: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return instance{d, p}
}

func mustSync(t *testing.T, is ...instance) {
	t.Helper()
	for _, i := range is {
		if err := i.p.Sync(context.Background()); err != nil {
			t.Fatalf("Sync %s: %v", i.p.InstanceID(), err)
		}
	}
}

func TestSharedPresence(t *testing.T) {
	const grace = 10 * time.Second
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			setup := func(t *testing.T) (models.Store, *routing.FakeClock, instance, instance, *models.Agent) {
				s := sk.open(t)
				c := routing.NewFakeClock(t0)
				a, b := newInstance(t, s, c, "A", grace), newInstance(t, s, c, "B", grace)
				agent := MustAgent(t, s, "ann", 0)
				return s, c, a, b, agent
			}

			t.Run("an agent connected to A is offered B's queue", func(t *testing.T) {
				s, _, a, b, agent := setup(t)
				a.d.AgentConnected(agent.ID)
				conv := MustShopper(t, s, t0)
				MustStep(t, b.d) // before any heartbeat B knows nobody
				if got := agentOf(MustConversation(t, s, conv.ID)); got != "" {
					t.Fatalf("assigned to %q before B heard of the agent", got)
				}
				mustSync(t, a, b)
				if got := b.d.Presence(agent.ID); got.Status != routing.StatusOnline || got.Connections != 1 {
					t.Errorf("B sees %+v, want online with 1 (remote) connection", got)
				}
				MustStep(t, b.d)
				if got := agentOf(MustConversation(t, s, conv.ID)); got != agent.ID {
					t.Errorf("conversation went to %q, want %q", got, agent.ID)
				}
				// A's own row counts A's connection only, not B's mirror.
				mustSync(t, b, a)
				if got := a.d.Presence(agent.ID).Connections; got != 1 {
					t.Errorf("A counts %d connections, want 1 (no echo of its own row)", got)
				}
			})

			t.Run("away on A: B offers nothing", func(t *testing.T) {
				s, _, a, b, agent := setup(t)
				a.d.AgentConnected(agent.ID)
				if err := a.d.SetStatus(agent.ID, routing.StatusAway); err != nil {
					t.Fatal(err)
				}
				conv := MustShopper(t, s, t0)
				mustSync(t, a, b)
				if got := b.d.Presence(agent.ID).Status; got != routing.StatusAway {
					t.Errorf("B sees %s, want away", got)
				}
				MustStep(t, b.d)
				if got := agentOf(MustConversation(t, s, conv.ID)); got != "" {
					t.Errorf("away agent got a conversation through B")
				}
			})

			t.Run("A dies: after stale and grace, B requeues the agent's conversations", func(t *testing.T) {
				s, c, a, b, agent := setup(t)
				a.d.AgentConnected(agent.ID)
				conv := MustShopper(t, s, t0)
				mustSync(t, a, b)
				MustStep(t, b.d)
				if got := agentOf(MustConversation(t, s, conv.ID)); got != agent.ID {
					t.Fatalf("not assigned: %q", got)
				}
				// A stops heartbeating (SIGKILL): its row is stale once more
				// than 6s old.
				for range 4 {
					c.Advance(2 * time.Second)
					mustSync(t, b)
				}
				if got := b.d.Presence(agent.ID).Connections; got != 0 {
					t.Fatalf("B still counts %d connections after A's row went stale", got)
				}
				c.Advance(grace - time.Second)
				MustStep(t, b.d)
				if got := agentOf(MustConversation(t, s, conv.ID)); got != agent.ID {
					t.Fatalf("requeued before the grace period ran out")
				}
				c.Advance(time.Second)
				MustStep(t, b.d)
				if got := MustConversation(t, s, conv.ID); got.Status != models.StatusQueued {
					t.Errorf("after grace: status %s, want queued", got.Status)
				}
			})

			t.Run("the agent moves from A to B within the grace period and keeps everything", func(t *testing.T) {
				s, c, a, b, agent := setup(t)
				a.d.AgentConnected(agent.ID)
				conv := MustShopper(t, s, t0)
				mustSync(t, a, b)
				MustStep(t, b.d)
				// A shuts down cleanly: its rows go at once.
				a.d.AgentDisconnected(agent.ID)
				if err := a.p.Leave(context.Background()); err != nil {
					t.Fatal(err)
				}
				a.d.Close()
				mustSync(t, b)
				c.Advance(grace / 2)
				b.d.AgentConnected(agent.ID) // the client reconnected to B
				c.Advance(grace)
				MustStep(t, b.d)
				if got := agentOf(MustConversation(t, s, conv.ID)); got != agent.ID {
					t.Errorf("conversation lost by an agent who reconnected in time: %q", got)
				}
				if got := b.d.Presence(agent.ID); got.Connections != 1 {
					t.Errorf("B counts %+v, want 1 local connection", got)
				}
			})

			t.Run("dead rows are pruned", func(t *testing.T) {
				s, c, a, b, agent := setup(t)
				a.d.AgentConnected(agent.ID)
				mustSync(t, a)
				for range 60 {
					c.Advance(2 * time.Second)
					mustSync(t, b)
				}
				rows, err := s.FreshPresence(context.Background(), time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if len(rows) != 0 {
					t.Errorf("%d rows left, want A's dead row pruned", len(rows))
				}
			})
		})
	}
}
