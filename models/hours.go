package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	// The zone database is built in, so that a zone an admin picks is
	// accepted (and means the same) on a host or container without
	// /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Days are the weekday names a schedule uses, Monday first.
var Days = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// dayIndex maps a day name to its time.Weekday.
var dayIndex = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// Limits of a schedule, so that a stored schedule stays small.
const (
	MaxOpeningSpans = 70  // ten a day
	MaxClosedDates  = 400 // more than a year of holidays
)

// OpeningSpan is one stretch of a weekday during which the shop answers:
// from Open to Close, local time in the schedule's zone, "HH:MM" on a
// 24-hour clock; Close may be "24:00" (midnight at the end of the day).
// A span does not cross midnight: an evening shift that does is two spans.
type OpeningSpan struct {
	Day   string `json:"day"`
	Open  string `json:"open"`
	Close string `json:"close"`
}

// BusinessHours is when the shop (DepartmentID empty) or one department
// (an override of the shop's hours for its conversations) answers chats.
// Outside them a new conversation is still created and queued, and agents
// who are online still get it; only what the shopper is told changes
// (docs/routing.md). No schedule at all means always open.
type BusinessHours struct {
	DepartmentID string `json:"department_id,omitempty"`
	// TimeZone is an IANA zone name ("Europe/Paris"); the spans and closed
	// dates are in its local time, daylight saving included.
	TimeZone string `json:"time_zone"`
	// Weekly lists the opening spans, sorted by day (Monday first) then
	// opening time. A day with no span is closed all day.
	Weekly []OpeningSpan `json:"weekly"`
	// ClosedDates are whole days closed whatever the weekly spans say
	// ("2025-12-25", in TimeZone), sorted.
	ClosedDates []string  `json:"closed_dates"`
	UpdatedAt   time.Time `json:"updated_at"`

	loc *time.Location // set by Normalize
}

// parseClock reads "HH:MM" as minutes after midnight; "24:00" is 1440.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

// Normalize checks h and puts it in its one stored form (spans sorted,
// dates sorted and deduplicated, nil lists made empty). It returns the
// first rule h breaks (EINVALID): an unknown zone, a bad day, a time that
// is not HH:MM, a span that closes before it opens, two spans of one day
// that overlap, a bad date, or too many spans or dates.
func (h *BusinessHours) Normalize() error {
	h.TimeZone = strings.TrimSpace(h.TimeZone)
	if h.TimeZone == "" || h.TimeZone == "Local" {
		return Errorf(EINVALID, "time_zone must name a zone, such as Europe/Paris or Asia/Shanghai")
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return Errorf(EINVALID, "unknown time zone %q", h.TimeZone)
	}
	if len(h.Weekly) > MaxOpeningSpans {
		return Errorf(EINVALID, "at most %d opening spans", MaxOpeningSpans)
	}
	if len(h.ClosedDates) > MaxClosedDates {
		return Errorf(EINVALID, "at most %d closed dates", MaxClosedDates)
	}
	spans := make([]OpeningSpan, len(h.Weekly))
	for i, s := range h.Weekly {
		s.Day = strings.ToLower(strings.TrimSpace(s.Day))
		if _, ok := dayIndex[s.Day]; !ok {
			return Errorf(EINVALID, "day must be one of %s, not %q", strings.Join(Days, ", "), s.Day)
		}
		o, ok1 := parseClock(s.Open)
		c, ok2 := parseClock(s.Close)
		switch {
		case !ok1 || !ok2:
			return Errorf(EINVALID, "opening times are HH:MM from 00:00 to 24:00 (%s %s-%s)", s.Day, s.Open, s.Close)
		case c <= o:
			return Errorf(EINVALID, "a span must close after it opens (%s %s-%s); split one that crosses midnight in two", s.Day, s.Open, s.Close)
		}
		spans[i] = s
	}
	slices.SortFunc(spans, func(a, b OpeningSpan) int {
		if d := slices.Index(Days, a.Day) - slices.Index(Days, b.Day); d != 0 {
			return d
		}
		return strings.Compare(a.Open, b.Open)
	})
	for i := 1; i < len(spans); i++ {
		p, s := spans[i-1], spans[i]
		if p.Day == s.Day && s.Open < p.Close {
			return Errorf(EINVALID, "opening spans overlap on %s (%s-%s and %s-%s)", s.Day, p.Open, p.Close, s.Open, s.Close)
		}
	}
	dates := make([]string, 0, len(h.ClosedDates))
	for _, d := range h.ClosedDates {
		d = strings.TrimSpace(d)
		if t, err := time.Parse(time.DateOnly, d); err != nil || t.Format(time.DateOnly) != d {
			return Errorf(EINVALID, "closed dates are YYYY-MM-DD, not %q", d)
		}
		dates = append(dates, d)
	}
	slices.Sort(dates)
	h.Weekly, h.ClosedDates, h.loc = spans, slices.Compact(dates), loc
	return nil
}

