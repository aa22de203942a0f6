package realtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"go.uber.org/goleak"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/realtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// deadline bounds every wait in these tests; it only turns a hang into a
// failure and measures nothing.
const deadline = 10 * time.Second

// testServer is a loopback websocket server whose handler follows the
// lifecycle the real one must: Register, read until a read fails,
// Unregister.
type testServer struct {
	hub        *realtime.Hub
	srv        *httptest.Server
	registered chan *realtime.Conn
	handlers   sync.WaitGroup
	// wrap, when set, wraps each socket before it is registered.
	wrap func(realtime.Socket) realtime.Socket
	// unregistered, when set, is called right after Unregister returns.
	unregistered func(realtime.Socket)
	// sndbuf, when positive, shrinks the kernel send buffer of accepted
	// sockets so a client that does not read blocks the writer quickly.
	sndbuf int
}

// MustServe starts a server for hub on 127.0.0.1:0 and stops it (and
// waits for its handlers) when tb ends. setup may set the hooks.
func MustServe(tb testing.TB, hub *realtime.Hub, setup func(*testServer)) *testServer {
	tb.Helper()
	ts := &testServer{hub: hub, registered: make(chan *realtime.Conn, 64)}
	if setup != nil {
		setup(ts)
	}
	up := websocket.Upgrader{}
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ts.handlers.Add(1)
		defer ts.handlers.Done()
		defer ws.Close()
		q := r.URL.Query()
		id := realtime.Identity{Kind: realtime.Kind(q.Get("kind")), ID: q.Get("id"), Admin: q.Get("admin") == "1"}
		var s realtime.Socket = ws
		if ts.wrap != nil {
			s = ts.wrap(s)
		}
		c := hub.Register(id, s)
		ts.registered <- c
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				break
			}
		}
		hub.Unregister(c)
		if ts.unregistered != nil {
			ts.unregistered(s)
		}
	}))
	if ts.sndbuf > 0 {
		ts.srv.Listener = &bufListener{Listener: ts.srv.Listener, sndbuf: ts.sndbuf}
	}
	ts.srv.Start()
	tb.Cleanup(func() {
		ts.srv.Close()
		ts.handlers.Wait()
	})
	return ts
}

type bufListener struct {
	net.Listener
	sndbuf int
}

func (l *bufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.sndbuf)
	}
	return c, err
}

// client is a websocket client on the test server.
type client struct {
	ws   *websocket.Conn
	conn *realtime.Conn // the server side, as registered
}

// MustDial connects as id and waits until the server has registered the
// connection. The client is closed when tb ends.
func (ts *testServer) MustDial(tb testing.TB, id realtime.Identity, rcvbuf int) *client {
	tb.Helper()
	u := "ws" + strings.TrimPrefix(ts.srv.URL, "http") + "/?" + url.Values{
		"kind": {string(id.Kind)}, "id": {id.ID}, "admin": {map[bool]string{true: "1"}[id.Admin]},
	}.Encode()
	d := websocket.Dialer{HandshakeTimeout: deadline}
	if rcvbuf > 0 {
		d.NetDial = func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(rcvbuf)
			}
			return c, err
		}
	}
	ws, _, err := d.Dial(u, nil)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { ws.Close() })
	select {
	case c := <-ts.registered:
		if c.Identity() != id {
			tb.Fatalf("registered %+v, want %+v", c.Identity(), id)
		}
		return &client{ws: ws, conn: c}
	case <-time.After(deadline):
		tb.Fatalf("server did not register %+v", id)
		return nil
	}
}

// readAll reads frames until "end" or until the socket closes; it returns
// the text frames and the close code (0 if "end" came first).
func (c *client) readAll(tb testing.TB) (frames []string, closeCode int) {
	tb.Helper()
	frames, closeCode, err := c.read()
	if err != nil {
		tb.Fatal(err)
	}
	return frames, closeCode
}

