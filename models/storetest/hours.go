package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models"
)

// hoursTests are the HoursStore contract's subtests; Run runs them with
// the others.
var hoursTests = []struct {
	name string
	fn   func(t *testing.T, s models.Store)
}{
	{"BusinessHoursInvalid", testHoursInvalid},
	{"BusinessHoursSetAndReplace", testHoursSet},
	{"BusinessHoursDepartments", testHoursDepartments},
	{"BusinessHoursConcurrent", testHoursConcurrent},
}

// Span is an opening span, for short schedules in tests.
func Span(day, open, close string) models.OpeningSpan {
	return models.OpeningSpan{Day: day, Open: open, Close: close}
}

// MustSetBusinessHours stores h at T0 and returns it as stored.
func MustSetBusinessHours(tb testing.TB, s models.Store, h models.BusinessHours) *models.BusinessHours {
	tb.Helper()
	if err := s.SetBusinessHours(context.Background(), &h, At(0)); err != nil {
		tb.Fatalf("SetBusinessHours(%q): %v", h.DepartmentID, err)
	}
	got, err := s.BusinessHours(context.Background(), h.DepartmentID)
	if err != nil {
		tb.Fatalf("BusinessHours(%q) after set: %v", h.DepartmentID, err)
	}
	return got
}

// sameHours compares what a schedule says, not its cached zone.
func sameHours(a, b *models.BusinessHours) bool {
	return a.DepartmentID == b.DepartmentID && a.TimeZone == b.TimeZone &&
		reflect.DeepEqual(a.Weekly, b.Weekly) && reflect.DeepEqual(a.ClosedDates, b.ClosedDates) &&
		a.UpdatedAt.Equal(b.UpdatedAt)
}

func testHoursInvalid(t *testing.T, s models.Store) {
	ctx := t.Context()
	good := models.BusinessHours{TimeZone: "Europe/Paris", Weekly: []models.OpeningSpan{Span("mon", "09:00", "18:00")}}
	for _, tc := range []struct {
		name string
		h    models.BusinessHours
	}{
		{"no zone", models.BusinessHours{Weekly: good.Weekly}},
		{"unknown zone", models.BusinessHours{TimeZone: "Mars/Olympus", Weekly: good.Weekly}},
		{"server-local zone", models.BusinessHours{TimeZone: "Local", Weekly: good.Weekly}},
		{"bad day", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("monday", "09:00", "18:00")}}},
		{"bad time", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "9:00", "18:00")}}},
		{"minutes over 59", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "09:60", "18:00")}}},
		{"after midnight", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "09:00", "24:30")}}},
		{"closes before it opens", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "18:00", "09:00")}}},
		{"empty span", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "09:00", "09:00")}}},
		{"overlap", models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("tue", "13:00", "18:00"), Span("tue", "09:00", "13:30")}}},
		{"bad date", models.BusinessHours{TimeZone: "UTC", ClosedDates: []string{"2025-02-30"}}},
		{"date not ISO", models.BusinessHours{TimeZone: "UTC", ClosedDates: []string{"25/12/2025"}}},
	} {
		h := tc.h
		wantCode(t, tc.name, s.SetBusinessHours(ctx, &h, At(0)), models.EINVALID)
	}
	if all, err := s.AllBusinessHours(ctx); err != nil || len(all) != 0 {
		t.Errorf("after invalid sets: AllBusinessHours = %d schedules, %v; want none", len(all), err)
	}
	_, err := s.BusinessHours(ctx, "")
	wantCode(t, "shop hours never set", err, models.ENOTFOUND)

	// A bad schedule leaves the stored one as it was.
	before := MustSetBusinessHours(t, s, good)
	bad := models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", "10:00", "12:00"), Span("mon", "11:00", "13:00")}}
	wantCode(t, "overlap over a stored schedule", s.SetBusinessHours(ctx, &bad, At(1000)), models.EINVALID)
	after, err := s.BusinessHours(ctx, "")
	if err != nil || !sameHours(before, after) {
		t.Errorf("after a refused set: %+v, %v; want the earlier %+v", after, err, before)
	}
}

