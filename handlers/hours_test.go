package handlers_test

import (
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
)

type hoursBody struct {
	BusinessHours struct {
		TimeZone    string               `json:"time_zone"`
		Weekly      []models.OpeningSpan `json:"weekly"`
		ClosedDates []string             `json:"closed_dates"`
		OpenNow     bool                 `json:"open_now"`
		OpensAt     *time.Time           `json:"opens_at"`
	} `json:"business_hours"`
}

func everyDay(open, close string) []map[string]string {
	var out []map[string]string
	for _, d := range models.Days {
		out = append(out, map[string]string{"day": d, "open": open, "close": close})
	}
	return out
}

// TestBusinessHoursAPI: only admins set hours; bad ones are refused with a
// 400 and a JSON error, and nothing is stored.
func TestBusinessHoursAPI(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	agent := login(t, srv, "ana@shop.test", testPassword).AccessToken
	good := map[string]any{"time_zone": "Europe/Paris", "weekly": []map[string]string{{"day": "mon", "open": "09:00", "close": "18:00"}}}

	for _, tc := range []struct {
		name   string
		token  string
		body   any
		status int
		code   models.Code
	}{
		{"no login", "", good, 401, models.EUNAUTHORIZED},
		{"an agent", agent, good, 403, models.EFORBIDDEN},
		{"not JSON", admin, "{", 400, models.EINVALID},
		{"unknown zone", admin, map[string]any{"time_zone": "Europe/Atlantis", "weekly": good["weekly"]}, 400, models.EINVALID},
		{"no zone", admin, map[string]any{"weekly": good["weekly"]}, 400, models.EINVALID},
		{"bad time", admin, map[string]any{"time_zone": "UTC", "weekly": []map[string]string{{"day": "mon", "open": "9am", "close": "18:00"}}}, 400, models.EINVALID},
		{"closes before opening", admin, map[string]any{"time_zone": "UTC", "weekly": []map[string]string{{"day": "mon", "open": "18:00", "close": "09:00"}}}, 400, models.EINVALID},
		{"overlapping", admin, map[string]any{"time_zone": "UTC", "weekly": []map[string]string{
			{"day": "fri", "open": "09:00", "close": "13:00"}, {"day": "fri", "open": "12:00", "close": "18:00"}}}, 400, models.EINVALID},
		{"bad day", admin, map[string]any{"time_zone": "UTC", "weekly": []map[string]string{{"day": "someday", "open": "09:00", "close": "10:00"}}}, 400, models.EINVALID},
		{"bad date", admin, map[string]any{"time_zone": "UTC", "closed_dates": []string{"2025-13-01"}}, 400, models.EINVALID},
	} {
		var e apiError
		resp := request(t, "PUT", srv.URL+"/api/business-hours", tc.token, tc.body, &e)
		if resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
			t.Errorf("%s: HTTP %d %+v; want %d with code %q and a message", tc.name, resp.StatusCode, e, tc.status, tc.code)
		}
	}
	if all, err := srv.Store.AllBusinessHours(t.Context()); err != nil || len(all) != 0 {
		t.Fatalf("after refused requests: %d schedules stored (%v); want none", len(all), err)
	}
	var e apiError
	if resp := request(t, "PUT", srv.URL+"/api/departments/no-such-id/hours", admin, good, &e); resp.StatusCode != 404 || e.Error.Code != models.ENOTFOUND {
		t.Errorf("hours of an unknown department: HTTP %d %+v; want 404", resp.StatusCode, e)
	}

	var out hoursBody
	if resp := request(t, "PUT", srv.URL+"/api/business-hours", admin, good, &out); resp.StatusCode != 200 || out.BusinessHours.TimeZone != "Europe/Paris" || len(out.BusinessHours.Weekly) != 1 {
		t.Fatalf("valid hours: HTTP %d %+v", resp.StatusCode, out)
	}
	var list struct {
		Shop *struct {
			TimeZone string `json:"time_zone"`
		} `json:"shop"`
		Departments []any `json:"departments"`
	}
	if resp := request(t, "GET", srv.URL+"/api/business-hours", agent, nil, &list); resp.StatusCode != 200 || list.Shop == nil || list.Shop.TimeZone != "Europe/Paris" {
		t.Errorf("an agent reading the hours: HTTP %d %+v", resp.StatusCode, list)
	}
	if resp := request(t, "DELETE", srv.URL+"/api/business-hours", agent, nil, nil); resp.StatusCode != 403 {
		t.Errorf("an agent deleting the hours: HTTP %d, want 403", resp.StatusCode)
	}
	if resp := request(t, "DELETE", srv.URL+"/api/business-hours", admin, nil, nil); resp.StatusCode != 204 {
		t.Errorf("deleting the hours: HTTP %d, want 204", resp.StatusCode)
	}
	if resp := request(t, "DELETE", srv.URL+"/api/business-hours", admin, nil, &e); resp.StatusCode != 404 {
		t.Errorf("deleting hours twice: HTTP %d, want 404", resp.StatusCode)
	}
}