// read is readAll for goroutines other than the test's.
func (c *client) read() (frames []string, closeCode int, err error) {
	_ = c.ws.SetReadDeadline(time.Now().Add(deadline))
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return frames, ce.Code, nil
			}
			return frames, 0, fmt.Errorf("read: %w (after %d frames)", err, len(frames))
		}
		if string(data) == "end" {
			return frames, 0, nil
		}
		frames = append(frames, string(data))
	}
}

func agent(id string) realtime.Identity { return realtime.Identity{Kind: realtime.KindAgent, ID: id} }
func admin(id string) realtime.Identity {
	return realtime.Identity{Kind: realtime.KindAgent, ID: id, Admin: true}
}
func visitor(id string) realtime.Identity {
	return realtime.Identity{Kind: realtime.KindVisitor, ID: id}
}

func event(frame string, to models.Audience) models.Event {
	return models.Event{Type: models.EventMessage, To: to, Frame: []byte(frame)}
}

var everyone = models.Audience{AllAgents: true, AllVisitors: true}

// MustNewHub returns a hub that is shut down when tb ends.
func MustNewHub(tb testing.TB, o realtime.Options) *realtime.Hub {
	tb.Helper()
	h := realtime.NewHub(o)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

func TestDeliverRoutesByIdentity(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{})
	ts := MustServe(t, hub, nil)
	clients := map[string]*client{
		"A1": ts.MustDial(t, agent("A"), 0),
		"A2": ts.MustDial(t, agent("A"), 0), // a second tab of agent A
		"B":  ts.MustDial(t, agent("B"), 0),
		"C":  ts.MustDial(t, admin("C"), 0),
		"V1": ts.MustDial(t, visitor("V1"), 0),
		"V2": ts.MustDial(t, visitor("V2"), 0),
	}
	if v, a := hub.Counts(); v != 2 || a != 4 {
		t.Fatalf("Counts() = %d visitors, %d agents; want 2, 4", v, a)
	}
	if got := hub.AgentConnections("A"); got != 2 {
		t.Fatalf("AgentConnections(A) = %d, want 2", got)
	}
	if got := len(hub.ConnectedAgents()); got != 3 {
		t.Fatalf("ConnectedAgents() = %v, want 3 agents", hub.ConnectedAgents())
	}

	tests := []struct {
		name string
		to   models.Audience
		want []string
	}{
		{"agent A", models.Audience{Agents: []string{"A"}}, []string{"A1", "A2"}},
		{"agent B", models.Audience{Agents: []string{"B"}}, []string{"B"}},
		{"visitor V1", models.Audience{Visitors: []string{"V1"}}, []string{"V1"}},
		{"admins", models.Audience{Admins: true}, []string{"C"}},
		{"admins and admin C listed", models.Audience{Agents: []string{"C", "B"}, Admins: true}, []string{"B", "C"}},
		{"all agents and agent A", models.Audience{AllAgents: true, Agents: []string{"A"}}, []string{"A1", "A2", "B", "C"}},
		{"all visitors", models.Audience{AllVisitors: true}, []string{"V1", "V2"}},
		{"visitor listed twice and agent B", models.Audience{Visitors: []string{"V2", "V2"}, Agents: []string{"B"}}, []string{"B", "V2"}},
		{"nobody known", models.Audience{Agents: []string{"Z"}, Visitors: []string{"A"}}, nil},
		{"nobody", models.Audience{}, nil},
	}
	want := map[string][]string{}
	for _, tt := range tests {
		hub.Deliver(event(tt.name, tt.to))
		for _, who := range tt.want {
			want[who] = append(want[who], tt.name)
		}
	}
	// Frames from one Deliver after another arrive in order, so everything
	// meant for a client has arrived once it reads "end".
	hub.Deliver(event("end", everyone))
	for who, c := range clients {
		t.Run(who, func(t *testing.T) {
			got, code := c.readAll(t)
			if code != 0 {
				t.Fatalf("closed with %d", code)
			}
			if fmt.Sprint(got) != fmt.Sprint(want[who]) {
				t.Errorf("got %q, want %q", got, want[who])
			}
		})
	}
}

