package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// forge signs claims with alg and key; mod may change them first.
func forge(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

func validClaims(srv *apptest.Server, a *models.Agent) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": srv.Config.PublicURL, "aud": []string{"kefu-console"}, "sub": a.ID,
		"typ": "access", "ver": a.TokenVersion, "role": string(a.Role), "jti": "forged",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// checkToken asserts the answer of GET /api/me and of the agent socket's
// upgrade for token.
func checkToken(t *testing.T, srv *apptest.Server, token string, want int) {
	t.Helper()
	if resp := request(t, "GET", srv.URL+"/api/me", token, nil, nil); resp.StatusCode != want {
		t.Errorf("GET /api/me: HTTP %d, want %d", resp.StatusCode, want)
	}
	c, resp, err := dial(t, srv.WSURL+"/ws/agent", agentHeader(srv, token))
	switch {
	case want == http.StatusOK && err != nil:
		t.Errorf("agent socket refused: %v", err)
	case want != http.StatusOK && err == nil:
		c.conn.Close()
		t.Errorf("agent socket opened, want HTTP %d", want)
	case want != http.StatusOK && (resp == nil || resp.StatusCode != want):
		t.Errorf("agent socket upgrade: %v, want HTTP %d", resp, want)
	}
}

func TestAttackForgedTokens(t *testing.T) {
	srv := startKeyed(t, nil)
	a := srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	key := []byte(testJWTKey)
	base := validClaims(srv, a)
	noneToken := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base)
	shop := newShopper(t, srv, "")

	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"control: correctly forged with the real key", forge(t, jwt.SigningMethodHS256, key, base), 200},
		{"alg none", noneToken, 401},
		{"alg none, no signature part", strings.TrimSuffix(noneToken, "."), 401},
		{"HS256 with another key", forge(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another-key!!"), base), 401},
		{"HS512 with the real key", forge(t, jwt.SigningMethodHS512, key, base), 401},
		{"exp missing", forge(t, jwt.SigningMethodHS256, key, with(base, "exp", nil)), 401},
		{"expired", forge(t, jwt.SigningMethodHS256, key, with(with(with(base, "exp", time.Now().Add(-time.Hour).Unix()), "iat", time.Now().Add(-2*time.Hour).Unix()), "nbf", time.Now().Add(-2*time.Hour).Unix())), 401},
		{"nbf in the future", forge(t, jwt.SigningMethodHS256, key, with(base, "nbf", time.Now().Add(time.Hour).Unix())), 401},
		{"wrong iss", forge(t, jwt.SigningMethodHS256, key, with(base, "iss", "https://evil.example")), 401},
		{"wrong aud", forge(t, jwt.SigningMethodHS256, key, with(base, "aud", []string{"kefu-widget"})), 401},
		{"typ refresh", forge(t, jwt.SigningMethodHS256, key, with(base, "typ", "refresh")), 401},
		{"typ missing", forge(t, jwt.SigningMethodHS256, key, with(base, "typ", nil)), 401},
		{"old token version", forge(t, jwt.SigningMethodHS256, key, with(base, "ver", a.TokenVersion-1)), 401},
		{"another agent's id", forge(t, jwt.SigningMethodHS256, key, with(base, "sub", "00000000-0000-0000-0000-000000000000")), 401},
		{"visitor token", shop.token, 401},
		{"garbage", "not.a.token", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkToken(t, srv, tc.token, tc.want) })
	}

	t.Run("refresh token as access token", func(t *testing.T) {
		resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "li@shop.test", "password": testPassword}, nil)
		rt := refreshCookieOf(t, resp)
		checkToken(t, srv, rt.Value, 401)
	})
	t.Run("token after logout", func(t *testing.T) {
		tok := login(t, srv, "li@shop.test", testPassword)
		checkToken(t, srv, tok.AccessToken, 200)
		if resp := request(t, "POST", srv.URL+"/api/auth/logout", tok.AccessToken, nil, nil); resp.StatusCode != 204 {
			t.Fatalf("logout: HTTP %d", resp.StatusCode)
		}
		checkToken(t, srv, tok.AccessToken, 401)
	})
}

func refreshCookieOf(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "kefu_refresh" && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no refresh cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

func refreshWith(t *testing.T, srv *apptest.Server, value string) *http.Response {
	t.Helper()
	return request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, nil, func(r *http.Request) {
		r.AddCookie(&http.Cookie{Name: "kefu_refresh", Value: value})
	})
}

