package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// refreshCookie returns the kefu_refresh cookie a response set.
func refreshCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "kefu_refresh" {
			return c
		}
	}
	t.Fatalf("no kefu_refresh cookie in %v", resp.Header["Set-Cookie"])
	return nil
}

func withCookie(c *http.Cookie) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value}) }
}

func TestLoginRefreshLogout(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "l@shop.test", "Lin", models.RoleAgent, testPassword)

	var body loginBody
	resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "L@Shop.Test", "password": testPassword}, &body)
	if resp.StatusCode != 200 || body.AccessToken == "" || body.Agent.Email != "l@shop.test" {
		t.Fatalf("login: HTTP %d %+v", resp.StatusCode, body)
	}
	if ttl := time.Until(body.ExpiresAt); ttl <= 0 || ttl > 15*time.Minute+time.Minute {
		t.Errorf("access token lives %s, want at most 15m", ttl)
	}
	c1 := refreshCookie(t, resp)
	if !c1.HttpOnly || c1.SameSite != http.SameSiteStrictMode || c1.Path != "/api/auth" || c1.Secure {
		t.Errorf("refresh cookie %+v: want HttpOnly, SameSite=Strict, Path=/api/auth, not Secure over http", c1)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}

	var me struct {
		Agent wire.AgentView `json:"agent"`
	}
	if resp := request(t, "GET", srv.URL+"/api/me", body.AccessToken, nil, &me); resp.StatusCode != 200 || me.Agent.Name != "Lin" {
		t.Fatalf("me: HTTP %d %+v", resp.StatusCode, me)
	}

	// Refresh rotates: the new cookie works once, the old one never again.
	var r1 loginBody
	resp = request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, &r1, withCookie(c1))
	if resp.StatusCode != 200 || r1.AccessToken == "" {
		t.Fatalf("refresh: HTTP %d", resp.StatusCode)
	}
	c2 := refreshCookie(t, resp)
	if c2.Value == c1.Value {
		t.Fatal("refresh did not rotate the cookie")
	}
	var r2 loginBody
	resp = request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, &r2, withCookie(c2))
	if resp.StatusCode != 200 {
		t.Fatalf("second refresh: HTTP %d", resp.StatusCode)
	}
	c3 := refreshCookie(t, resp)

	// Reusing an old token revokes the family: the newest stops working too.
	if resp := request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, nil, withCookie(c1)); resp.StatusCode != 401 {
		t.Errorf("reused refresh token: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, nil, withCookie(c3)); resp.StatusCode != 401 {
		t.Errorf("newest token of a revoked family: HTTP %d, want 401", resp.StatusCode)
	}

	// Logout ends every session: tokens stop working, sockets close 4503.
	fresh := login(t, srv, "l@shop.test", testPassword)
	sock := connectAgent(t, srv, fresh.AccessToken)
	if resp := request(t, "POST", srv.URL+"/api/auth/logout", fresh.AccessToken, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("logout: HTTP %d", resp.StatusCode)
	}
	sock.expectClose(wire.CloseRevoked)
	for _, tok := range []string{fresh.AccessToken, body.AccessToken, r2.AccessToken} {
		if resp := request(t, "GET", srv.URL+"/api/me", tok, nil, nil); resp.StatusCode != 401 {
			t.Errorf("token after logout: HTTP %d, want 401", resp.StatusCode)
		}
	}
}

func TestRefreshWithoutCookie(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for _, c := range []*http.Cookie{nil, {Name: "kefu_refresh", Value: "kr_forged"}, {Name: "kefu_refresh", Value: "kr_" + strings.Repeat("A", 43)}} {
		var mods []func(*http.Request)
		if c != nil {
			mods = append(mods, withCookie(c))
		}
		var e apiError
		if resp := request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, &e, mods...); resp.StatusCode != 401 || e.Error.Code != models.EUNAUTHORIZED {
			t.Errorf("refresh with %v: HTTP %d %+v, want 401", c, resp.StatusCode, e)
		}
	}
}

func TestStateChangingRequestsFromOtherOrigins(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "o@shop.test", "O", models.RoleAgent, testPassword)
	resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "o@shop.test", "password": testPassword}, nil,
		func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") })
	if resp.StatusCode != 403 {
		t.Errorf("login from another origin: HTTP %d, want 403", resp.StatusCode)
	}
	resp = request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "o@shop.test", "password": testPassword}, nil,
		func(r *http.Request) { r.Header.Set("Origin", srv.URL) })
	if resp.StatusCode != 200 {
		t.Errorf("login from Kefu's own origin: HTTP %d, want 200", resp.StatusCode)
	}
}

