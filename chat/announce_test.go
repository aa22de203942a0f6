package chat_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/models/storetest"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/realtime"
	"github.com/kefu-chat/kefu/routing"
)

// announceEnv is an Announcer on a memory store and bus, with a fake clock
// and every published event collected.
type announceEnv struct {
	store  *memstore.Store
	clock  *routing.FakeClock
	an     *chat.Announcer
	events chan models.Event
	admin  *models.Agent
}

func mustAnnounceEnv(t *testing.T) *announceEnv {
	t.Helper()
	store := memstore.New()
	bus := realtime.NewMemoryBus()
	t.Cleanup(func() { bus.Close() })
	env := &announceEnv{store: store, clock: routing.NewFakeClock(storetest.T0), events: make(chan models.Event, 100)}
	cancel, err := bus.Subscribe(func(e models.Event) { env.events <- e })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	env.an = chat.NewAnnouncer(store, bus, chat.AnnouncerOptions{Clock: env.clock})
	env.admin = storetest.MustCreateAgent(t, store, models.Agent{Role: models.RoleAdmin})
	return env
}

// next returns the next published event's frame.
func (e *announceEnv) next(t *testing.T) (models.Event, wire.ServerFrame) {
	t.Helper()
	select {
	case ev := <-e.events:
		var f wire.ServerFrame
		if err := json.Unmarshal(ev.Frame, &f); err != nil {
			t.Fatalf("frame %s: %v", ev.Frame, err)
		}
		return ev, f
	case <-time.After(10 * time.Second):
		t.Fatal("no event published within 10s")
		return models.Event{}, wire.ServerFrame{}
	}
}

func (e *announceEnv) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-e.events:
		t.Fatalf("unexpected event %s", ev.Frame)
	default:
	}
}

func (e *announceEnv) activeIDs(page, lang string) []string {
	var ids []string
	e.an.SendActive(page, lang, false, func(frame []byte) bool {
		var f wire.ServerFrame
		_ = json.Unmarshal(frame, &f)
		ids = append(ids, f.Announcement.ID)
		return true
	})
	return ids
}

func TestAnnouncerScheduleStartAndExpiry(t *testing.T) {
	env := mustAnnounceEnv(t)
	ctx := t.Context()
	start, exp := storetest.T0.Add(time.Minute), storetest.T0.Add(2*time.Minute)
	ann, existed, err := env.an.Create(ctx, env.admin, chat.AnnouncementInput{Text: "Sale at ten", Level: models.LevelPromotion,
		StartsAt: &start, ExpiresAt: &exp, Langs: []string{"en"}}, "")
	if err != nil || existed {
		t.Fatalf("Create: existed %v, %v", existed, err)
	}
	env.none(t)
	if ann.SentAt != nil {
		t.Fatalf("scheduled announcement marked sent at %v", ann.SentAt)
	}
	next, err := env.an.Step(ctx)
	if err != nil || !next.Equal(start) {
		t.Fatalf("Step before start: next %v, %v; want %v", next, err, start)
	}
	env.none(t)

	env.clock.Advance(time.Minute)
	next, err = env.an.Step(ctx)
	if err != nil || !next.Equal(exp) {
		t.Fatalf("Step at start: next %v, %v; want %v", next, err, exp)
	}
	ev, f := env.next(t)
	if f.Type != wire.TypeAnnouncement || f.Announcement.ID != ann.ID || f.Announcement.Text != "Sale at ten" {
		t.Fatalf("frame %+v, want the announcement", f)
	}
	if !ev.To.AllVisitors || !ev.To.AllAgents || ev.To.Match == nil || len(ev.To.Match.Langs) != 1 {
		t.Fatalf("audience %+v, want all visitors (matching en) and all agents", ev.To)
	}
	if got := env.activeIDs("https://shop/", "en-US"); len(got) != 1 || got[0] != ann.ID {
		t.Fatalf("active for an English shopper = %v, want [%s]", got, ann.ID)
	}
	if got := env.activeIDs("https://shop/", "fr"); len(got) != 0 {
		t.Fatalf("active for a French shopper = %v, want none", got)
	}
	env.an.Flush(ctx)
	stored, _ := env.store.Announcement(ctx, ann.ID)
	if stored.SentAt == nil || !stored.SentAt.Equal(start) {
		t.Fatalf("stored SentAt %v, want %v", stored.SentAt, start)
	}
	if stored.Delivered != 1 {
		t.Fatalf("delivered %d after one late joiner, want 1", stored.Delivered)
	}

	env.clock.Advance(time.Minute)
	if _, err := env.an.Step(ctx); err != nil {
		t.Fatal(err)
	}
	_, f = env.next(t)
	if f.Type != wire.TypeAnnouncementWithdrawn || f.AnnouncementID != ann.ID || f.Reason != models.EndExpired {
		t.Fatalf("frame %+v, want its expiry", f)
	}
	if got := env.activeIDs("", "en"); len(got) != 0 {
		t.Fatalf("active after expiry = %v", got)
	}
	stored, _ = env.store.Announcement(ctx, ann.ID)
	if stored.EndReason != models.EndExpired {
		t.Fatalf("end reason %q, want expired", stored.EndReason)
	}
	env.none(t)
}

