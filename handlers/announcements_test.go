package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// annRecord is an announcement as GET /api/announcements shows it.
type annRecord struct {
	ID          string     `json:"id"`
	Text        string     `json:"text"`
	Link        string     `json:"link"`
	Level       string     `json:"level"`
	Status      string     `json:"status"`
	PagePattern string     `json:"page_pattern"`
	Langs       []string   `json:"langs"`
	SentAt      *time.Time `json:"sent_at"`
	EndedAt     *time.Time `json:"ended_at"`
	Delivered   int64      `json:"delivered"`
	Seen        int64      `json:"seen"`
}

// annFrame is an announcement or announcement_withdrawn frame, which
// wire.ServerFrame does not describe yet.
type annFrame struct {
	Type         string `json:"type"`
	Announcement *struct {
		ID    string `json:"id"`
		Text  string `json:"text"`
		Link  string `json:"link"`
		Level string `json:"level"`
	} `json:"announcement"`
	AnnouncementID string `json:"announcement_id"`
	Reason         string `json:"reason"`
}

// rawClient is a websocket client that keeps frames raw, so that frames
// outside wire.ServerFrame can be checked.
type rawClient struct {
	t    testing.TB
	conn *websocket.Conn
	raw  chan []byte
}

func dialRaw(t *testing.T, url string, h http.Header) *rawClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	c := &rawClient{t: t, conn: conn, raw: make(chan []byte, 1024)}
	go func() {
		defer close(c.raw)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			c.raw <- data
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *rawClient) send(v any) {
	c.t.Helper()
	data, _ := json.Marshal(v)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// shopperAt connects a shopper on page speaking lang and returns it after
// its welcome.
func shopperAt(t *testing.T, srv *apptest.Server, page, lang string) *rawClient {
	t.Helper()
	c := dialRaw(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
	c.send(wire.ClientFrame{Type: wire.TypeHello, Lang: lang, Page: &wire.Page{URL: page, Title: "Shop"}})
	c.nextRaw("welcome", func(f annFrame, _ []byte) bool { return f.Type == wire.TypeWelcome })
	return c
}

// consoleOf connects an agent's console socket and returns it after its
// welcome.
func consoleOf(t *testing.T, srv *apptest.Server, token string) *rawClient {
	t.Helper()
	c := dialRaw(t, srv.WSURL+"/ws/agent", agentHeader(srv, token))
	c.nextRaw("welcome", func(f annFrame, _ []byte) bool { return f.Type == wire.TypeWelcome })
	return c
}

// nextRaw returns the next frame matching match.
func (c *rawClient) nextRaw(what string, match func(annFrame, []byte) bool) annFrame {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case raw, ok := <-c.raw:
			if !ok {
				c.t.Fatalf("waiting for %s: connection closed", what)
			}
			var f annFrame
			if err := json.Unmarshal(raw, &f); err != nil {
				c.t.Fatalf("bad frame %s: %v", raw, err)
			}
			if match(f, raw) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("waiting for %s: none within 10s", what)
		}
	}
}

func (c *rawClient) waitErrorRaw(code models.Code, ref string) {
	c.t.Helper()
	c.nextRaw("error "+string(code), func(_ annFrame, raw []byte) bool {
		var f wire.ServerFrame
		_ = json.Unmarshal(raw, &f)
		return f.Type == wire.TypeError && f.Code == code && f.Ref == ref
	})
}

func (c *rawClient) announcement(id string) annFrame {
	c.t.Helper()
	return c.nextRaw("announcement "+id, func(f annFrame, _ []byte) bool {
		return f.Type == "announcement" && f.Announcement != nil && f.Announcement.ID == id
	})
}

func (c *rawClient) withdrawn(id, reason string) annFrame {
	c.t.Helper()
	return c.nextRaw("withdrawal of "+id, func(f annFrame, _ []byte) bool {
		return f.Type == "announcement_withdrawn" && f.AnnouncementID == id && f.Reason == reason
	})
}

// noAnnouncement checks that no announcement frame arrives for a moment
// (it cannot fail falsely; it may miss a very late frame).
func (c *rawClient) noAnnouncement(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case raw, ok := <-c.raw:
			if !ok {
				return
			}
			if strings.Contains(string(raw), `"type":"announcement"`) {
				c.t.Fatalf("unexpected announcement frame %s", raw)
			}
		case <-deadline:
			return
		}
	}
}

