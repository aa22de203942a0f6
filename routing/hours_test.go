package routing_test

import (
	"context"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/memstore"
	"github.com/kefu-chat/kefu/routing"
)

// TestBusinessHours drives the "nobody available" decision with a fake
// clock across opening and closing times, a department's override and a
// cached schedule, and checks that closed hours change only what the
// shopper is told: the conversation is still queued and assigned.
func TestBusinessHours(t *testing.T) {
	ctx := context.Background()
	paris, _ := time.LoadLocation("Europe/Paris")
	monday0859 := time.Date(2025, 12, 15, 8, 59, 0, 0, paris)
	s := memstore.New()
	clock := routing.NewFakeClock(monday0859)
	d := routing.New(s, nil, routing.Options{Clock: clock, Interval: time.Minute})
	t.Cleanup(func() { d.Close() })

	ana := MustAgent(t, s, "ana", 0)
	night := &models.Department{Name: "Night desk", Members: []string{ana.ID}}
	if err := s.CreateDepartment(ctx, night); err != nil {
		t.Fatal(err)
	}
	shop := &models.BusinessHours{TimeZone: "Europe/Paris", Weekly: []models.OpeningSpan{{Day: "mon", Open: "09:00", Close: "17:00"}}}
	if err := s.SetBusinessHours(ctx, shop, monday0859); err != nil {
		t.Fatal(err)
	}
	d.AgentConnected(ana.ID)

	want := func(what string, dept *models.Department, reason string, opens time.Time) {
		t.Helper()
		u := d.Unavailable(ctx, dept)
		if u.Reason != reason {
			t.Errorf("%s: reason %q, want %q", what, u.Reason, reason)
		}
		switch {
		case opens.IsZero() && u.OpensAt != nil:
			t.Errorf("%s: opens at %v, want none", what, u.OpensAt)
		case !opens.IsZero() && (u.OpensAt == nil || !u.OpensAt.Equal(opens)):
			t.Errorf("%s: opens at %v, want %v", what, u.OpensAt, opens)
		}
	}
	want("a minute before opening, agent online", nil, routing.ReasonClosed, time.Date(2025, 12, 15, 9, 0, 0, 0, paris))

	// Closed, and still queued and assigned: Ana is online.
	c := MustShopper(t, s, clock.Now())
	MustStep(t, d)
	if got := agentOf(MustConversation(t, s, c.ID)); got != ana.ID {
		t.Errorf("conversation opened while closed is held by %q; want Ana, who is online", got)
	}

	clock.Advance(time.Minute)
	want("at opening time", nil, "", time.Time{})
	if !d.OpenNow(ctx, nil) {
		t.Error("OpenNow at 09:00 = false")
	}
	d.SetStatus(ana.ID, routing.StatusAway)
	want("open, nobody online", nil, routing.ReasonNoAgents, time.Time{})
	d.SetStatus(ana.ID, routing.StatusOnline)

	clock.Advance(8 * time.Hour) // 17:00: closed until next Monday
	want("at closing time", nil, routing.ReasonClosed, time.Date(2025, 12, 22, 9, 0, 0, 0, paris))

	// The department's override applies to its conversations only; the
	// cache holds the old schedules until HoursChanged.
	override := &models.BusinessHours{DepartmentID: night.ID, TimeZone: "Europe/Paris",
		Weekly: []models.OpeningSpan{{Day: "mon", Open: "17:00", Close: "24:00"}}}
	if err := s.SetBusinessHours(ctx, override, clock.Now()); err != nil {
		t.Fatal(err)
	}
	want("department, before the cache is dropped", night, routing.ReasonClosed, time.Date(2025, 12, 22, 9, 0, 0, 0, paris))
	d.HoursChanged()
	want("department with its own evening hours", night, "", time.Time{})
	want("no department, shop closed", nil, routing.ReasonClosed, time.Date(2025, 12, 22, 9, 0, 0, 0, paris))

	// A change made elsewhere (another instance) is seen once the cache is
	// an Interval old.
	closedWeek := &models.BusinessHours{DepartmentID: night.ID, TimeZone: "UTC"}
	if err := s.SetBusinessHours(ctx, closedWeek, clock.Now()); err != nil {
		t.Fatal(err)
	}
	want("department, cached", night, "", time.Time{})
	clock.Advance(time.Minute)
	want("department closed all week, never opens", night, routing.ReasonClosed, time.Time{})

	// Without any schedule the shop is always open.
	for _, id := range []string{night.ID, ""} {
		if err := s.DeleteBusinessHours(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	d.HoursChanged()
	want("no schedule", night, "", time.Time{})
}