func TestAnnouncerCreateWithdrawAndRetry(t *testing.T) {
	env := mustAnnounceEnv(t)
	ctx := t.Context()
	agent := storetest.MustCreateAgent(t, env.store, models.Agent{})
	in := chat.AnnouncementInput{Text: "Shipping delayed", Level: models.LevelWarning}

	if _, _, err := env.an.Create(ctx, agent, in, ""); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Fatalf("agent announcing: %v, want forbidden", err)
	}
	past := storetest.T0.Add(-time.Second)
	if _, _, err := env.an.Create(ctx, env.admin, chat.AnnouncementInput{Text: "x", Level: models.LevelInfo, ExpiresAt: &past}, ""); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("expired on arrival: %v, want invalid", err)
	}
	env.none(t)

	ann, _, err := env.an.Create(ctx, env.admin, in, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, f := env.next(t); f.Announcement == nil || f.Announcement.ID != ann.ID {
		t.Fatalf("frame %+v, want the announcement at once", f)
	}
	again, existed, err := env.an.Create(ctx, env.admin, chat.AnnouncementInput{Text: "different", Level: models.LevelInfo}, "key-1")
	if err != nil || !existed || again.ID != ann.ID {
		t.Fatalf("retry: %+v existed %v, %v; want the first back", again, existed, err)
	}
	env.none(t)

	env.an.Delivered(models.Event{Type: models.EventMessage, Frame: []byte(`{}`)}, 99) // not an announcement: ignored
	env.an.Delivered(models.Event{Type: models.EventAnnouncement, Frame: mustFrame(t, ann)}, 3)
	env.an.Flush(ctx)
	stored, _ := env.store.Announcement(ctx, ann.ID)
	if stored.Delivered != 3 {
		t.Fatalf("delivered %d, want 3", stored.Delivered)
	}

	if _, err := env.an.Withdraw(ctx, agent, ann.ID); models.ErrorCode(err) != models.EFORBIDDEN {
		t.Fatalf("agent withdrawing: %v, want forbidden", err)
	}
	if _, err := env.an.Withdraw(ctx, env.admin, ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, f := env.next(t); f.Type != wire.TypeAnnouncementWithdrawn || f.AnnouncementID != ann.ID || f.Reason != models.EndWithdrawn {
		t.Fatalf("frame %+v, want the withdrawal", f)
	}
	if _, err := env.an.Withdraw(ctx, env.admin, ann.ID); models.ErrorCode(err) != models.ECONFLICT {
		t.Fatalf("second withdrawal: %v, want conflict", err)
	}
	if got := env.activeIDs("", ""); len(got) != 0 {
		t.Fatalf("active after withdrawal = %v", got)
	}
	if env.an.SentCount() != 1 {
		t.Fatalf("SentCount %d, want 1", env.an.SentCount())
	}
}

func mustFrame(t *testing.T, a *models.Announcement) []byte {
	v := wire.NewAnnouncementView(a)
	b, err := json.Marshal(wire.ServerFrame{Type: wire.TypeAnnouncement, Announcement: &v})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAnnouncerRun checks the scheduler goroutine: it sends a scheduled
// announcement once the clock reaches its start, and stops with ctx.
func TestAnnouncerRun(t *testing.T) {
	env := mustAnnounceEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- env.an.Run(ctx) }()
	start := storetest.T0.Add(time.Hour)
	ann, _, err := env.an.Create(ctx, env.admin, chat.AnnouncementInput{Text: "later", Level: models.LevelInfo, StartsAt: &start}, "")
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(time.Hour)
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case ev := <-env.events:
			var f wire.ServerFrame
			_ = json.Unmarshal(ev.Frame, &f)
			got = f.Announcement != nil && f.Announcement.ID == ann.ID
		case <-time.After(10 * time.Millisecond):
			// Run may not have armed its timer before the first Advance;
			// a timer armed late is due at once and fires on the next one.
			env.clock.Advance(time.Millisecond)
		case <-deadline:
			t.Fatal("scheduled announcement not sent within 10s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
