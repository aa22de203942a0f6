package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

const testPassword = "correct-horse-battery"

// wsClient is a raw websocket client speaking the documented frames.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	frames chan wire.ServerFrame
	raw    chan []byte
	closed chan error // the read error (a *websocket.CloseError for a close frame)
	// held are frames read while waiting for another kind: the next wait
	// looks at them first, so no frame is lost to an earlier wait.
	held []wire.ServerFrame
}

func dial(t testing.TB, url string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, conn: conn, frames: make(chan wire.ServerFrame, 1024), raw: make(chan []byte, 1024), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				c.closed <- err
				close(c.frames)
				return
			}
			var f wire.ServerFrame
			if err := json.Unmarshal(data, &f); err != nil {
				c.closed <- fmt.Errorf("bad frame %q: %w", data, err)
				close(c.frames)
				return
			}
			c.frames <- f
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return c, resp, nil
}

func mustDial(t testing.TB, url string, header http.Header) *wsClient {
	t.Helper()
	c, resp, err := dial(t, url, header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	return c
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(websocket.TextMessage, data)
}

func (c *wsClient) sendRaw(mt int, data []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteMessage(mt, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame for which match is true, skipping others.
func (c *wsClient) next(what string, match func(wire.ServerFrame) bool) wire.ServerFrame {
	c.t.Helper()
	for i, f := range c.held {
		if match(f) {
			c.held = append(c.held[:i:i], c.held[i+1:]...)
			return f
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("waiting for %s: connection closed: %v", what, <-c.closed)
			}
			if match(f) {
				return f
			}
			c.held = append(c.held, f)
		case <-deadline:
			c.t.Fatalf("waiting for %s: none within 10s", what)
		}
	}
}

func (c *wsClient) nextType(typ string) wire.ServerFrame {
	c.t.Helper()
	return c.next(typ+" frame", func(f wire.ServerFrame) bool { return f.Type == typ })
}

// expectClose waits for the server to close the connection with code.
func (c *wsClient) expectClose(code int) {
	c.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-c.frames:
			if ok {
				continue
			}
			err := <-c.closed
			var ce *websocket.CloseError
			if !errors.As(err, &ce) {
				c.t.Fatalf("connection ended with %v, want close code %d", err, code)
			}
			if ce.Code != code {
				c.t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Text, code)
			}
			return
		case <-deadline:
			c.t.Fatalf("no close %d within 15s", code)
		}
	}
}

// quiet checks that no frame matching match arrives for a moment.
func (c *wsClient) quiet(d time.Duration, match func(wire.ServerFrame) bool) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return
			}
			if match(f) {
				c.t.Fatalf("unexpected frame %+v", f)
			}
		case <-deadline:
			return
		}
	}
}

// shopper is a visitor socket after its welcome.
type shopper struct {
	*wsClient
	token, visitorID string
	welcome          wire.ServerFrame
}

func newShopper(t testing.TB, srv *apptest.Server, token string) *shopper {
	t.Helper()
	c := mustDial(t, srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
	c.send(wire.ClientFrame{Type: wire.TypeHello, Token: token, Lang: "en", Page: &wire.Page{URL: srv.URL + "/cart", Title: "Cart"}})
	w := c.nextType(wire.TypeWelcome)
	if w.Token == "" || w.Visitor == nil {
		t.Fatalf("welcome without token or visitor: %+v", w)
	}
	return &shopper{wsClient: c, token: w.Token, visitorID: w.Visitor.ID, welcome: w}
}

// say sends a message and waits for its ack.
func (s *shopper) say(clientID, body string) wire.ServerFrame {
	s.t.Helper()
	s.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: clientID, Body: body})
	return s.next("ack of "+clientID, func(f wire.ServerFrame) bool { return f.Type == wire.TypeAck && f.ClientID == clientID })
}

type loginBody struct {
	AccessToken string         `json:"access_token"`
	ExpiresAt   time.Time      `json:"expires_at"`
	Agent       wire.AgentView `json:"agent"`
}

type apiError struct {
	Error struct {
		Code    models.Code `json:"code"`
		Message string      `json:"message"`
	} `json:"error"`
}

// request sends a JSON request and decodes the JSON answer into out (if
// not nil); it returns the response.
func request(t testing.TB, method, url, token string, body any, out any, mods ...func(*http.Request)) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, m := range mods {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", method, url, data, err)
		}
	}
	return resp
}

func login(t testing.TB, srv *apptest.Server, email, password string) loginBody {
	t.Helper()
	var out loginBody
	resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": email, "password": password}, &out)
	if resp.StatusCode != 200 {
		t.Fatalf("login %s: HTTP %d", email, resp.StatusCode)
	}
	return out
}

// agentConn is an agent socket after its welcome.
type agentConn struct {
	*wsClient
	welcome wire.ServerFrame
}

func agentHeader(srv *apptest.Server, token string) http.Header {
	return http.Header{"Origin": {srv.URL}, "Sec-WebSocket-Protocol": {"kefu.v1, bearer." + token}}
}

func connectAgent(t testing.TB, srv *apptest.Server, token string) *agentConn {
	t.Helper()
	c := mustDial(t, srv.WSURL+"/ws/agent", agentHeader(srv, token))
	if p := c.conn.Subprotocol(); p != "kefu.v1" {
		t.Fatalf("subprotocol %q, want kefu.v1", p)
	}
	return &agentConn{wsClient: c, welcome: c.nextType(wire.TypeWelcome)}
}

// assignedTo waits for the conversation frame saying conversationID was
// assigned.
func (c *wsClient) waitConversation(conversationID string, status models.Status) wire.ServerFrame {
	c.t.Helper()
	return c.next(fmt.Sprintf("conversation %s %s", conversationID, status), func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeConversation && f.Conversation != nil &&
			(conversationID == "" || f.Conversation.ID == conversationID) && f.Conversation.Status == status
	})
}

func (c *wsClient) waitMessage(body string) wire.ServerFrame {
	c.t.Helper()
	return c.next("message "+body, func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeMessage && f.Message != nil && f.Message.Body == body
	})
}

func (c *wsClient) waitError(code models.Code, ref string) wire.ServerFrame {
	c.t.Helper()
	return c.next(fmt.Sprintf("error %s for %q", code, ref), func(f wire.ServerFrame) bool {
		return f.Type == wire.TypeError && f.Code == code && (ref == "" || f.Ref == ref)
	})
}

// ackKey is what identifies an acknowledgement.
func ackKey(f wire.ServerFrame) string {
	return fmt.Sprintf("%s/%s/%s/%s/%d", f.Type, f.ClientID, f.MessageID, f.ConversationID, f.Seq)
}
