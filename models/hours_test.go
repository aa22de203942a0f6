package models_test

import (
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

func mustHours(t *testing.T, h models.BusinessHours) *models.BusinessHours {
	t.Helper()
	if err := h.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return &h
}

func TestBusinessHoursOpenAt(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	h := mustHours(t, models.BusinessHours{TimeZone: "Europe/Paris",
		Weekly: []models.OpeningSpan{
			{Day: "mon", Open: "09:00", Close: "12:00"}, {Day: "mon", Open: "14:00", Close: "18:30"},
			{Day: "fri", Open: "22:00", Close: "24:00"}, {Day: "sat", Open: "00:00", Close: "02:00"},
		},
		ClosedDates: []string{"2025-12-22"}, // a Monday
	})
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		when string
		open bool
	}{
		{"2025-12-15 08:59", false}, // Monday
		{"2025-12-15 09:00", true},
		{"2025-12-15 11:59", true},
		{"2025-12-15 12:00", false}, // closing time is closed
		{"2025-12-15 14:00", true},
		{"2025-12-15 18:29", true},
		{"2025-12-15 18:30", false},
		{"2025-12-16 10:00", false}, // Tuesday: no spans
		{"2025-12-19 23:59", true},  // Friday night into Saturday
		{"2025-12-20 01:00", true},
		{"2025-12-20 02:00", false},
		{"2025-12-22 10:00", false}, // a closed date
	} {
		if got := h.OpenAt(at(tc.when)); got != tc.open {
			t.Errorf("OpenAt(%s Paris) = %v, want %v", tc.when, got, tc.open)
		}
	}
	// The zone is the schedule's, whatever the zone of t: 08:30 UTC on a
	// winter Monday is 09:30 in Paris.
	if !h.OpenAt(time.Date(2025, 12, 15, 8, 30, 0, 0, time.UTC)) {
		t.Error("08:30 UTC (09:30 Paris) on a Monday should be open")
	}
	// Summer time: 07:30 UTC in July is 09:30 in Paris.
	if !h.OpenAt(time.Date(2025, 7, 14, 7, 30, 0, 0, time.UTC)) {
		t.Error("07:30 UTC (09:30 Paris, summer) on a Monday should be open")
	}
	var none *models.BusinessHours
	if !none.OpenAt(time.Now()) {
		t.Error("no schedule should be always open")
	}
}

func TestBusinessHoursNextOpening(t *testing.T) {
	shanghai, _ := time.LoadLocation("Asia/Shanghai")
	h := mustHours(t, models.BusinessHours{TimeZone: "Asia/Shanghai",
		Weekly:      []models.OpeningSpan{{Day: "mon", Open: "09:00", Close: "18:00"}, {Day: "wed", Open: "13:00", Close: "17:00"}},
		ClosedDates: []string{"2025-12-17"}, // a Wednesday
	})
	for _, tc := range []struct{ from, want string }{
		{"2025-12-15 10:00", "2025-12-15 10:00"}, // open now
		{"2025-12-15 18:00", "2025-12-22 09:00"}, // Wednesday the 17th is closed
		{"2025-12-14 23:00", "2025-12-15 09:00"},
		{"2025-12-23 08:00", "2025-12-24 13:00"},
	} {
		from, _ := time.ParseInLocation("2006-01-02 15:04", tc.from, shanghai)
		want, _ := time.ParseInLocation("2006-01-02 15:04", tc.want, shanghai)
		got, ok := h.NextOpening(from)
		if !ok || !got.Equal(want) {
			t.Errorf("NextOpening(%s) = %v, %v; want %s", tc.from, got.In(shanghai), ok, tc.want)
		}
	}
	never := mustHours(t, models.BusinessHours{TimeZone: "UTC"})
	if _, ok := never.NextOpening(time.Now()); ok {
		t.Error("a schedule with no spans should never open")
	}
}

// TestBusinessHoursDaylightSaving: a span whose opening hour does not
// exist on the spring-forward day is skipped, not reported as an opening.
func TestBusinessHoursDaylightSaving(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	h := mustHours(t, models.BusinessHours{TimeZone: "America/New_York",
		Weekly: []models.OpeningSpan{{Day: "sun", Open: "02:00", Close: "02:30"}, {Day: "sun", Open: "10:00", Close: "12:00"}}})
	// 2025-03-09 is the spring-forward Sunday: 02:00–03:00 does not exist.
	from := time.Date(2025, 3, 9, 0, 0, 0, 0, ny)
	got, ok := h.NextOpening(from)
	want := time.Date(2025, 3, 9, 10, 0, 0, 0, ny)
	if !ok || !got.Equal(want) {
		t.Errorf("NextOpening on spring-forward day = %v, %v; want %v", got, ok, want)
	}
}
