package chat

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
)

// hubCounts is a LocalVisitors the test fills.
type hubCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hubCounts) VisitorConnections(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[id]
}

func (h *hubCounts) set(id string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[id] = n
}

// TestVisitorTrackerAcrossInstances: two instances on one store; a
// shopper connected to B is connected as A sees it, until they leave B,
// B leaves, or B stops beating (it died).
func TestVisitorTrackerAcrossInstances(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	var mu sync.Mutex
	now := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	hubA, hubB := &hubCounts{}, &hubCounts{}
	newTracker := func(hub LocalVisitors, id string) *VisitorTracker {
		tr, err := NewVisitorTracker(hub, VisitorTrackerOptions{Store: st, InstanceID: id, Heartbeat: time.Second, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a, b := newTracker(hubA, "A"), newTracker(hubB, "B")
	for _, tr := range []*VisitorTracker{a, b} {
		if err := tr.Beat(ctx); err != nil {
			t.Fatal(err)
		}
	}
	connected := func(tr *VisitorTracker, id string) bool {
		t.Helper()
		ok, err := tr.VisitorConnected(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if connected(a, "v1") {
		t.Fatal("a shopper nobody has is connected")
	}
	flush := func(tr *VisitorTracker) {
		t.Helper()
		if err := tr.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hubB.set("v1", 1)
	if !b.Opened("v1") {
		t.Fatal("Opened did not record with a store")
	}
	if connected(a, "v1") {
		t.Fatal("A saw B's shopper before B flushed")
	}
	flush(b)
	if !connected(a, "v1") || !connected(b, "v1") {
		t.Fatal("a shopper on B is not connected as A (or B) sees it")
	}
	b.Opened("v1") // a second tab, closed before the next flush
	b.Closed("v1")
	flush(b)
	if !connected(a, "v1") {
		t.Fatal("a tab opened and closed between two flushes took the first one with it")
	}
	hubB.set("v1", 0)
	b.Closed("v1")
	flush(b)
	if connected(a, "v1") {
		t.Fatal("a shopper who left B is still connected as A sees it")
	}

	b.Opened("v1")
	flush(b)
	advance(2 * time.Second) // within 3 beats
	if !connected(a, "v1") {
		t.Fatal("B's beat 2 s old no longer counts; stale is 3 s")
	}
	advance(2 * time.Second)
	if connected(a, "v1") {
		t.Fatal("B stopped beating 4 s ago (it died), yet its shopper counts")
	}
	if err := b.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if !connected(a, "v1") {
		t.Fatal("B beats again: its shopper does not count")
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if connected(a, "v1") {
		t.Fatal("B left: its shopper still counts")
	}

	alone, err := NewVisitorTracker(hubA, VisitorTrackerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if alone.Opened("v2") || alone.Shared() {
		t.Error("a tracker without a store records")
	}
	hubA.set("v2", 1)
	if !connected(alone, "v2") {
		t.Error("a tracker without a store does not ask the hub")
	}
	if _, err := NewVisitorTracker(hubA, VisitorTrackerOptions{Store: st}); models.ErrorCode(err) != models.EINVALID {
		t.Errorf("a shared tracker without an instance id: %v, want EINVALID", err)
	}
}

// failingStore fails its writes of visitor presence while down is set.
type failingStore struct {
	models.VisitorPresenceStore
	down bool
}

func (f *failingStore) ChangeVisitorConnections(ctx context.Context, instance string, d map[string]int, now time.Time) error {
	if f.down {
		return models.Errorf(models.EUNAVAILABLE, "database unavailable")
	}
	return f.VisitorPresenceStore.ChangeVisitorConnections(ctx, instance, d, now)
}

// TestVisitorTrackerKeepsFailedFlushes: changes whose write failed are
// written with the next flush, so counts never drift.
func TestVisitorTrackerKeepsFailedFlushes(t *testing.T) {
	ctx := t.Context()
	st := memstore.New()
	fs := &failingStore{VisitorPresenceStore: st, down: true}
	now := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	b, err := NewVisitorTracker(&hubCounts{}, VisitorTrackerOptions{Store: fs, InstanceID: "B", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.BeatInstance(ctx, "B", now); err != nil {
		t.Fatal(err)
	}
	b.Opened("v1")
	b.Opened("v2")
	if err := b.Flush(ctx); err == nil {
		t.Fatal("Flush with the database down succeeded")
	}
	b.Closed("v2")
	fs.down = false
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"v1": true, "v2": false} {
		if got, _ := st.VisitorConnectedElsewhere(ctx, id, "A", now); got != want {
			t.Errorf("%s connected = %v after the retried flush, want %v", id, got, want)
		}
	}
}

// TestSendAgentReplyFresh: a reply is fresh once; its resend with the same
// client id is acknowledged the same and is not fresh, so nothing that
// follows a reply (its mail) happens twice.
func TestSendAgentReplyFresh(t *testing.T) {
	ctx := t.Context()
	s, st := newTestService(t, nil)
	v := &models.Visitor{TokenHash: strings.Repeat("f", 64)}
	if err := st.CreateVisitor(ctx, v); err != nil {
		t.Fatal(err)
	}
	res, err := st.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: v.ID, ClientID: "m1", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	a := &models.Agent{Email: "f@shop.test", Name: "F", Role: models.RoleAgent, PasswordHash: "x"}
	if err := st.CreateAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AssignConversation(ctx, models.Assignment{ConversationID: res.Conversation.ID, AgentID: a.ID, Capacity: 5}); err != nil {
		t.Fatal(err)
	}
	first, fresh, err := s.SendAgentReply(ctx, a, res.Conversation.ID, "r-1", "on its way")
	if err != nil || !fresh {
		t.Fatalf("first reply: fresh=%v err=%v, want fresh", fresh, err)
	}
	again, fresh, err := s.SendAgentReply(ctx, a, res.Conversation.ID, "r-1", "on its way")
	if err != nil || fresh {
		t.Fatalf("resend: fresh=%v err=%v, want not fresh", fresh, err)
	}
	if again.MessageID != first.MessageID || again.Seq != first.Seq {
		t.Errorf("resend acked %+v, want the first ack %+v", again, first)
	}
}
