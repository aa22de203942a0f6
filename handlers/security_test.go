package handlers_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/handlers"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

func TestSecurityHeadersOnTheConsole(t *testing.T) {
	srv := startKeyed(t, nil)
	resp := request(t, "GET", srv.URL+"/console/", "", nil, nil)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("console CSP %q lacks %q", csp, want)
		}
	}
	scriptSrc, _, _ := strings.Cut(strings.SplitN(csp, "script-src", 2)[1], ";")
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(scriptSrc, "unsafe-inline") {
		t.Errorf("console CSP %q allows inline or eval'd scripts", csp)
	}
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	api := request(t, "GET", srv.URL+"/api/me", "", nil, nil)
	if api.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("API answers lack X-Content-Type-Options")
	}
}

func TestRefreshCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name   string
		https  bool
		secure bool
	}{{"plain http", false, false}, {"public URL https", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startKeyed(t, func(c *config.Config) {
				if tc.https {
					c.PublicURL = "https://" + c.Addr // TLS ends at a proxy in front
				}
			})
			srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
			resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "li@shop.test", "password": testPassword}, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("login: HTTP %d", resp.StatusCode)
			}
			c := refreshCookieOf(t, resp)
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tc.secure || c.Path != "/api/auth" {
				t.Errorf("cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Strict, Secure=%v, /api/auth",
					c.HttpOnly, c.SameSite, c.Secure, c.Path, tc.secure)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("token answer Cache-Control %q, want no-store", got)
			}
		})
	}
}

func TestStateChangingRequestsCheckOrigin(t *testing.T) {
	srv := startKeyed(t, nil)
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	tok := login(t, srv, "li@shop.test", testPassword).AccessToken
	evil := func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }
	for _, r := range []struct{ method, path string }{
		{"POST", "/api/auth/login"}, {"POST", "/api/auth/refresh"}, {"POST", "/api/auth/logout"},
		{"POST", "/api/me/password"}, {"POST", "/api/agents"}, {"PATCH", "/api/agents/x"},
	} {
		if got := request(t, r.method, srv.URL+r.path, tok, map[string]string{}, nil, evil).StatusCode; got != 403 {
			t.Errorf("%s %s from another origin: HTTP %d, want 403", r.method, r.path, got)
		}
	}
	// Reads are not state changes; the token still decides.
	if got := request(t, "GET", srv.URL+"/api/me", tok, nil, nil, evil).StatusCode; got != 200 {
		t.Errorf("GET /api/me from another origin: HTTP %d, want 200", got)
	}
	// The token was not revoked by the refused logout.
	if got := request(t, "GET", srv.URL+"/api/me", tok, nil, nil).StatusCode; got != 200 {
		t.Errorf("after a refused cross-origin logout the token stopped working: HTTP %d", got)
	}
}

func TestPasswordsAtTheHTTPLevel(t *testing.T) {
	srv := startKeyed(t, nil)
	admin := login(t, srv, apptest.AdminEmail, apptest.AdminPassword).AccessToken
	// New agents get a generated password, hashed at production cost.
	var created struct {
		Password string `json:"password"`
	}
	if got := request(t, "POST", srv.URL+"/api/agents", admin, map[string]any{"email": "max@shop.test", "name": "Max", "role": "agent"}, &created).StatusCode; got != 201 {
		t.Fatalf("creating an agent: HTTP %d", got)
	}
	stored, err := srv.Store.AgentByEmail(context.Background(), "max@shop.test")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(stored.PasswordHash)); err != nil || cost != 12 {
		t.Errorf("stored hash cost %d (%v), want bcrypt cost 12", cost, err)
	}
	if created.Password == "" || strings.Contains(stored.PasswordHash, created.Password) {
		t.Errorf("generated password missing or stored in clear")
	}
	tok := login(t, srv, "max@shop.test", created.Password).AccessToken
	change := func(tok, cur, next string) *http.Response {
		return request(t, "POST", srv.URL+"/api/me/password", tok, map[string]string{"current_password": cur, "new_password": next}, nil)
	}
	// 73 ASCII bytes, and 72 bytes plus one more multi-byte character.
	for _, long := range []string{strings.Repeat("p", 73), strings.Repeat("p", 71) + "é"} {
		if got := change(tok, created.Password, long).StatusCode; got != 400 {
			t.Errorf("changing to a %d-byte password: HTTP %d, want 400", len(long), got)
		}
	}
	max := strings.Repeat("p", 72)
	if got := change(tok, created.Password, max).StatusCode; got != 200 {
		t.Fatalf("changing to a 72-byte password: HTTP %d, want 200", got)
	}
	if got := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "max@shop.test", "password": max[:71] + "q"}, nil).StatusCode; got != 401 {
		t.Errorf("login with the 72nd byte wrong: HTTP %d, want 401", got)
	}
}

func retryAfterSeconds(t *testing.T, resp *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Errorf("Retry-After %q, want whole seconds ≥ 1", resp.Header.Get("Retry-After"))
	}
	return n
}