func idem(key string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Idempotency-Key", key) }
}

func announce(t *testing.T, srv *apptest.Server, token string, body any, mods ...func(*http.Request)) (annRecord, *http.Response) {
	t.Helper()
	var out annRecord
	resp := request(t, "POST", srv.URL+"/api/announcements", token, body, &out, mods...)
	return out, resp
}

func history(t *testing.T, srv *apptest.Server, token string) []annRecord {
	t.Helper()
	var out struct {
		Announcements []annRecord `json:"announcements"`
	}
	if resp := request(t, "GET", srv.URL+"/api/announcements", token, nil, &out); resp.StatusCode != 200 {
		t.Fatalf("GET /api/announcements: HTTP %d", resp.StatusCode)
	}
	return out.Announcements
}

// waitRecord polls the history until ok holds for the announcement id.
func waitRecord(t *testing.T, srv *apptest.Server, token, id string, what string, ok func(annRecord) bool) annRecord {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last annRecord
	for time.Now().Before(deadline) {
		for _, r := range history(t, srv, token) {
			if r.ID == id {
				last = r
				if ok(r) {
					return r
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("announcement %s: %s not reached within 15s; last %+v", id, what, last)
	return last
}

func TestAnnouncementsEndToEnd(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	console := consoleOf(t, srv, admin.AccessToken)
	s1 := shopperAt(t, srv, srv.URL+"/cart", "en")
	s2 := shopperAt(t, srv, srv.URL+"/", "fr")

	const text = `<b>Flash sale</b> & <script>alert(1)</script>: 20% off`
	body := map[string]any{"text": text, "link": "https://shop.example/sale", "level": "promotion"}
	rec, resp := announce(t, srv, admin.AccessToken, body, idem("sale-1"))
	if resp.StatusCode != http.StatusCreated || rec.ID == "" || rec.Status != "active" || rec.SentAt == nil {
		t.Fatalf("POST: HTTP %d, %+v; want 201 and an active announcement", resp.StatusCode, rec)
	}
	for name, c := range map[string]*rawClient{"s1": s1, "s2": s2, "console": console} {
		f := c.announcement(rec.ID)
		if f.Announcement.Text != text || f.Announcement.Link != "https://shop.example/sale" || f.Announcement.Level != "promotion" {
			t.Errorf("%s got %+v, want the text unchanged, the link and the level", name, *f.Announcement)
		}
	}

	t.Run("idempotent retry", func(t *testing.T) {
		again, resp := announce(t, srv, admin.AccessToken, map[string]any{"text": "other", "level": "info"}, idem("sale-1"))
		if resp.StatusCode != http.StatusOK || again.ID != rec.ID || again.Text != text || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: HTTP %d %+v; want 200 with the first announcement", resp.StatusCode, again)
		}
		if n := len(history(t, srv, admin.AccessToken)); n != 1 {
			t.Fatalf("%d announcements stored after a retry, want 1", n)
		}
		s1.noAnnouncement(300 * time.Millisecond)
	})

	late := shopperAt(t, srv, srv.URL+"/late", "de")
	late.announcement(rec.ID)

	for _, c := range []*rawClient{s1, late, s1} { // s1 twice: counted once
		c.send(map[string]string{"type": "seen", "announcement_id": rec.ID})
	}
	// Refused, each with a stable code, and nothing counted: an unknown
	// id, no id, an overlong one, and the id where widgets before
	// announcement_id put it.
	s2.send(map[string]string{"type": "seen", "announcement_id": "no-such-announcement"})
	s2.waitErrorRaw(models.ENOTFOUND, "no-such-announcement")
	s2.send(map[string]string{"type": "seen"})
	s2.waitErrorRaw(models.EINVALID, "seen")
	s2.send(map[string]string{"type": "seen", "announcement_id": strings.Repeat("x", 65)})
	s2.waitErrorRaw(models.EINVALID, strings.Repeat("x", 64))
	s2.send(map[string]string{"type": "seen", "client_id": rec.ID})
	s2.waitErrorRaw(models.EINVALID, rec.ID)
	waitRecord(t, srv, admin.AccessToken, rec.ID, "seen 2, delivered 4", func(r annRecord) bool {
		return r.Seen == 2 && r.Delivered == 4 // s1, s2, console, late
	})

	var withdrawn annRecord
	if resp := request(t, "POST", srv.URL+"/api/announcements/"+rec.ID+"/withdraw", admin.AccessToken, nil, &withdrawn); resp.StatusCode != 200 || withdrawn.Status != "withdrawn" {
		t.Fatalf("withdraw: HTTP %d %+v", resp.StatusCode, withdrawn)
	}
	for _, c := range []*rawClient{s1, s2, late, console} {
		c.withdrawn(rec.ID, "withdrawn")
	}
	var e apiError
	if resp := request(t, "POST", srv.URL+"/api/announcements/"+rec.ID+"/withdraw", admin.AccessToken, nil, &e); resp.StatusCode != http.StatusConflict {
		t.Fatalf("second withdraw: HTTP %d, want 409", resp.StatusCode)
	}
	if resp := request(t, "POST", srv.URL+"/api/announcements/nope/withdraw", admin.AccessToken, nil, &e); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("withdraw unknown: HTTP %d, want 404", resp.StatusCode)
	}
	after := shopperAt(t, srv, srv.URL+"/", "en")
	after.noAnnouncement(300 * time.Millisecond)
}

func TestAnnouncementTargeting(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	german := shopperAt(t, srv, srv.URL+"/sale/shoes", "de-DE")
	english := shopperAt(t, srv, srv.URL+"/sale/shoes", "en")
	elsewhere := shopperAt(t, srv, srv.URL+"/cart", "de")
	console := consoleOf(t, srv, admin.AccessToken)

	rec, resp := announce(t, srv, admin.AccessToken, map[string]any{"text": "Sommerschlussverkauf", "level": "promotion",
		"page_pattern": srv.URL + "/sale/*", "langs": []string{"de"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: HTTP %d", resp.StatusCode)
	}
	if rec.PagePattern != srv.URL+"/sale/*" || fmt.Sprint(rec.Langs) != "[de]" {
		t.Fatalf("record %+v lacks its targeting", rec)
	}
	german.announcement(rec.ID)
	console.announcement(rec.ID) // agents see every announcement
	lateGerman := shopperAt(t, srv, srv.URL+"/sale/hats", "de")
	lateGerman.announcement(rec.ID)
	lateEnglish := shopperAt(t, srv, srv.URL+"/sale/hats", "en-GB")
	for _, c := range []*rawClient{english, elsewhere, lateEnglish} {
		c.noAnnouncement(300 * time.Millisecond)
	}
}

func TestAnnouncementScheduleAndExpiry(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	shopper := shopperAt(t, srv, srv.URL+"/", "en")

	now := time.Now().UTC()
	starts, expires := now.Add(1500*time.Millisecond), now.Add(3*time.Second)
	rec, resp := announce(t, srv, admin.AccessToken, map[string]any{"text": "Maintenance soon", "level": "warning",
		"starts_at": starts, "expires_at": expires})
	if resp.StatusCode != http.StatusCreated || rec.Status != "scheduled" || rec.SentAt != nil {
		t.Fatalf("POST: HTTP %d %+v; want 201 and scheduled", resp.StatusCode, rec)
	}
	f := shopper.announcement(rec.ID)
	if time.Now().Before(starts) {
		t.Fatalf("announcement arrived before its start")
	}
	if f.Announcement.Level != "warning" {
		t.Fatalf("level %q", f.Announcement.Level)
	}
	shopper.withdrawn(rec.ID, "expired")
	if time.Now().Before(expires) {
		t.Fatalf("expiry arrived before expires_at")
	}
	waitRecord(t, srv, admin.AccessToken, rec.ID, "status expired", func(r annRecord) bool { return r.Status == "expired" && r.EndedAt != nil })
}

func TestAnnouncementsRefused(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	srv.CreateAgent(t, "agent@example.com", "Agent", models.RoleAgent, testPassword)
	agent := login(t, srv, "agent@example.com", testPassword)
	shopper := shopperAt(t, srv, srv.URL+"/", "en")
	good := map[string]any{"text": "hello", "level": "info"}

	for _, tc := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"post without token", "POST", "/api/announcements", "", 401},
		{"list without token", "GET", "/api/announcements", "", 401},
		{"post as agent", "POST", "/api/announcements", agent.AccessToken, 403},
		{"list as agent", "GET", "/api/announcements", agent.AccessToken, 403},
		{"withdraw as agent", "POST", "/api/announcements/x/withdraw", agent.AccessToken, 403},
		{"bad token", "POST", "/api/announcements", "not-a-token", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			if resp := request(t, tc.method, srv.URL+tc.path, tc.token, good, &e); resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	past := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"malformed JSON", `{"text":`, 400},
		{"no body", nil, 400},
		{"empty text", map[string]any{"text": "", "level": "info"}, 400},
		{"bad level", map[string]any{"text": "x", "level": "urgent"}, 400},
		{"javascript link", map[string]any{"text": "x", "level": "info", "link": "javascript:alert(1)"}, 400},
		{"ftp link", map[string]any{"text": "x", "level": "info", "link": "ftp://shop.example/"}, 400},
		{"expired on arrival", map[string]any{"text": "x", "level": "info", "expires_at": past}, 400},
		{"expiry before start", map[string]any{"text": "x", "level": "info", "starts_at": time.Now().Add(2 * time.Hour), "expires_at": time.Now().Add(time.Hour)}, 400},
		{"bad time", map[string]any{"text": "x", "level": "info", "starts_at": "tomorrow"}, 400},
		{"text too long", map[string]any{"text": strings.Repeat("x", models.MaxAnnouncementText+1), "level": "info"}, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			resp := request(t, "POST", srv.URL+"/api/announcements", admin.AccessToken, tc.body, &e, idem("k-"+tc.name))
			if resp.StatusCode != tc.want {
				t.Fatalf("HTTP %d (%+v), want %d", resp.StatusCode, e, tc.want)
			}
		})
	}
	if h := history(t, srv, admin.AccessToken); len(h) != 0 {
		t.Fatalf("%d announcements stored by refused requests, want 0", len(h))
	}
	shopper.noAnnouncement(200 * time.Millisecond)
}

func TestMetricsEndpoint(t *testing.T) {
	const token = "metrics-token-0123456789"
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.MetricsToken = token
		c.MetricsAddr = "127.0.0.1:0"
	}})
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword)
	shopperAt(t, srv, srv.URL+"/", "en")
	if _, resp := announce(t, srv, admin.AccessToken, map[string]any{"text": "hi", "level": "info"}); resp.StatusCode != 201 {
		t.Fatalf("announce: HTTP %d", resp.StatusCode)
	}
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, base := range []string{srv.URL, "http://" + srv.App.MetricsAddr()} {
		if code, _ := get(base+"/metrics", ""); code != 401 {
			t.Errorf("%s/metrics without token: HTTP %d, want 401", base, code)
		}
		if code, _ := get(base+"/metrics", "wrong-token-0123456789"); code != 401 {
			t.Errorf("%s/metrics with a wrong token: HTTP %d, want 401", base, code)
		}
		code, body := get(base+"/metrics", token)
		if code != 200 {
			t.Fatalf("%s/metrics: HTTP %d", base, code)
		}
		for _, want := range []string{"kefu_connected_shoppers 1", "kefu_connected_agents 0", "kefu_announcements_sent_total 1",
			`kefu_events_published_total{type="announcement"} 1`, `kefu_fanout_seconds_count{type="announcement"}`,
			"kefu_slow_clients_cut_off_total", "kefu_messages_stored_total 0", "kefu_queue_length"} {
			if want == "kefu_slow_clients_cut_off_total" {
				continue // a vector with no cut-offs yet has no samples
			}
			if !strings.Contains(body, want) {
				t.Errorf("%s/metrics lacks %q", base, want)
			}
		}
	}

	// The profiler: on the private address only, behind the same token.
	pprofPath := "/debug/pprof/goroutine?debug=1"
	if code, _ := get("http://"+srv.App.MetricsAddr()+pprofPath, ""); code != 401 {
		t.Errorf("profiler without token: HTTP %d, want 401", code)
	}
	if code, body := get("http://"+srv.App.MetricsAddr()+pprofPath, token); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("profiler with token: HTTP %d", code)
	}
	if code, body := get(srv.URL+pprofPath, token); code == 200 && strings.Contains(body, "goroutine profile") {
		t.Errorf("the profiler is served on the public address")
	}

	t.Run("off by default", func(t *testing.T) {
		plain := apptest.Start(t, apptest.Options{})
		if code, body := get(plain.URL+"/metrics", ""); code == 200 || strings.Contains(body, "kefu_") {
			t.Fatalf("/metrics without a token configured: HTTP %d; want it not served", code)
		}
		if plain.App.MetricsAddr() != "" {
			t.Fatalf("a metrics listener without KEFU_METRICS_ADDR")
		}
	})
}
