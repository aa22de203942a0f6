package routing

import (
	"context"
	"time"

	"github.com/kefu-chat/kefu/models"
)

// Why nobody can answer a new conversation (Unavailability.Reason).
const (
	// ReasonNoAgents: no agent who could serve it is connected and online.
	ReasonNoAgents = "no_agents"
	// ReasonClosed: it came outside the business hours that apply to it.
	ReasonClosed = "closed"
)

// Unavailability says whether anyone can answer a new conversation now,
// and if not, why.
type Unavailability struct {
	// Reason is "" when someone can answer, else ReasonClosed or
	// ReasonNoAgents. Closed hours win: a shopper writing at night is
	// told the shop is closed even if an agent happens to be online (that
	// agent still gets the conversation).
	Reason string
	// OpensAt is when the hours that apply next open (ReasonClosed only);
	// nil when they do not open in the next 400 days.
	OpensAt *time.Time
}

// Unavailable says whether anyone can answer a conversation of dept (nil:
// none) at the dispatcher's clock: it is closed when the business hours
// that apply (the department's override, else the shop's) say so, and
// nobody can answer when Available is false. The schedules are read
// through a cache that lives one Interval, or until HoursChanged; if they
// cannot be read, the shop counts as open (the shopper is then told only
// what presence says).
//
// Closed hours change only what the shopper is told: conversations are
// queued and assigned to online agents as at any other time.
func (d *Dispatcher) Unavailable(ctx context.Context, dept *models.Department) Unavailability {
	now := d.clock.Now()
	deptID := ""
	if dept != nil {
		deptID = dept.ID
	}
	if h := models.HoursFor(d.businessHours(ctx, now), deptID); !h.OpenAt(now) {
		u := Unavailability{Reason: ReasonClosed}
		if at, ok := h.NextOpening(now); ok {
			u.OpensAt = &at
		}
		return u
	}
	if !d.Available(dept) {
		return Unavailability{Reason: ReasonNoAgents}
	}
	return Unavailability{}
}

// OpenNow reports whether the business hours that apply to a
// conversation of dept (nil: none) are open at the dispatcher's clock.
func (d *Dispatcher) OpenNow(ctx context.Context, dept *models.Department) bool {
	return d.Unavailable(ctx, dept).Reason != ReasonClosed
}

// HoursChanged drops the cached business hours: call it after changing
// them, so that this instance applies the change at once (others do
// within an Interval).
func (d *Dispatcher) HoursChanged() {
	d.hoursMu.Lock()
	d.hoursAt = time.Time{}
	d.hoursGen++
	d.hoursMu.Unlock()
}

// businessHours returns every stored schedule, from the cache when it is
// younger than an Interval.
func (d *Dispatcher) businessHours(ctx context.Context, now time.Time) []*models.BusinessHours {
	d.hoursMu.Lock()
	if !d.hoursAt.IsZero() && now.Sub(d.hoursAt) < d.interval && !now.Before(d.hoursAt) {
		h := d.hours
		d.hoursMu.Unlock()
		return h
	}
	gen := d.hoursGen
	d.hoursMu.Unlock()
	all, err := d.store.AllBusinessHours(ctx)
	if err != nil {
		d.log.Warn("routing: reading business hours", "err", err)
		return nil
	}
	d.hoursMu.Lock()
	if d.hoursGen == gen { // not changed while we read: a read before a change is not cached
		d.hours, d.hoursAt = all, now
	}
	d.hoursMu.Unlock()
	return all
}