func TestLoginBackoffPerAccount(t *testing.T) {
	srv := startKeyed(t, func(c *config.Config) { c.LoginFailuresFree = 2 })
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	try := func(email, pw string) *http.Response {
		return request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": email, "password": pw}, nil)
	}
	for i := 0; i < 3; i++ {
		if got := try("li@shop.test", "wrong").StatusCode; got != 401 {
			t.Fatalf("failure %d: HTTP %d, want 401", i+1, got)
		}
	}
	resp := try("LI@shop.test ", testPassword) // even the right password waits; case and spaces do not dodge it
	if resp.StatusCode != 429 {
		t.Fatalf("login during the backoff: HTTP %d, want 429", resp.StatusCode)
	}
	retryAfterSeconds(t, resp)
	if got := try("bo@shop.test", testPassword).StatusCode; got != 200 {
		t.Errorf("another account: HTTP %d, want 200", got)
	}
	time.Sleep(1100 * time.Millisecond) // the first lock is 1 s
	if got := try("li@shop.test", testPassword).StatusCode; got != 200 {
		t.Errorf("after the lock: HTTP %d, want 200", got)
	}
}

func TestLoginAttemptsPerIP(t *testing.T) {
	t.Run("limited", func(t *testing.T) {
		srv := startKeyed(t, func(c *config.Config) { c.LoginAttemptsPerIP = 3 })
		for i := 0; i < 3; i++ {
			request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "x" + strconv.Itoa(i) + "@shop.test", "password": "guess"}, nil)
		}
		resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": apptest.AdminEmail, "password": apptest.AdminPassword}, nil)
		if resp.StatusCode != 429 {
			t.Fatalf("4th attempt from one address: HTTP %d, want 429", resp.StatusCode)
		}
		if n := retryAfterSeconds(t, resp); n > 15*60 {
			t.Errorf("Retry-After %d s, more than the window", n)
		}
	})
	t.Run("exempt address", func(t *testing.T) {
		srv := startKeyed(t, func(c *config.Config) { c.LoginAttemptsPerIP, c.RateLimitExempt = 3, []string{"127.0.0.0/8"} })
		for i := 0; i < 6; i++ {
			if got := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "x" + strconv.Itoa(i) + "@shop.test", "password": "guess"}, nil).StatusCode; got != 401 {
				t.Fatalf("attempt %d from an exempt address: HTTP %d, want 401", i+1, got)
			}
		}
	})
}