func TestChangePasswordRevokesOtherSessions(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "p@shop.test", "P", models.RoleAgent, testPassword)
	old := login(t, srv, "p@shop.test", testPassword)
	sock := connectAgent(t, srv, old.AccessToken)

	var e apiError
	resp := request(t, "POST", srv.URL+"/api/me/password", old.AccessToken, map[string]string{"current_password": "wrong-wrong-wrong", "new_password": "a-new-password-42"}, &e)
	if resp.StatusCode != 401 {
		t.Errorf("wrong current password: HTTP %d, want 401", resp.StatusCode)
	}
	resp = request(t, "POST", srv.URL+"/api/me/password", old.AccessToken, map[string]string{"current_password": testPassword, "new_password": "short"}, &e)
	if resp.StatusCode != 400 {
		t.Errorf("too short a new password: HTTP %d, want 400", resp.StatusCode)
	}
	resp = request(t, "POST", srv.URL+"/api/me/password", old.AccessToken, map[string]string{"current_password": testPassword, "new_password": strings.Repeat("é", 37)}, &e)
	if resp.StatusCode != 400 {
		t.Errorf("a new password over 72 bytes: HTTP %d, want 400", resp.StatusCode)
	}
	var fresh loginBody
	resp = request(t, "POST", srv.URL+"/api/me/password", old.AccessToken, map[string]string{"current_password": testPassword, "new_password": "a-new-password-42"}, &fresh)
	if resp.StatusCode != 200 || fresh.AccessToken == "" {
		t.Fatalf("change password: HTTP %d", resp.StatusCode)
	}
	sock.expectClose(wire.CloseRevoked)
	if resp := request(t, "GET", srv.URL+"/api/me", old.AccessToken, nil, nil); resp.StatusCode != 401 {
		t.Errorf("old token after password change: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := request(t, "GET", srv.URL+"/api/me", fresh.AccessToken, nil, nil); resp.StatusCode != 200 {
		t.Errorf("new token: HTTP %d, want 200", resp.StatusCode)
	}
	login(t, srv, "p@shop.test", "a-new-password-42")
}

func TestSocketClosesWhenTokenExpiresUnlessRenewed(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) { c.AccessTTL = 4 * time.Second }})
	srv.CreateAgent(t, "x@shop.test", "X", models.RoleAgent, testPassword)

	lapsing := connectAgent(t, srv, login(t, srv, "x@shop.test", testPassword).AccessToken)
	renewed := connectAgent(t, srv, login(t, srv, "x@shop.test", testPassword).AccessToken)
	// Renew one socket well before expiry (tokens are stamped in whole
	// seconds, so a fresh one outlives the first).
	time.Sleep(1100 * time.Millisecond)
	renewed.send(wire.ClientFrame{Type: wire.TypeAuth, Token: login(t, srv, "x@shop.test", testPassword).AccessToken})
	ok := renewed.nextType(wire.TypeAuthOK)
	if ok.ExpiresAt == nil || !ok.ExpiresAt.After(*lapsing.welcome.ExpiresAt) {
		t.Fatalf("auth_ok expiry %v, want after %v", ok.ExpiresAt, lapsing.welcome.ExpiresAt)
	}
	renewed.send(wire.ClientFrame{Type: wire.TypeAuth, Token: "garbage"})
	renewed.waitError(models.EUNAUTHORIZED, "auth")

	lapsing.expectClose(wire.CloseTokenExpired)
	// The renewed socket outlived the first token.
	renewed.send(wire.ClientFrame{Type: wire.TypeStatus, Status: "away"})
	if f := renewed.nextType(wire.TypeStatus); f.Status != "away" {
		t.Errorf("status echo %q, want away", f.Status)
	}
}

func TestCLIStyleDisableReachesOpenSockets(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.CreateAgent(t, "d@shop.test", "D", models.RoleAgent, testPassword)
	sock := connectAgent(t, srv, login(t, srv, "d@shop.test", testPassword).AccessToken)
	// A change written straight to the database, as the CLI in another
	// process does: no bus event tells the server.
	yes := true
	if _, err := srv.Store.UpdateAgent(context.Background(), a.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sock.expectClose(wire.CloseRevoked)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("socket closed after %s, want within 10s", d)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	var h map[string]string
	if resp := request(t, "GET", srv.URL+"/healthz", "", nil, &h); resp.StatusCode != 200 || h["status"] != "ok" {
		t.Errorf("healthz: HTTP %d %v", resp.StatusCode, h)
	}
	if resp := request(t, "GET", srv.URL+"/readyz", "", nil, &h); resp.StatusCode != 200 || h["database"] != "ok" || h["bus"] != "ok" {
		t.Errorf("readyz: HTTP %d %v", resp.StatusCode, h)
	}
	srv.Store.Close()
	if resp := request(t, "GET", srv.URL+"/readyz", "", nil, &h); resp.StatusCode != 503 || h["database"] == "ok" {
		t.Errorf("readyz with the database closed: HTTP %d %v, want 503", resp.StatusCode, h)
	}
}