func TestSlowClientIsCutOffOthersKeepReceiving(t *testing.T) {
	slowCut := make(chan realtime.Identity, 1)
	hub := MustNewHub(t, realtime.Options{
		SendQueue: 8,
		// Long enough that the writer blocked on the slow client is still
		// waiting when the test lets that client read its close frame.
		WriteTimeout: deadline,
		OnSlowClient: func(id realtime.Identity) { slowCut <- id },
	})
	ts := MustServe(t, hub, func(ts *testServer) { ts.sndbuf = 8 << 10 })
	slow := ts.MustDial(t, visitor("slow"), 8<<10) // never reads until cut off
	fast := ts.MustDial(t, visitor("fast"), 0)

	got := make(chan string, 1)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, data, err := fast.ws.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			got <- string(data)
		}
	}()
	// Deliver to both, one frame at a time, each paced by the fast client
	// receiving it: the fast client's queue never holds more than one
	// frame, the slow one's only grows.
	payload := strings.Repeat("x", 4<<10)
	sent, cutAt := 0, -1
	for i := 0; i < 5000 && (cutAt < 0 || i < cutAt+50); i++ {
		frame := strconv.Itoa(i) + ":" + payload
		hub.Deliver(event(frame, models.Audience{Visitors: []string{"slow", "fast"}}))
		sent++
		select {
		case f := <-got:
			if f != frame {
				t.Fatalf("fast client got frame %.10q, want %.10q", f, frame)
			}
		case err := <-readErr:
			t.Fatalf("fast client read failed after %d frames: %v", i, err)
		case <-time.After(deadline):
			t.Fatalf("fast client did not receive frame %d", i)
		}
		select {
		case id := <-slowCut:
			if id.ID != "slow" {
				t.Fatalf("cut off %+v, want the slow visitor", id)
			}
			cutAt = i
		default:
		}
	}
	if cutAt < 0 {
		t.Fatalf("the client that never reads was not cut off after %d frames", sent)
	}
	t.Logf("slow client cut off at frame %d; fast client received all %d", cutAt, sent)
	if v, _ := hub.Counts(); v != 1 {
		t.Errorf("after the cut-off Counts() = %d visitors, want 1", v)
	}
	// Now the slow client reads: what the kernel buffered, then the close.
	frames, code := slow.readAll(t)
	if code != wire.CloseSlowClient {
		t.Fatalf("slow client close code = %d, want %d", code, wire.CloseSlowClient)
	}
	if len(frames) == 0 || len(frames) > cutAt+1 {
		t.Errorf("slow client read %d frames before the close, want 1..%d", len(frames), cutAt+1)
	}
	fast.ws.Close()
	<-readErr
}

// guardedSocket fails the test if it is used after the handler's
// Unregister returned.
type guardedSocket struct {
	realtime.Socket
	released   atomic.Bool
	violations *atomic.Int64
}

func (g *guardedSocket) check() {
	if g.released.Load() {
		g.violations.Add(1)
	}
}

func (g *guardedSocket) WriteMessage(t int, b []byte) error {
	g.check()
	return g.Socket.WriteMessage(t, b)
}

func (g *guardedSocket) WriteControl(t int, b []byte, d time.Time) error {
	g.check()
	return g.Socket.WriteControl(t, b, d)
}

func (g *guardedSocket) SetWriteDeadline(d time.Time) error {
	g.check()
	return g.Socket.SetWriteDeadline(d)
}

func (g *guardedSocket) Close() error {
	g.check()
	return g.Socket.Close()
}

