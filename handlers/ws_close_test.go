package handlers_test

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
)

// A client that never answers the server's close frame is still
// disconnected: after the hub's close timeout the TCP connection is closed
// (fasthttp's Close of a hijacked connection does nothing, so the hub must
// be given the real one). Here the close is the flood limit's 1008.
func TestUnansweredCloseEndsTheConnection(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.FramesPerSecond, c.FrameBurst = 1, 3
		// Pings and the read deadline they extend would end the socket
		// only after hours: what ends it here is the close.
		c.PingInterval = time.Hour
	}})
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(srv.WSURL+"/ws/visitor", http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	closeCode := make(chan int, 1)
	ws.SetCloseHandler(func(code int, _ string) error {
		closeCode <- code // and no close frame back
		return nil
	})
	write := func(frame string) {
		t.Helper()
		_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"type":"hello","lang":"en"}`)
	for range 10 {
		write(`{"type":"read","seq":1}`)
	}
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	select {
	case code := <-closeCode:
		if code != websocket.ClosePolicyViolation {
			t.Fatalf("close code %d, want %d", code, websocket.ClosePolicyViolation)
		}
	default:
		t.Fatal("the read ended without a close frame")
	}
	// The close frame has been read and not answered: the server must now
	// close the connection itself.
	raw := ws.UnderlyingConn()
	_ = raw.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = raw.Read(make([]byte, 64))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server left the connection open after its unanswered close frame")
	}
	if err == nil {
		t.Fatal("the server sent more after its close frame")
	}
}
