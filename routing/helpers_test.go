package routing_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/models/sqlstore"
	"github.com/kefu-chat/kefu/routing"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// storeKinds are the real stores the dispatcher is tested against.
var storeKinds = []struct {
	name string
	open func(tb testing.TB) models.Store
}{
	{"sqlite", MustSQLite},
	{"memory", func(testing.TB) models.Store { return memstore.New() }},
}

// MustSQLite opens a store on a fresh SQLite file.
func MustSQLite(tb testing.TB) models.Store {
	tb.Helper()
	return MustSQLiteAt(tb, filepath.Join(tb.TempDir(), "k.db"))
}

// MustSQLiteAt opens a store on the SQLite file at path.
func MustSQLiteAt(tb testing.TB, path string) models.Store {
	tb.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite:"+path, nil)
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustAgent creates an agent; maxChats 0 means the dispatcher's default.
func MustAgent(tb testing.TB, s models.Store, name string, maxChats int) *models.Agent {
	tb.Helper()
	a := &models.Agent{Email: name + "@shop.test", Name: name, Role: models.RoleAgent, PasswordHash: "x", MaxChats: maxChats}
	if err := s.CreateAgent(context.Background(), a); err != nil {
		tb.Fatalf("create agent %s: %v", name, err)
	}
	return a
}

// MustShopper creates a visitor whose first message, sent at now, opens a
// queued conversation, and returns the conversation.
func MustShopper(tb testing.TB, s models.Store, now time.Time) *models.Conversation {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 32)
	rand.Read(b)
	v := &models.Visitor{TokenHash: hex.EncodeToString(b)}
	if err := s.CreateVisitor(ctx, v); err != nil {
		tb.Fatalf("create visitor: %v", err)
	}
	res, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m1", Body: "hello?", Now: now})
	if err != nil {
		tb.Fatalf("first message: %v", err)
	}
	return res.Conversation
}

// MustShopperIn is MustShopper for a department.
func MustShopperIn(tb testing.TB, s models.Store, deptID string, now time.Time) *models.Conversation {
	tb.Helper()
	ctx := context.Background()
	b := make([]byte, 32)
	rand.Read(b)
	v := &models.Visitor{TokenHash: hex.EncodeToString(b)}
	if err := s.CreateVisitor(ctx, v); err != nil {
		tb.Fatalf("create visitor: %v", err)
	}
	res, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m1", Body: "hello?", DepartmentID: &deptID, Now: now})
	if err != nil {
		tb.Fatalf("first message: %v", err)
	}
	return res.Conversation
}

// MustConversation reads a conversation back.
func MustConversation(tb testing.TB, s models.Store, id string) *models.Conversation {
	tb.Helper()
	c, err := s.Conversation(context.Background(), id)
	if err != nil {
		tb.Fatalf("conversation %s: %v", id, err)
	}
	return c
}

// MustStep runs one pass and fails the test on error.
func MustStep(tb testing.TB, d *routing.Dispatcher) {
	tb.Helper()
	if err := d.Step(context.Background()); err != nil {
		tb.Fatalf("Step: %v", err)
	}
}

// agentOf returns the ID of the agent holding c, or "" when it is not
// assigned.
func agentOf(c *models.Conversation) string {
	if c.Status != models.StatusAssigned || c.AgentID == nil {
		return ""
	}
	return *c.AgentID
}

// checkingNotifier keeps the notifications it gets, in order, and checks
// each against the store at the moment it arrives: the store must already
// show what the notification announces (commit, then publish).
type checkingNotifier struct {
	tb    testing.TB
	store models.Store

	mu         sync.Mutex
	events     []string
	queues     [][]string
	onAssigned func(c *models.Conversation, a *models.Agent)
}

func newNotifier(tb testing.TB, s models.Store) *checkingNotifier {
	return &checkingNotifier{tb: tb, store: s}
}

func (n *checkingNotifier) Assigned(ctx context.Context, c *models.Conversation, a *models.Agent) {
	stored, err := n.store.Conversation(ctx, c.ID)
	if err != nil {
		n.tb.Errorf("Assigned(%s): reading it back: %v", c.ID, err)
	} else if got := agentOf(stored); got != a.ID && stored.Status != models.StatusResolved {
		// (A racing test may resolve it between commit and this check.)
		n.tb.Errorf("Assigned(%s, %s): the store shows agent %q, status %s", c.ID, a.ID, got, stored.Status)
	}
	if agentOf(c) != a.ID {
		n.tb.Errorf("Assigned(%s, %s): the conversation passed says agent %q", c.ID, a.ID, agentOf(c))
	}
	n.mu.Lock()
	n.events = append(n.events, "assigned "+c.ID+" "+a.ID)
	f := n.onAssigned
	n.mu.Unlock()
	if f != nil {
		f(c, a)
	}
}

func (n *checkingNotifier) Requeued(ctx context.Context, c *models.Conversation, from, reason string) {
	stored, err := n.store.Conversation(ctx, c.ID)
	if err != nil {
		n.tb.Errorf("Requeued(%s): reading it back: %v", c.ID, err)
	} else if stored.Status == models.StatusAssigned && agentOf(stored) == from {
		n.tb.Errorf("Requeued(%s, from %s): the store still shows it assigned to them", c.ID, from)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, "requeued "+c.ID+" "+from+" "+reason)
}

func (n *checkingNotifier) QueueChanged(ctx context.Context, q []*models.Conversation) {
	ids := make([]string, len(q))
	for i, c := range q {
		ids[i] = c.ID
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, "queue "+strings.Join(ids, ","))
	n.queues = append(n.queues, ids)
}

// take returns the notifications since the last take.
func (n *checkingNotifier) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.events
	n.events = nil
	return out
}

// expectEvents fails unless the notifications since the last take are want.
func expectEvents(tb testing.TB, n *checkingNotifier, want ...string) {
	tb.Helper()
	if got := n.take(); !slices.Equal(got, want) {
		tb.Errorf("notifications:\n got %q\nwant %q", got, want)
	}
}

func queueEvent(cs ...*models.Conversation) string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return "queue " + strings.Join(ids, ",")
}

func assignedEvent(c *models.Conversation, a *models.Agent) string {
	return fmt.Sprintf("assigned %s %s", c.ID, a.ID)
}