func TestAttackReusedRefreshTokenRevokesFamily(t *testing.T) {
	srv := startKeyed(t, nil)
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	first := refreshCookieOf(t, request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "li@shop.test", "password": testPassword}, nil))
	resp := refreshWith(t, srv, first.Value)
	if resp.StatusCode != 200 {
		t.Fatalf("first refresh: HTTP %d", resp.StatusCode)
	}
	second := refreshCookieOf(t, resp)
	if got := refreshWith(t, srv, first.Value).StatusCode; got != 401 {
		t.Errorf("reused refresh token: HTTP %d, want 401", got)
	}
	if got := refreshWith(t, srv, second.Value).StatusCode; got != 401 {
		t.Errorf("the family's newest token after a reuse: HTTP %d, want 401 (family revoked)", got)
	}
}

func TestAttackShopperCannotReachAnotherShoppersConversation(t *testing.T) {
	srv := startKeyed(t, nil)
	alice := newShopper(t, srv, "")
	conv := alice.say("a-1", "my address is 1 rue X").ConversationID
	mallory := newShopper(t, srv, "")

	mallory.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: conv})
	mallory.waitError(models.ENOTFOUND, wire.TypeSync)
	mallory.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "m-1", Body: "injected"})
	mallory.waitError(models.ENOTFOUND, "m-1")
	mallory.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: conv})
	mallory.waitError(models.ENOTFOUND, wire.TypeResolve)

	ctx := context.Background()
	msgs, _ := srv.Store.Messages(ctx, conv, 0, 100)
	if len(msgs) != 1 {
		t.Errorf("conversation has %d messages, want only alice's 1", len(msgs))
	}
	c, err := srv.Store.Conversation(ctx, conv)
	if err != nil || c.Status == models.StatusResolved {
		t.Errorf("conversation after mallory's resolve: %+v, %v; want still open", c, err)
	}
	mallory.quiet(300*time.Millisecond, func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeMessage || f.Type == wire.TypeMessages || f.ConversationID == conv
	})
}

func TestAttackAgentCannotReachAnotherAgentsConversation(t *testing.T) {
	srv := startKeyed(t, nil)
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	srv.CreateAgent(t, "bo@shop.test", "Bo", models.RoleAgent, testPassword)
	li := connectAgent(t, srv, login(t, srv, "li@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("c-1", "private question").ConversationID
	li.waitConversation(conv, models.StatusAssigned)

	boTok := login(t, srv, "bo@shop.test", testPassword).AccessToken
	bo := connectAgent(t, srv, boTok)
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/conversations/" + conv},
		{"GET", "/api/conversations/" + conv + "/messages"},
		{"POST", "/api/conversations/" + conv + "/resolve"},
	} {
		if got := request(t, r.method, srv.URL+r.path, boTok, nil, nil).StatusCode; got != 403 && got != 404 {
			t.Errorf("%s %s as another agent: HTTP %d, want 403 or 404", r.method, r.path, got)
		}
	}
	refused := func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeError && (f.Code == models.EFORBIDDEN || f.Code == models.ENOTFOUND)
	}
	bo.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: conv})
	bo.next("sync refused", refused)
	bo.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "b-1", Body: "hijack"})
	bo.next("send refused", refused)
	bo.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: conv})
	bo.next("resolve refused", refused)

	ctx := context.Background()
	msgs, _ := srv.Store.Messages(ctx, conv, 0, 100)
	if len(msgs) != 1 {
		t.Errorf("conversation has %d messages, want 1", len(msgs))
	}
	if c, _ := srv.Store.Conversation(ctx, conv); c == nil || c.Status != models.StatusAssigned {
		t.Errorf("conversation after bo's attempts: %+v, want still assigned to li", c)
	}
	shop.quiet(300*time.Millisecond, func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeMessage && f.Message != nil && f.Message.SenderKind != models.SenderVisitor
	})
}

func TestAttackForbiddenOrigins(t *testing.T) {
	srv := startKeyed(t, func(c *config.Config) { c.AllowedOrigins = []string{"https://shop.example"} })
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	tok := login(t, srv, "li@shop.test", testPassword).AccessToken
	port := srv.Addr[strings.LastIndex(srv.Addr, ":")+1:]
	cases := []struct {
		origin         string
		visitor, agent int // HTTP status of the upgrade: 101 allowed
	}{
		{srv.URL, 101, 101},
		{"HTTP://127.0.0.1:" + port, 101, 101},
		{"https://shop.example", 101, 403},
		{"https://SHOP.Example", 101, 403},
		{"https://shop.example:443", 101, 403},
		{"http://shop.example", 403, 403},
		{"https://shop.example:8443", 403, 403},
		{"https://evil.example", 403, 403},
		{"https://shop.example.evil.example", 403, 403},
		{"null", 403, 403},
		{"http://127.0.0.1:1", 403, 403},
		{"https://127.0.0.1:" + port, 403, 403},
		{"http://localhost:" + port, 403, 403},
		{"file://", 403, 403},
	}
	status := func(resp *http.Response, err error) int {
		if err == nil {
			return 101
		}
		if resp == nil {
			t.Fatalf("dial failed without an answer: %v", err)
		}
		return resp.StatusCode
	}
	for _, tc := range cases {
		t.Run(tc.origin, func(t *testing.T) {
			c, resp, err := dial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {tc.origin}})
			if got := status(resp, err); got != tc.visitor {
				t.Errorf("visitor socket: %d, want %d", got, tc.visitor)
			}
			if err == nil {
				c.conn.Close()
			}
			h := agentHeader(srv, tok)
			h.Set("Origin", tc.origin)
			c, resp, err = dial(t, srv.WSURL+"/ws/agent", h)
			if got := status(resp, err); got != tc.agent {
				t.Errorf("agent socket: %d, want %d", got, tc.agent)
			}
			if err == nil {
				c.conn.Close()
			}
			wantAPI := 200
			if tc.agent != 101 {
				wantAPI = 403
			}
			resp = request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "li@shop.test", "password": testPassword}, nil,
				func(r *http.Request) { r.Header.Set("Origin", tc.origin) })
			if resp.StatusCode != wantAPI {
				t.Errorf("POST /api/auth/login: HTTP %d, want %d", resp.StatusCode, wantAPI)
			}
		})
	}
}