func TestConnectionsPerIP(t *testing.T) {
	hdr := func(xff string) http.Header {
		h := http.Header{"Origin": {"placeholder"}}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		return h
	}
	open := func(t *testing.T, srv *apptest.Server, xff string) int {
		h := hdr(xff)
		h.Set("Origin", srv.URL)
		c, resp, err := dial(t, srv.WSURL+"/ws/visitor", h)
		if err == nil {
			c.conn.Close()
			return 101
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		return resp.StatusCode
	}
	t.Run("socket address when no proxy is trusted", func(t *testing.T) {
		srv := startKeyed(t, func(c *config.Config) { c.ConnectionsPerMinute = 2 })
		got := []int{open(t, srv, "203.0.113.1"), open(t, srv, "203.0.113.2"), open(t, srv, "203.0.113.3")}
		if got[0] != 101 || got[1] != 101 || got[2] != 429 {
			t.Errorf("statuses %v, want [101 101 429]: X-Forwarded-For must be ignored", got)
		}
	})
	t.Run("forwarded address behind a trusted proxy", func(t *testing.T) {
		srv := startKeyed(t, func(c *config.Config) { c.ConnectionsPerMinute, c.TrustedProxies = 2, []string{"127.0.0.1"} })
		got := []int{open(t, srv, "203.0.113.1"), open(t, srv, "203.0.113.1"), open(t, srv, "203.0.113.1"), open(t, srv, "203.0.113.2")}
		if got[0] != 101 || got[1] != 101 || got[2] != 429 || got[3] != 101 {
			t.Errorf("statuses %v, want [101 101 429 101]", got)
		}
		// A spoofed left-most entry does not help: the proxy's own entry counts.
		if s := open(t, srv, "198.51.100.9, 203.0.113.1"); s != 429 {
			t.Errorf("spoofed X-Forwarded-For: %d, want 429", s)
		}
	})
}

func TestClientIP(t *testing.T) {
	nets := func(s ...string) []*net.IPNet {
		var out []*net.IPNet
		for _, c := range s {
			_, n, err := net.ParseCIDR(c)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		return out
	}
	trusted := nets("10.0.0.0/8", "127.0.0.1/32")
	cases := []struct {
		name, remote string
		xff          []string
		trusted      []*net.IPNet
		want         string
	}{
		{"no proxies trusted", "198.51.100.1", []string{"203.0.113.5"}, nil, "198.51.100.1"},
		{"untrusted peer's header ignored", "198.51.100.1", []string{"203.0.113.5"}, trusted, "198.51.100.1"},
		{"one trusted hop", "10.0.0.2", []string{"203.0.113.5"}, trusted, "203.0.113.5"},
		{"spoofed left entries skipped", "10.0.0.2", []string{"1.1.1.1, 2.2.2.2, 203.0.113.5"}, trusted, "203.0.113.5"},
		{"two trusted hops", "127.0.0.1", []string{"203.0.113.5, 10.1.2.3"}, trusted, "203.0.113.5"},
		{"several header lines", "127.0.0.1", []string{"9.9.9.9", "203.0.113.5, 10.1.2.3"}, trusted, "203.0.113.5"},
		{"all hops trusted", "127.0.0.1", []string{"10.9.9.9, 10.1.2.3"}, trusted, "10.9.9.9"},
		{"garbage entry stops at last trusted hop", "127.0.0.1", []string{"203.0.113.5, nonsense, 10.1.2.3"}, trusted, "10.1.2.3"},
		{"no header", "10.0.0.2", nil, trusted, "10.0.0.2"},
		{"port and IPv6", "10.0.0.2", []string{"[2001:db8::1]:4711"}, trusted, "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := handlers.ClientIP(net.ParseIP(tc.remote), tc.xff, tc.trusted)
			if got.String() != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConversationsPerIP(t *testing.T) {
	srv := startKeyed(t, func(c *config.Config) { c.ConversationsPerHour = 2 })
	for i := 0; i < 2; i++ {
		newShopper(t, srv, "").say("c", "hello")
	}
	s := newShopper(t, srv, "")
	s.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: "c", Body: "hello"})
	s.waitError(models.ERATELIMIT, "c")
	if _, err := srv.Store.OpenConversationOf(context.Background(), s.visitorID); models.ErrorCode(err) != models.ENOTFOUND {
		t.Errorf("a conversation was opened over the limit: %v", err)
	}
}

func TestVerifiedIdentity(t *testing.T) {
	const secret, previous = "shop-identity-secret-2025", "shop-identity-secret-2024"
	srv := startKeyed(t, func(c *config.Config) { c.IdentitySecret, c.IdentitySecretPrevious = secret, previous })
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	agent := connectAgent(t, srv, login(t, srv, "li@shop.test", testPassword).AccessToken)
	sign := func(key, id string, exp time.Time) string {
		return auth.SignIdentity([]byte(key), auth.Identity{ID: id, Name: "Ana " + id, Email: id + "@mail.test", ExpiresAt: exp})
	}
	hello := func(token, identity string) wire.ServerFrame {
		c := mustDial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
		c.send(wire.ClientFrame{Type: wire.TypeHello, Token: token, Identity: identity})
		return c.nextType(wire.TypeWelcome)
	}
	soon := time.Now().Add(time.Hour)
	cases := []struct {
		name, identity string
		verified       bool
	}{
		{"current secret", sign(secret, "c-1", soon), true},
		{"previous secret during rotation", sign(previous, "c-2", soon), true},
		{"another secret", sign("someone-elses-secret-xyz", "c-3", soon), false},
		{"expired", sign(secret, "c-4", time.Now().Add(-time.Hour)), false},
		{"tampered", strings.Replace(sign(secret, "c-5", soon), "v1.", "v1.e", 1), false},
		{"garbage", "not an identity", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := hello("", tc.identity)
			if w.Visitor.Verified != tc.verified {
				t.Fatalf("welcome verified=%v, want %v", w.Visitor.Verified, tc.verified)
			}
			v, err := srv.Store.Visitor(context.Background(), w.Visitor.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tc.verified != (v.Verified && v.Name != "" && v.ExternalID != "") || (!tc.verified && (v.Name != "" || v.Email != "" || v.ExternalID != "")) {
				t.Errorf("stored %+v, want verified=%v and names only when verified", v, tc.verified)
			}
		})
	}
	t.Run("agents see verified", func(t *testing.T) {
		c := mustDial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
		c.send(wire.ClientFrame{Type: wire.TypeHello, Identity: sign(secret, "c-9", soon)})
		c.nextType(wire.TypeWelcome)
		c.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: "m", Body: "where is my order?"})
		ack := c.next("ack", func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck })
		f := agent.waitConversation(ack.ConversationID, models.StatusAssigned)
		if v := f.Conversation.Visitor; v == nil || !v.Verified || v.Name != "Ana c-9" {
			t.Errorf("agent sees visitor %+v, want verified Ana c-9", v)
		}
	})
	t.Run("another customer on the same browser gets a new visitor", func(t *testing.T) {
		first := hello("", sign(secret, "alice", soon))
		second := hello(first.Token, sign(secret, "bob", soon))
		if second.Visitor.ID == first.Visitor.ID || second.Token == first.Token {
			t.Errorf("bob was given alice's visitor %s", first.Visitor.ID)
		}
		again := hello(first.Token, sign(secret, "alice", soon))
		if again.Visitor.ID != first.Visitor.ID {
			t.Errorf("alice returning got a new visitor")
		}
	})
}