func testHoursSet(t *testing.T, s models.Store) {
	ctx := t.Context()
	h := models.BusinessHours{TimeZone: " Asia/Shanghai ",
		Weekly: []models.OpeningSpan{
			Span("SAT", "10:00", "16:00"), Span("mon", "13:00", "24:00"), Span("mon", "09:00", "12:00"),
			Span("tue", "09:00", "12:00"), Span("tue", "12:00", "18:00"), // touching spans do not overlap
		},
		ClosedDates: []string{"2026-01-01", "2025-10-01", "2026-01-01"},
	}
	if err := s.SetBusinessHours(ctx, &h, At(5)); err != nil {
		t.Fatalf("SetBusinessHours: %v", err)
	}
	want := &models.BusinessHours{TimeZone: "Asia/Shanghai", UpdatedAt: At(5),
		Weekly: []models.OpeningSpan{
			Span("mon", "09:00", "12:00"), Span("mon", "13:00", "24:00"),
			Span("tue", "09:00", "12:00"), Span("tue", "12:00", "18:00"), Span("sat", "10:00", "16:00"),
		},
		ClosedDates: []string{"2025-10-01", "2026-01-01"},
	}
	if !sameHours(&h, want) {
		t.Errorf("after set, the caller's value = %+v; want normalized %+v", h, want)
	}
	got, err := s.BusinessHours(ctx, "")
	if err != nil || !sameHours(got, want) {
		t.Fatalf("BusinessHours = %+v, %v; want %+v", got, err, want)
	}
	// What is returned is a copy.
	got.Weekly[0].Open = "00:00"
	got.ClosedDates[0] = "2000-01-01"
	if again, _ := s.BusinessHours(ctx, ""); !sameHours(again, want) {
		t.Errorf("changing a returned schedule changed the store: %+v", again)
	}
	// Setting again replaces the whole schedule; an empty week is closed
	// every day, and is kept as such.
	closed := models.BusinessHours{TimeZone: "UTC"}
	if err := s.SetBusinessHours(ctx, &closed, At(9)); err != nil {
		t.Fatalf("SetBusinessHours(closed): %v", err)
	}
	got, err = s.BusinessHours(ctx, "")
	if err != nil || got.TimeZone != "UTC" || len(got.Weekly) != 0 || len(got.ClosedDates) != 0 || !got.UpdatedAt.Equal(At(9)) {
		t.Errorf("after replace: %+v, %v; want UTC with no spans at %v", got, err, At(9))
	}
	if all, err := s.AllBusinessHours(ctx); err != nil || len(all) != 1 {
		t.Errorf("AllBusinessHours = %d, %v; want the one shop schedule", len(all), err)
	}
	if err := s.DeleteBusinessHours(ctx, ""); err != nil {
		t.Fatalf("DeleteBusinessHours: %v", err)
	}
	_, err = s.BusinessHours(ctx, "")
	wantCode(t, "after delete", err, models.ENOTFOUND)
	wantCode(t, "delete twice", s.DeleteBusinessHours(ctx, ""), models.ENOTFOUND)
}

func testHoursDepartments(t *testing.T, s models.Store) {
	ctx := t.Context()
	a := MustCreateDepartment(t, s, models.Department{Name: "Sales"})
	b := MustCreateDepartment(t, s, models.Department{Name: "Returns"})
	ghost := models.BusinessHours{DepartmentID: "no-such-department", TimeZone: "UTC"}
	wantCode(t, "unknown department", s.SetBusinessHours(ctx, &ghost, At(0)), models.ENOTFOUND)

	shop := MustSetBusinessHours(t, s, models.BusinessHours{TimeZone: "Europe/Paris", Weekly: []models.OpeningSpan{Span("mon", "09:00", "17:00")}})
	ha := MustSetBusinessHours(t, s, models.BusinessHours{DepartmentID: a.ID, TimeZone: "America/New_York", Weekly: []models.OpeningSpan{Span("sun", "00:00", "24:00")}})
	MustSetBusinessHours(t, s, models.BusinessHours{DepartmentID: b.ID, TimeZone: "UTC"})
	all, err := s.AllBusinessHours(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("AllBusinessHours = %d, %v; want 3", len(all), err)
	}
	if all[0].DepartmentID != "" || all[1].DepartmentID > all[2].DepartmentID {
		t.Errorf("AllBusinessHours order: %q, %q, %q; want the shop's first, then by department", all[0].DepartmentID, all[1].DepartmentID, all[2].DepartmentID)
	}
	if got := models.HoursFor(all, a.ID); got == nil || !sameHours(got, ha) {
		t.Errorf("HoursFor(Sales) = %+v; want its override", got)
	}
	if got := models.HoursFor(all, ""); got == nil || !sameHours(got, shop) {
		t.Errorf("HoursFor(no department) = %+v; want the shop's", got)
	}
	// Deleting a department deletes its override with it.
	if err := s.DeleteDepartment(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.BusinessHours(ctx, b.ID)
	wantCode(t, "override of a deleted department", err, models.ENOTFOUND)
	// Deleting an override: the department follows the shop's hours again.
	if err := s.DeleteBusinessHours(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	all, _ = s.AllBusinessHours(ctx)
	if got := models.HoursFor(all, a.ID); got == nil || !sameHours(got, shop) {
		t.Errorf("after deleting the override, HoursFor(Sales) = %+v; want the shop's", got)
	}
}

// testHoursConcurrent: schedules written at once each land whole; the one
// read afterwards is one of them, never a mix.
func testHoursConcurrent(t *testing.T, s models.Store) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := models.BusinessHours{TimeZone: "UTC", Weekly: []models.OpeningSpan{Span("mon", fmt.Sprintf("%02d:00", i), "23:00")},
				ClosedDates: []string{fmt.Sprintf("2026-01-%02d", i+1)}}
			errs[i] = s.SetBusinessHours(ctx, &h, At(i))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("set %d: %v", i, err)
		}
	}
	got, err := s.BusinessHours(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Weekly) != 1 || len(got.ClosedDates) != 1 {
		t.Fatalf("after concurrent sets: %+v; want one of the schedules", got)
	}
	var i int
	fmt.Sscanf(got.Weekly[0].Open, "%02d:00", &i)
	if got.ClosedDates[0] != fmt.Sprintf("2026-01-%02d", i+1) {
		t.Errorf("schedule mixes two writes: opens %s, closed %s", got.Weekly[0].Open, got.ClosedDates[0])
	}
}