func TestAttackFrameFloodCloses1008(t *testing.T) {
	srv := startKeyed(t, func(c *config.Config) { c.FrameBurst, c.FramesPerSecond = 5, 1 })
	shop := newShopper(t, srv, "")
	for i := 0; i < 30; i++ {
		if err := shop.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"sync","conversation_id":"x"}`)); err != nil {
			break // already closed
		}
	}
	shop.expectClose(websocket.ClosePolicyViolation)
}

func TestAttackMalformedConnectionsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	before := goleak.IgnoreCurrent()
	srv := startKeyed(t, func(c *config.Config) { c.MaxFrameBytes, c.MaxMessageBytes = 4096, 1024 })
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)

	// Warm up, then take the baseline with the server idle.
	chatOnce(t, srv, "warm-up")
	http.DefaultClient.CloseIdleConnections()
	settleGoroutines(t, 1<<30, 0)
	time.Sleep(500 * time.Millisecond)
	baseline := numGoroutine()

	attacks := []func(c *rawConn){
		func(c *rawConn) { c.frame(true, 0, 3, []byte("reserved opcode")) },
		func(c *rawConn) { c.frame(true, 4, ws.OpText, []byte(helloJSON)) },
		func(c *rawConn) { c.frame(true, 0, ws.OpText, []byte("\xff\xfe not utf-8")) },
		func(c *rawConn) { c.frame(true, 0, ws.OpBinary, []byte{1, 2, 3}) },
		func(c *rawConn) { _ = writeFrame(c.conn, true, 0, ws.OpText, make([]byte, 5000)) },
		func(c *rawConn) { c.frame(true, 0, ws.OpText, []byte("{not json")) },
		func(c *rawConn) { c.frame(true, 0, ws.OpClose, closePayload(999, "")) },
		func(c *rawConn) { c.frame(true, 0, ws.OpPing, make([]byte, 126)) },
		func(c *rawConn) { c.frame(true, 0, ws.OpContinuation, []byte("orphan")) },
		func(c *rawConn) { _, _ = c.conn.Write([]byte{0x81, 0xfe}) }, // truncated header
		func(c *rawConn) { _, _ = c.conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")) },
		func(c *rawConn) {}, // silence, then hang up
		func(c *rawConn) { c.frame(true, 0, ws.OpText, []byte(`{"type":"message","body":"before hello"}`)) },
		func(c *rawConn) {
			c.text(helloJSON)
			c.frame(true, 0, ws.OpText, []byte(`{"type":"sync","conversation_id":"`+strings.Repeat("x", 1000)+`"}`))
		},
	}
	const total, workers = 2000, 32
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				conn, err := rawDial(srv, "/ws/visitor")
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
					continue
				}
				c := &rawConn{t: t, conn: conn}
				func() {
					defer func() { _ = recover() }() // a failed write (t.Fatalf off the test goroutine is not allowed)
					attacks[i%len(attacks)](c)
				}()
				if i%2 == 0 { // half wait for the server's answer, half hang up at once
					_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
					_, _ = ws.ReadFrame(conn)
				}
				conn.Close()
			}
		}()
	}
	for i := 0; i < total; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d of %d handshakes failed: the server stopped accepting", failures, total)
	}

	if resp := request(t, "GET", srv.URL+"/healthz", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz after the storm: HTTP %d", resp.StatusCode)
	}
	chatOnce(t, srv, "after the storm")
	http.DefaultClient.CloseIdleConnections()
	// Loose slack: fasthttp keeps a few idle workers and timers for a while.
	settleGoroutines(t, baseline+15, 60*time.Second)
	t.Logf("goroutines: baseline %d, now %d", baseline, numGoroutine())

	srv.Stop(t)
	http.DefaultClient.CloseIdleConnections()
	// fasthttp's date updater lives as long as the process; its worker
	// pool's cleaner notices the stop after its 10 s sleep.
	var err error
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if err = goleak.Find(before, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1")); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("goroutines left after the server stopped: %v", err)
	}
}

// chatOnce runs a message from a new shopper to a connected agent and back.
func chatOnce(t *testing.T, srv *apptest.Server, text string) {
	t.Helper()
	agent := connectAgent(t, srv, login(t, srv, "li@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("q-"+text, text).ConversationID
	agent.waitConversation(conv, models.StatusAssigned)
	agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "r-" + text, Body: "re: " + text})
	shop.waitMessage("re: " + text)
	agent.send(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: conv})
	shop.waitConversation(conv, models.StatusResolved)
	agent.conn.Close()
	shop.conn.Close()
	<-agent.closed
	<-shop.closed
}

// TestAttackReusedConnectionNeverCarriesAnotherVisitorsFrames is the
// regression test for gofiber/contrib/websocket's reuse of connection
// objects: many visitors reconnect over and over while an agent writes to
// each of their conversations, and every visitor must only ever receive
// frames of its own conversation.
func TestAttackReusedConnectionNeverCarriesAnotherVisitorsFrames(t *testing.T) {
	const visitors, rounds = 12, 15
	srv := startKeyed(t, func(c *config.Config) {
		c.DefaultMaxChats = visitors
		c.FramesPerSecond, c.FrameBurst = 10000, 10000
	})
	srv.CreateAgent(t, "li@shop.test", "Li Na", models.RoleAgent, testPassword)
	agent := connectAgent(t, srv, login(t, srv, "li@shop.test", testPassword).AccessToken)

	type visitor struct{ token, conv string }
	vs := make([]visitor, visitors)
	for i := range vs {
		s := newShopper(t, srv, "")
		vs[i] = visitor{s.token, s.say("open", fmt.Sprintf("visitor %d here", i)).ConversationID}
		agent.waitConversation(vs[i].conv, models.StatusAssigned)
		s.conn.Close()
	}

	stop := make(chan struct{})
	agentDone := make(chan int)
	go func() {
		sent := 0
		for n := 0; ; n++ {
			select {
			case <-stop:
				agentDone <- sent
				return
			default:
			}
			v := vs[n%visitors]
			data := fmt.Sprintf(`{"type":"message","conversation_id":%q,"client_id":"a-%d","body":"for %s"}`, v.conv, n, v.conv)
			_ = agent.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if agent.conn.WriteMessage(websocket.TextMessage, []byte(data)) != nil {
				agentDone <- sent
				return
			}
			sent++
			time.Sleep(2 * time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range vs {
		wg.Add(1)
		go func(v visitor) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				c, _, err := dial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
				if err != nil {
					errs <- "dial: " + err.Error()
					return
				}
				_ = c.conn.WriteJSON(wire.ClientFrame{Type: wire.TypeHello, Token: v.token})
				deadline := time.After(time.Duration(20+r*7%50) * time.Millisecond)
			read:
				for {
					select {
					case f, ok := <-c.frames:
						if !ok {
							break read
						}
						if f.Type == wire.TypeWelcome && (f.Conversation == nil || f.Conversation.ID != v.conv) {
							errs <- fmt.Sprintf("welcome for %s carries %+v", v.conv, f.Conversation)
						}
						if f.Message != nil && (f.Message.ConversationID != v.conv || f.Message.Body != "for "+v.conv) {
							errs <- fmt.Sprintf("visitor of %s received %q of %s", v.conv, f.Message.Body, f.Message.ConversationID)
						}
						if f.Conversation != nil && f.Type == wire.TypeConversation && f.Conversation.ID != v.conv {
							errs <- fmt.Sprintf("visitor of %s received conversation %s", v.conv, f.Conversation.ID)
						}
					case <-deadline:
						break read
					}
				}
				if r%2 == 0 {
					_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""), time.Now().Add(time.Second))
				}
				c.conn.Close()
			}
		}(vs[i])
	}
	wg.Wait()
	close(stop)
	sent := <-agentDone
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if sent < visitors {
		t.Fatalf("the agent sent only %d messages", sent)
	}
	// Every message the agent sent landed in its own conversation only.
	ctx := context.Background()
	for _, v := range vs {
		msgs, err := srv.Store.Messages(ctx, v.conv, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs[1:] {
			if m.Body != "for "+v.conv {
				t.Errorf("conversation %s holds %q", v.conv, m.Body)
			}
		}
	}
	t.Logf("agent sent %d messages while %d visitors reconnected %d times each", sent, visitors, rounds)
}