// TestOutsideBusinessHours: outside the shop's hours a new conversation is
// queued, the shopper is told the shop is closed and when it opens, and an
// agent who is online still gets it; a department whose own hours are open
// is not closed.
func TestOutsideBusinessHours(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	ana := srv.CreateAgent(t, "ana@shop.test", "Ana", models.RoleAgent, testPassword)
	desk := mustDepartment(t, srv, admin, "Night desk", "least-busy", ana.ID)

	// Open all day every day, except today and tomorrow in Shanghai: even
	// if midnight passes during the test, the next opening is the day
	// after tomorrow at 00:00.
	sh, _ := time.LoadLocation("Asia/Shanghai")
	now := time.Now().In(sh)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, sh)
	opens := today.AddDate(0, 0, 2)
	var out hoursBody
	resp := request(t, "PUT", srv.URL+"/api/business-hours", admin, map[string]any{"time_zone": "Asia/Shanghai",
		"weekly": everyDay("00:00", "24:00"), "closed_dates": []string{today.Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly)}}, &out)
	if resp.StatusCode != 200 || out.BusinessHours.OpenNow || out.BusinessHours.OpensAt == nil || !out.BusinessHours.OpensAt.Equal(opens) {
		t.Fatalf("closed today: HTTP %d %+v; want closed, opening %v", resp.StatusCode, out.BusinessHours, opens)
	}

	conn := connectAgent(t, srv, login(t, srv, "ana@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("c-1", "Are you open?").ConversationID
	u := shop.nextType("unavailable")
	if u.ConversationID != conv || u.Reason != "closed" || u.OpensAt == nil || !u.OpensAt.Equal(opens) {
		t.Errorf("unavailable frame %+v; want closed, opening %v", u, opens)
	}
	// Closed hours change what the shopper is told, not routing: Ana is
	// online and gets it.
	conn.waitConversation(conv, models.StatusAssigned)
	shop.waitConversation(conv, models.StatusAssigned)

	// The department's own hours are open: its shopper is not told the
	// shop is closed, and Ana gets that one too.
	if resp := request(t, "PUT", srv.URL+"/api/departments/"+desk+"/hours", admin,
		map[string]any{"time_zone": "UTC", "weekly": everyDay("00:00", "24:00")}, &out); resp.StatusCode != 200 || !out.BusinessHours.OpenNow {
		t.Fatalf("department hours: HTTP %d %+v", resp.StatusCode, out)
	}
	night := newShopper(t, srv, "")
	nc := night.sayIn(desk, "c-1", "Night desk?").ConversationID
	night.waitConversation(nc, models.StatusAssigned)
	for _, f := range night.held {
		if f.Type == "unavailable" {
			t.Errorf("shopper of a department whose hours are open got %+v", f)
		}
	}
	// Deleting the department deletes its hours.
	if resp := request(t, "DELETE", srv.URL+"/api/departments/"+desk, admin, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("delete department: HTTP %d", resp.StatusCode)
	}
	if _, err := srv.Store.BusinessHours(t.Context(), desk); models.ErrorCode(err) != models.ENOTFOUND {
		t.Errorf("hours of a deleted department: %v; want not found", err)
	}
}
