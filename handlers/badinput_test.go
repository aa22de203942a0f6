package handlers_test

import (
	"context"
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

// countMessages counts every stored message of the shopper's conversations.
func countMessages(t *testing.T, srv *apptest.Server, visitorID string) int {
	t.Helper()
	convs, err := srv.Store.Conversations(context.Background(), models.ConversationFilter{VisitorID: visitorID})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range convs {
		msgs, err := srv.Store.Messages(context.Background(), c.ID, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		n += len(msgs)
	}
	return n
}

func TestBadFramesGetErrorsAndStoreNothing(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := newShopper(t, srv, "")
	own := shop.say("ok-1", "a real message").ConversationID

	other := newShopper(t, srv, "")
	otherConv := other.say("x-1", "someone else's").ConversationID

	cases := []struct {
		name  string
		frame string
		code  models.Code
		ref   string
	}{
		{"malformed JSON", `{"type":"message",`, models.EINVALID, ""},
		{"not an object", `[1,2,3]`, models.EINVALID, ""},
		{"no type", `{"body":"hi"}`, models.EINVALID, ""},
		{"unknown type", `{"type":"launch-rockets"}`, models.EINVALID, "launch-rockets"},
		{"empty message", `{"type":"message","client_id":"e-1","body":""}`, models.EINVALID, "e-1"},
		{"no client id", `{"type":"message","body":"hello"}`, models.EINVALID, "message"},
		{"client id too long", `{"type":"message","client_id":"` + strings.Repeat("c", 65) + `","body":"hello"}`, models.EINVALID, strings.Repeat("c", 65)},
		{"text over 4 KiB", `{"type":"message","client_id":"big-1","body":"` + strings.Repeat("x", 4097) + `"}`, models.ETOOLARGE, "big-1"},
		{"someone else's conversation", `{"type":"message","client_id":"steal-1","conversation_id":"` + otherConv + `","body":"mine now"}`, models.ENOTFOUND, "steal-1"},
		{"sync someone else's", `{"type":"sync","conversation_id":"` + otherConv + `"}`, models.ENOTFOUND, "sync"},
		{"resolve someone else's", `{"type":"resolve","conversation_id":"` + otherConv + `"}`, models.ENOTFOUND, "resolve"},
		{"sync unknown", `{"type":"sync","conversation_id":"nope"}`, models.ENOTFOUND, "sync"},
		{"negative after_seq", `{"type":"sync","conversation_id":"` + own + `","after_seq":-1}`, models.EINVALID, "sync"},
		{"limit too big", `{"type":"sync","conversation_id":"` + own + `","limit":501}`, models.EINVALID, "sync"},
		{"second hello", `{"type":"hello"}`, models.EINVALID, "hello"},
		{"agent frame from a shopper", `{"type":"status","status":"online"}`, models.EINVALID, "status"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shop.t = t
			shop.sendRaw(websocket.TextMessage, []byte(tc.frame))
			f := shop.nextType(wire.TypeError)
			if f.Code != tc.code || f.Ref != tc.ref || f.Error == "" {
				t.Errorf("error frame = code %q ref %q text %q; want code %q ref %q and a text", f.Code, f.Ref, f.Error, tc.code, tc.ref)
			}
		})
	}
	shop.t = t
	shop.send(wire.ClientFrame{Type: wire.TypeSync, ConversationID: shop.welcome.Visitor.ID})
	shop.waitError(models.ENOTFOUND, "sync")
	// The connection is still usable, and nothing bad was stored.
	shop.say("ok-2", "still here")
	if n := countMessages(t, srv, shop.visitorID); n != 2 {
		t.Errorf("shopper has %d stored messages, want 2", n)
	}
	if n := countMessages(t, srv, other.visitorID); n != 1 {
		t.Errorf("the other shopper has %d stored messages, want 1", n)
	}
}

func TestOversizedFrameCloses1009(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := newShopper(t, srv, "")
	// The server may stop reading mid-frame, so the write itself may fail;
	// what matters is the close code the client then reads.
	_ = shop.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = shop.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"message","client_id":"huge","body":"`+strings.Repeat("x", 70*1024)+`"}`))
	shop.expectClose(websocket.CloseMessageTooBig)
	if n := countMessages(t, srv, shop.visitorID); n != 0 {
		t.Errorf("stored %d messages, want 0", n)
	}
	// Everyone else is still served.
	newShopper(t, srv, "").say("after", "the server is fine")
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	shop := newShopper(t, srv, "")
	shop.sendRaw(websocket.TextMessage, []byte("{\"type\":\"message\",\"client_id\":\"u\",\"body\":\"\xff\xfe\"}"))
	shop.expectClose(websocket.CloseInvalidFramePayloadData)
}

func TestNoHelloCloses4008(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) { c.HelloTimeout = 300 * time.Millisecond }})
	c := mustDial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
	c.send(map[string]string{"type": "message", "client_id": "early", "body": "before hello"})
	if f := c.nextType(wire.TypeError); f.Code != models.EINVALID {
		t.Errorf("message before hello: code %q, want invalid", f.Code)
	}
	c.expectClose(wire.CloseHelloTimeout)
}

func TestAgentWritingToAnotherAgentsConversation(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "a@shop.test", "A", models.RoleAgent, testPassword)
	srv.CreateAgent(t, "b@shop.test", "B", models.RoleAgent, testPassword)
	a := connectAgent(t, srv, login(t, srv, "a@shop.test", testPassword).AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("m-1", "hello").ConversationID
	a.waitConversation(conv, models.StatusAssigned)

	btok := login(t, srv, "b@shop.test", testPassword).AccessToken
	b := connectAgent(t, srv, btok)
	for _, f := range []wire.ClientFrame{
		{Type: wire.TypeSend, ConversationID: conv, ClientID: "b-1", Body: "not mine"},
		{Type: wire.TypeSync, ConversationID: conv},
		{Type: wire.TypeResolve, ConversationID: conv},
		{Type: wire.TypeSend, ClientID: "b-2", Body: "no conversation"},
	} {
		b.send(f)
		e := b.nextType(wire.TypeError)
		want := models.ENOTFOUND
		if f.ConversationID == "" {
			want = models.EINVALID
		}
		if e.Code != want {
			t.Errorf("%s: code %q, want %q", f.Type, e.Code, want)
		}
	}
	for _, path := range []string{"/api/conversations/" + conv, "/api/conversations/" + conv + "/messages"} {
		if resp := request(t, "GET", srv.URL+path, btok, nil, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s by another agent: HTTP %d, want 404", path, resp.StatusCode)
		}
	}
	if resp := request(t, "POST", srv.URL+"/api/conversations/"+conv+"/resolve", btok, nil, nil); resp.StatusCode != 404 {
		t.Errorf("resolve by another agent: HTTP %d, want 404", resp.StatusCode)
	}
	msgs, _ := srv.Store.Messages(context.Background(), conv, 0, 100)
	c, _ := srv.Store.Conversation(context.Background(), conv)
	if len(msgs) != 1 || c.Status != models.StatusAssigned {
		t.Errorf("after B's attempts: %d messages, status %s; want 1, assigned", len(msgs), c.Status)
	}
}

func TestBadHTTPInput(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.CreateAgent(t, "h@shop.test", "H", models.RoleAgent, testPassword)
	tok := login(t, srv, "h@shop.test", testPassword).AccessToken
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      models.Code
	}{
		{"malformed login body", "POST", "/api/auth/login", "", `{"email":`, 400, models.EINVALID},
		{"empty login body", "POST", "/api/auth/login", "", nil, 400, models.EINVALID},
		{"missing password", "POST", "/api/auth/login", "", map[string]string{"email": "h@shop.test"}, 400, models.EINVALID},
		{"wrong password", "POST", "/api/auth/login", "", map[string]string{"email": "h@shop.test", "password": "wrong-password-1"}, 401, models.EUNAUTHORIZED},
		{"unknown e-mail", "POST", "/api/auth/login", "", map[string]string{"email": "nobody@shop.test", "password": "wrong-password-1"}, 401, models.EUNAUTHORIZED},
		{"no token", "GET", "/api/conversations", "", nil, 401, models.EUNAUTHORIZED},
		{"forged token", "GET", "/api/conversations", tok[:len(tok)-4] + "AAAA", nil, 401, models.EUNAUTHORIZED},
		{"garbage token", "GET", "/api/me", "not-a-token", nil, 401, models.EUNAUTHORIZED},
		{"bad status filter", "GET", "/api/conversations?status=maybe", tok, nil, 400, models.EINVALID},
		{"bad limit", "GET", "/api/conversations?limit=-3", tok, nil, 400, models.EINVALID},
		{"limit too big", "GET", "/api/conversations?limit=501", tok, nil, 400, models.EINVALID},
		{"unknown conversation", "GET", "/api/conversations/nope", tok, nil, 404, models.ENOTFOUND},
		{"bad after", "GET", "/api/conversations/nope/messages?after=x", tok, nil, 400, models.EINVALID},
		{"agents list by a non-admin", "GET", "/api/agents", tok, nil, 403, models.EFORBIDDEN},
		{"create agent by a non-admin", "POST", "/api/agents", tok, map[string]string{"email": "x@shop.test", "name": "X"}, 403, models.EFORBIDDEN},
		{"unknown API path", "GET", "/api/nothing-here", tok, nil, 404, models.ENOTFOUND},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e apiError
			resp := request(t, tc.method, srv.URL+tc.path, tc.token, tc.body, &e)
			if resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("HTTP %d %+v, want %d with code %q and a message", resp.StatusCode, e.Error, tc.status, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
		})
	}
	agents, _ := srv.Store.Agents(context.Background())
	if len(agents) != 2 {
		t.Errorf("%d agents stored, want 2 (nothing created by refused requests)", len(agents))
	}
}

func TestAgentSocketRefusesBadTokens(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	a := srv.CreateAgent(t, "s@shop.test", "S", models.RoleAgent, testPassword)
	tok := login(t, srv, "s@shop.test", testPassword).AccessToken
	cases := []struct {
		name   string
		header http.Header
		status int
	}{
		{"no token", http.Header{"Origin": {srv.URL}, "Sec-WebSocket-Protocol": {"kefu.v1"}}, 401},
		{"forged token", agentHeader(srv, tok[:len(tok)-4]+"AAAA"), 401},
		{"visitor token as access token", agentHeader(srv, newShopper(t, srv, "").token), 401},
		{"foreign origin", http.Header{"Origin": {"http://evil.test"}, "Sec-WebSocket-Protocol": {"kefu.v1, bearer." + tok}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := dial(t, srv.WSURL+"/ws/agent", tc.header)
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				code := 0
				if resp != nil {
					code = resp.StatusCode
				}
				t.Fatalf("dial: err %v, HTTP %d; want HTTP %d", err, code, tc.status)
			}
		})
	}
	yes := true
	if _, err := srv.Store.UpdateAgent(context.Background(), a.ID, models.AgentUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, resp, err := dial(t, srv.WSURL+"/ws/agent", agentHeader(srv, tok)); err == nil || resp.StatusCode != 401 {
		t.Errorf("disabled agent's socket: err %v, want HTTP 401", err)
	}
	var e apiError
	resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "s@shop.test", "password": testPassword}, &e)
	if resp.StatusCode != 401 {
		t.Errorf("disabled agent's login: HTTP %d, want 401", resp.StatusCode)
	}
}

func TestVisitorSocketRefusesForeignOrigin(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{AllowedOrigins: []string{"https://shop.example"}})
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://evil.example", 403},
		{"https://shop.example.evil.test", 403},
		{"http://shop.example", 403},
		{"HTTPS://SHOP.EXAMPLE", 101},
		{"https://shop.example", 101},
		{srv.URL, 101},
	} {
		c, resp, err := dial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {tc.origin}})
		got := 0
		if resp != nil {
			got = resp.StatusCode
		}
		if got != tc.status {
			t.Errorf("origin %s: HTTP %d (%v), want %d", tc.origin, got, err, tc.status)
		}
		if c != nil {
			c.conn.Close()
		}
	}
}
