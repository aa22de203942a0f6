package handlers_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
)

// testJWTKey is the access-token key of servers started by startKeyed, so
// that tests can forge tokens with it and with other keys.
const testJWTKey = "attack-suite-jwt-key-0123456789abcdef"

// startKeyed starts a server with a known JWT key and per-IP limits off
// (attack tests open many connections from 127.0.0.1), then applies mod.
func startKeyed(t testing.TB, mod func(*config.Config)) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.JWTKey = testJWTKey
		c.ConnectionsPerMinute, c.ConversationsPerHour, c.LoginAttemptsPerIP = 0, 0, 0
		if mod != nil {
			mod(c)
		}
	}})
}

// rawConn is a websocket client that writes frames byte for byte, for
// conformance and malformed-frame tests.
type rawConn struct {
	t    testing.TB
	conn net.Conn
}

// mustRawDial opens a visitor socket with gobwas/ws, from Kefu's own origin.
func mustRawDial(t testing.TB, srv *apptest.Server, path string) *rawConn {
	t.Helper()
	c, err := rawDial(srv, path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c}
}

func rawDial(srv *apptest.Server, path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {srv.URL}})}
	conn, br, _, err := d.Dial(ctx, srv.WSURL+path)
	if err != nil || br == nil {
		return conn, err
	}
	// The server already sent more than the handshake: read that first.
	return bufConn{conn, br}, nil
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// frame writes one masked frame as a client must, with the header exactly as
// given (reserved bits, opcodes and FIN are not checked).
func (c *rawConn) frame(fin bool, rsv byte, op ws.OpCode, payload []byte) {
	c.t.Helper()
	if err := writeFrame(c.conn, fin, rsv, op, payload); err != nil {
		c.t.Fatalf("write frame: %v", err)
	}
}

func writeFrame(conn net.Conn, fin bool, rsv byte, op ws.OpCode, payload []byte) error {
	p := append([]byte(nil), payload...)
	h := ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(p))}
	ws.Cipher(p, h.Mask, 0)
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteHeader(conn, h); err != nil {
		return err
	}
	_, err := conn.Write(p)
	return err
}

func (c *rawConn) text(s string) { c.t.Helper(); c.frame(true, 0, ws.OpText, []byte(s)) }

// serverFrame is one frame the server sent.
type serverFrame struct {
	op      ws.OpCode
	payload []byte
}

// read returns the next frame from the server; ok=false when the connection
// ended without one.
func (c *rawConn) read() (serverFrame, bool) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(c.conn)
	if err != nil {
		return serverFrame{}, false
	}
	return serverFrame{f.Header.OpCode, f.Payload}, true
}

// expectClose reads until the server's close frame and checks its code
// (want 0: any close frame, or the connection simply ending).
func (c *rawConn) expectClose(want ws.StatusCode) {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		f, ok := c.read()
		if !ok {
			if want == 0 {
				return
			}
			c.t.Fatalf("connection ended without a close frame, want close %d", want)
		}
		if f.op != ws.OpClose {
			continue
		}
		code, reason := ws.ParseCloseFrameData(f.payload)
		if want != 0 && code != want {
			c.t.Fatalf("close code %d (%q), want %d", code, reason, want)
		}
		return
	}
	c.t.Fatalf("no close frame among 100 frames")
}

// expect reads until a frame with op whose payload contains sub.
func (c *rawConn) expect(op ws.OpCode, sub string) serverFrame {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		f, ok := c.read()
		if !ok {
			c.t.Fatalf("connection ended waiting for opcode %d containing %q", op, sub)
		}
		if f.op == ws.OpClose {
			code, reason := ws.ParseCloseFrameData(f.payload)
			c.t.Fatalf("closed with %d (%q) waiting for opcode %d containing %q", code, reason, op, sub)
		}
		if f.op == op && strings.Contains(string(f.payload), sub) {
			return f
		}
	}
	c.t.Fatalf("no opcode %d containing %q among 100 frames", op, sub)
	return serverFrame{}
}

// settleGoroutines waits until the number of goroutines is at most max.
func settleGoroutines(t testing.TB, max int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	n := runtime.NumGoroutine()
	for n > max && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > max {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after %v, want at most %d; stacks:\n%s", n, within, max, buf[:min(len(buf), 20000)])
	}
}

func numGoroutine() int { return runtime.NumGoroutine() }
