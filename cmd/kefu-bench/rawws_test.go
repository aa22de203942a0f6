package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

// TestRawConnSpeaksWebsocket checks the bench's own client against the
// websocket library the servers use: the handshake (and the Origin the
// server sees), masked frames both ways, a message the server fragments,
// pings answered with pongs, and the close handshake.
func TestRawConnSpeaksWebsocket(t *testing.T) {
	big := strings.Repeat("0123456789", 100) // 1000 bytes: fragmented by a 64-byte write buffer
	result := make(chan error, 1)
	up := websocket.Upgrader{WriteBufferSize: 64, CheckOrigin: func(r *http.Request) bool {
		return r.Header.Get("Origin") == "http://shop.example"
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		result <- func() error {
			_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, hello, err := ws.ReadMessage()
			if err != nil || string(hello) != `{"type":"hello"}` {
				return errors.New("server read " + string(hello) + ": " + errString(err))
			}
			pong := make(chan string, 1)
			ws.SetPongHandler(func(s string) error { pong <- s; return nil })
			if err := ws.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second)); err != nil {
				return err
			}
			if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
				return err
			}
			// The pong arrives while the server reads; the client's next
			// frame is its echo of the big message.
			_, echo, err := ws.ReadMessage()
			if err != nil || string(echo) != big {
				return errors.New("server did not get the echo: " + errString(err))
			}
			if p := <-pong; p != "p1" {
				return errors.New("pong payload " + p)
			}
			if err := ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(time.Second)); err != nil {
				return err
			}
			_, _, err = ws.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4000 {
				return errors.New("the client did not answer the close frame: " + errString(err))
			}
			return nil
		}()
	}))
	defer srv.Close()

	u, _ := url.Parse("ws" + strings.TrimPrefix(srv.URL, "http") + "/ws?x=1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialRaw(ctx, &net.Dialer{}, u, "http://shop.example")
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	_ = c.nc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.write(opText, []byte(`{"type":"hello"}`), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	msg, err := c.readMessage()
	if err != nil || string(msg) != big {
		t.Fatalf("readMessage = %d bytes, %v; want the %d-byte message", len(msg), err, len(big))
	}
	if err := c.write(opText, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.readMessage(); !errors.Is(err, errClosed) {
		t.Fatalf("readMessage after the server's close = %v, want errClosed", err)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}

	t.Run("a refused origin is an error", func(t *testing.T) {
		if _, err := dialRaw(ctx, &net.Dialer{}, u, "http://evil.example"); err == nil || !strings.Contains(err.Error(), "403") {
			t.Fatalf("dial with a refused origin = %v, want the 403", err)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
