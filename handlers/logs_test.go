package handlers_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsKeepSecrets runs logins, refreshes, chats, bad input and a
// logout with the log at info level, and checks that no token, password or
// message text reached it.
func TestLogsKeepSecrets(t *testing.T) {
	var logs lockedBuffer
	srv := apptest.Start(t, apptest.Options{LogTo: &logs})
	srv.CreateAgent(t, "log@shop.test", "Logan", models.RoleAgent, testPassword)

	resp := request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "log@shop.test", "password": "a-wrong-password-123"}, nil)
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: HTTP %d", resp.StatusCode)
	}
	var tok loginBody
	resp = request(t, "POST", srv.URL+"/api/auth/login", "", map[string]string{"email": "log@shop.test", "password": testPassword}, &tok)
	cookie := refreshCookie(t, resp)
	request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, nil, withCookie(cookie))
	request(t, "POST", srv.URL+"/api/auth/refresh", "", nil, nil, withCookie(cookie)) // reuse: revokes the family

	agent := connectAgent(t, srv, tok.AccessToken)
	shop := newShopper(t, srv, "")
	conv := shop.say("s-1", "my secret order number is 4711-ZZ").ConversationID
	agent.waitConversation(conv, models.StatusAssigned)
	agent.send(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conv, ClientID: "a-1", Body: "your parcel code is QX-99"})
	shop.waitMessage("your parcel code is QX-99")
	shop.send(wire.ClientFrame{Type: wire.TypeSend, ClientID: "s-2", Body: strings.Repeat("leak", 2000)})
	shop.waitError(models.ETOOLARGE, "s-2")
	agent.send(wire.ClientFrame{Type: wire.TypeAuth, Token: tok.AccessToken + "x"})
	agent.waitError(models.EUNAUTHORIZED, "auth")
	request(t, "POST", srv.URL+"/api/auth/logout", tok.AccessToken, nil, nil)
	agent.expectClose(wire.CloseRevoked)
	srv.Stop(t)

	text := logs.String()
	if !strings.Contains(text, "level=INFO") {
		t.Fatalf("nothing was logged at info level; the test would prove nothing:\n%s", text)
	}
	for what, secret := range map[string]string{
		"access token": tok.AccessToken, "refresh token": cookie.Value, "visitor token": shop.token,
		"password": testPassword, "wrong password": "a-wrong-password-123",
		"shopper's message": "4711-ZZ", "agent's message": "QX-99", "refused message": "leakleak",
	} {
		if strings.Contains(text, secret) {
			t.Errorf("the log contains the %s", what)
		}
	}
}