func TestSocketUntouchedAfterUnregister(t *testing.T) {
	var violations atomic.Int64
	hub := MustNewHub(t, realtime.Options{PingInterval: time.Millisecond})
	ts := MustServe(t, hub, func(ts *testServer) {
		ts.wrap = func(s realtime.Socket) realtime.Socket {
			return &guardedSocket{Socket: s, violations: &violations}
		}
		ts.unregistered = func(s realtime.Socket) { s.(*guardedSocket).released.Store(true) }
	})

	// Deliver to everyone as fast as possible while connections come and go.
	stop := make(chan struct{})
	var delivering sync.WaitGroup
	for range 2 {
		delivering.Add(1)
		go func() {
			defer delivering.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				hub.Deliver(event(strconv.Itoa(n), everyone))
				if n%8 == 0 {
					hub.CloseAgent("closing", wire.CloseTokenExpired, "expired")
				}
			}
		}()
	}
	for i := range 60 {
		id := visitor(strconv.Itoa(i))
		if i%3 == 0 {
			id = agent("closing") // also closed from the server side
		}
		c := ts.MustDial(t, id, 0)
		if i%2 == 0 {
			_, _, _ = c.ws.ReadMessage()
		}
		c.ws.Close()
		select {
		case <-c.conn.Done():
		case <-time.After(deadline):
			t.Fatalf("writer of connection %d did not stop after the client went away", i)
		}
	}
	close(stop)
	delivering.Wait()
	if n := violations.Load(); n != 0 {
		t.Fatalf("sockets were touched %d times after Unregister returned", n)
	}
	if v, a := hub.Counts(); v != 0 || a != 0 {
		t.Errorf("Counts() = %d, %d after every client left; want 0, 0", v, a)
	}
}

func TestShutdownClosesEveryConnectionWith1001(t *testing.T) {
	hub := realtime.NewHub(realtime.Options{})
	ts := MustServe(t, hub, nil)
	clients := []*client{
		ts.MustDial(t, agent("A"), 0),
		ts.MustDial(t, admin("C"), 0),
		ts.MustDial(t, visitor("V"), 0),
	}
	hub.Deliver(event("last words", everyone))
	codes := make(chan int, len(clients))
	for _, c := range clients {
		go func() {
			frames, code, err := c.read()
			if err != nil {
				t.Error(err)
			}
			if len(frames) != 1 || frames[0] != "last words" {
				t.Errorf("frames before the close = %q, want the queued one", frames)
			}
			codes <- code
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := hub.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range clients {
		select {
		case <-c.conn.Done():
		default:
			t.Errorf("Shutdown returned before the writer of %+v stopped", c.conn.Identity())
		}
	}
	for range clients {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Errorf("close code = %d, want %d", code, websocket.CloseGoingAway)
		}
	}
	if err := hub.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// A connection that arrives after Shutdown is closed at once.
	late := ts.MustDial(t, visitor("late"), 0)
	if _, code := late.readAll(t); code != websocket.CloseGoingAway {
		t.Errorf("late connection close code = %d, want %d", code, websocket.CloseGoingAway)
	}
}

func TestShutdownGivesUpAtContextEnd(t *testing.T) {
	// A client that never reads never answers the close frame; with a
	// long CloseTimeout, Shutdown must still return when ctx ends.
	hub := realtime.NewHub(realtime.Options{CloseTimeout: time.Hour})
	ts := MustServe(t, hub, nil)
	c := ts.MustDial(t, visitor("mute"), 0)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := hub.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-c.conn.Done():
	case <-time.After(deadline):
		t.Fatal("writer did not stop after Shutdown forced the socket closed")
	}
}