// location returns the schedule's zone; UTC if it cannot be loaded (a
// stored schedule was normalized, so that does not happen).
func (h *BusinessHours) location() *time.Location {
	if h.loc != nil {
		return h.loc
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// OpenAt reports whether the schedule is open at t. A nil schedule is
// always open.
func (h *BusinessHours) OpenAt(t time.Time) bool {
	if h == nil {
		return true
	}
	local := t.In(h.location())
	if slices.Contains(h.ClosedDates, local.Format(time.DateOnly)) {
		return false
	}
	minute := local.Hour()*60 + local.Minute()
	for _, s := range h.Weekly {
		if dayIndex[s.Day] != local.Weekday() {
			continue
		}
		o, _ := parseClock(s.Open)
		c, _ := parseClock(s.Close)
		if minute >= o && minute < c {
			return true
		}
	}
	return false
}

// NextOpening returns the first moment at or after t when the schedule is
// open, to the minute, looking up to 400 days ahead; ok is false when it
// never opens in that time (no spans, or every open day closed). A nil
// schedule is open at t.
func (h *BusinessHours) NextOpening(t time.Time) (time.Time, bool) {
	if h.OpenAt(t) {
		return t, true
	}
	loc := h.location()
	local := t.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	for i := 0; i < 400; i++ {
		d := day.AddDate(0, 0, i)
		if slices.Contains(h.ClosedDates, d.Format(time.DateOnly)) {
			continue
		}
		for _, s := range h.Weekly { // sorted by opening time within a day
			if dayIndex[s.Day] != d.Weekday() {
				continue
			}
			o, _ := parseClock(s.Open)
			// An opening time skipped by a daylight-saving jump becomes
			// the moment after the jump, which may be past the span: the
			// OpenAt check skips such a span.
			at := time.Date(d.Year(), d.Month(), d.Day(), o/60, o%60, 0, 0, loc)
			if at.After(t) && h.OpenAt(at) {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

// String describes the schedule briefly, for logs.
func (h *BusinessHours) String() string {
	if h == nil {
		return "always open"
	}
	return fmt.Sprintf("%d spans in %s, %d closed dates", len(h.Weekly), h.TimeZone, len(h.ClosedDates))
}

// HoursFor picks the schedule that applies to a conversation of the
// department (empty: none) from all stored schedules: the department's
// override if it has one, else the shop's, else nil (always open).
func HoursFor(all []*BusinessHours, departmentID string) *BusinessHours {
	var shop *BusinessHours
	for _, h := range all {
		switch h.DepartmentID {
		case "":
			shop = h
		case departmentID:
			if departmentID != "" {
				return h
			}
		}
	}
	return shop
}

// HoursStore keeps the shop's business hours and departments' overrides.
type HoursStore interface {
	// SetBusinessHours stores h after h.Normalize, replacing the schedule of
	// the same scope (h.DepartmentID; empty is the shop's), and sets
	// UpdatedAt to now. EINVALID for a bad field; ENOTFOUND for an unknown
	// department. On error nothing changes.
	SetBusinessHours(ctx context.Context, h *BusinessHours, now time.Time) error
	// BusinessHours returns the schedule of the scope (empty: the shop's);
	// ENOTFOUND if none is set.
	BusinessHours(ctx context.Context, departmentID string) (*BusinessHours, error)
	// AllBusinessHours lists every schedule, the shop's first, then the
	// departments' by department ID.
	AllBusinessHours(ctx context.Context) ([]*BusinessHours, error)
	// DeleteBusinessHours removes the schedule of the scope (the shop then
	// is always open; a department follows the shop's hours again).
	// ENOTFOUND if none is set. Deleting a department deletes its
	// override in the same transaction.
	DeleteBusinessHours(ctx context.Context, departmentID string) error
}