func TestRevokeAndCloseAgent(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{})
	ts := MustServe(t, hub, nil)
	a1, a2 := ts.MustDial(t, agent("A"), 0), ts.MustDial(t, agent("A"), 0)
	b := ts.MustDial(t, agent("B"), 0)
	v := ts.MustDial(t, visitor("A"), 0) // same id, other kind: untouched

	hub.Deliver(event("before", models.Audience{Agents: []string{"A"}}))
	hub.Deliver(models.Event{Type: models.EventRevoke, To: models.Audience{Agents: []string{"A"}, Visitors: []string{"A"}}})
	for _, c := range []*client{a1, a2} {
		frames, code := c.readAll(t)
		if code != wire.CloseRevoked {
			t.Errorf("revoked agent close code = %d, want %d", code, wire.CloseRevoked)
		}
		if fmt.Sprint(frames) != "[before]" {
			t.Errorf("revoked agent got %q before the close, want [before]", frames)
		}
	}
	for _, c := range []*client{a1, a2} {
		<-c.conn.Done()
	}
	if n := hub.AgentConnections("A"); n != 0 {
		t.Errorf("AgentConnections(A) = %d after revoke, want 0", n)
	}
	hub.Deliver(event("end", everyone))
	for name, c := range map[string]*client{"B": b, "visitor A": v} {
		if frames, code := c.readAll(t); code != 0 || len(frames) != 0 {
			t.Errorf("%s: got %q and close %d, want only the end frame", name, frames, code)
		}
	}

	hub.CloseAgent("B", wire.CloseTokenExpired, "token expired")
	if _, code := b.readAll(t); code != wire.CloseTokenExpired {
		t.Errorf("CloseAgent: close code = %d, want %d", code, wire.CloseTokenExpired)
	}
}

func TestWriterPings(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{PingInterval: 20 * time.Millisecond})
	ts := MustServe(t, hub, nil)
	c := ts.MustDial(t, agent("A"), 0)
	pinged := make(chan struct{}, 1)
	c.ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go func() {
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(deadline):
		t.Fatal("no ping arrived")
	}
}

func TestSendAfterCloseAndAttrs(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{})
	ts := MustServe(t, hub, nil)
	c := ts.MustDial(t, visitor("V"), 0)
	c.conn.SetAttrs("https://shop.example/cart", "zh")
	if u, l := c.conn.Attrs(); u != "https://shop.example/cart" || l != "zh" {
		t.Errorf("Attrs() = %q, %q", u, l)
	}
	if !c.conn.Send([]byte("one")) {
		t.Fatal("Send on an open connection returned false")
	}
	c.conn.Close(websocket.CloseNormalClosure, "bye")
	if c.conn.Send([]byte("two")) {
		t.Error("Send after Close returned true")
	}
	frames, code := c.readAll(t)
	if code != websocket.CloseNormalClosure || fmt.Sprint(frames) != "[one]" {
		t.Errorf("got %q and close %d; want [one] then %d", frames, code, websocket.CloseNormalClosure)
	}
}

// The socket type gofiber/contrib/websocket hands to handlers is a
// *websocket.Conn from fasthttp/websocket; the hub must accept it as is.
var _ realtime.Socket = (*websocket.Conn)(nil)

func TestRunDeliversFromTheBus(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{})
	ts := MustServe(t, hub, nil)
	c := ts.MustDial(t, agent("A"), 0)
	bus := realtime.NewMemoryBus()
	t.Cleanup(func() { _ = bus.Close() })

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	// Run subscribes on its own goroutine, and events published before
	// that are not delivered, so publish until the client hears one.
	go func() { ran <- hub.Run(ctx, bus) }()
	got := make(chan string, 1)
	go func() {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(data)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
wait:
	for {
		select {
		case f := <-got:
			if f != "hello" {
				t.Fatalf("client got %q, want hello", f)
			}
			break wait
		case <-tick.C:
			if err := bus.Publish(ctx, event("hello", models.Audience{Agents: []string{"A"}})); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("no event from the bus reached the client")
		}
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run = %v, want nil after ctx is done", err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after ctx was cancelled")
	}
}

func TestSendAfterWriterStopped(t *testing.T) {
	hub := MustNewHub(t, realtime.Options{SendQueue: 2})
	ts := MustServe(t, hub, nil)
	c := ts.MustDial(t, visitor("V"), 0)
	c.ws.Close()
	<-c.conn.Done()
	for i := range 5 {
		if c.conn.Send([]byte("late")) {
			t.Fatalf("Send %d after the writer stopped returned true", i)
		}
	}
}
