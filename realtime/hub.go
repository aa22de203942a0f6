package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// Websocket message types as RFC 6455 numbers them (and as
// github.com/fasthttp/websocket names them TextMessage, CloseMessage,
// PingMessage). Defined here so this package needs no websocket library.
const (
	TextMessage  = 1
	CloseMessage = 8
	PingMessage  = 9
)

// CloseGoingAway is the standard close code for a server that shuts down.
const CloseGoingAway = 1001

// Socket is what the hub needs of a websocket connection. *websocket.Conn
// from gofiber/contrib/websocket (github.com/fasthttp/websocket) satisfies
// it. The hub calls WriteMessage and SetWriteDeadline from one goroutine
// only (the connection's writer); WriteControl and Close may be called
// concurrently with them, as that library allows. WriteMessage must not
// modify data: the same bytes go to many sockets.
type Socket interface {
	WriteMessage(messageType int, data []byte) error
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// Kind says whether a connection belongs to a visitor (the widget) or an
// agent (the console).
type Kind string

// The kinds of connection.
const (
	KindVisitor Kind = "visitor"
	KindAgent   Kind = "agent"
)

// Identity is who a connection belongs to. Admin matters only for agents:
// admins also receive events addressed to models.Audience.Admins.
type Identity struct {
	Kind  Kind
	ID    string
	Admin bool
}

// Options configure a Hub. Zero fields get the defaults documented on each.
type Options struct {
	// SendQueue is how many frames may wait for one connection's writer
	// before the connection is cut off as a slow client. Default 256. It
	// is a bound, not an allocation: the queue holds only what waits.
	SendQueue int
	// WriteTimeout bounds every write to a socket. Default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often the writer pings the client, so that dead
	// peers are noticed and proxies keep the socket open. Default 30s;
	// negative disables pings.
	PingInterval time.Duration
	// CloseTimeout is how long the writer waits, after sending a close
	// frame, for the client's reply (seen as the handler's Unregister)
	// before it closes the socket itself. Default 2s.
	CloseTimeout time.Duration
	// Logger receives connection-level events. Default: discard.
	Logger *slog.Logger
	// OnSlowClient, when set, is called (for metrics) each time a
	// connection is cut off because its queue was full. It runs on the
	// goroutine that called Send or Deliver and must not block.
	OnSlowClient func(Identity)
	// OnDeliver, when set, is called (for metrics and delivery counts)
	// after Deliver has queued an event's frame: conns is how many
	// connections it was queued to, took how long resolving and queueing
	// took. It runs on Deliver's goroutine (the bus handler) and must not
	// block. It is not called for EventRevoke.
	OnDeliver func(e models.Event, conns int, took time.Duration)
}

func (o Options) withDefaults() Options {
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.PingInterval == 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Hub is the set of live websocket connections on this instance. Create it
// with NewHub; the zero value is not usable.
type Hub struct {
	opts Options
	log  *slog.Logger

	mu sync.RWMutex
	// Routing index: connections that may still receive frames. A
	// connection leaves it as soon as it is asked to close.
	agents   map[string]map[*Conn]struct{}
	visitors map[string]map[*Conn]struct{}
	admins   map[*Conn]struct{}
	nAgents  int
	nVisitor int
	// live holds every connection whose writer has not exited, for
	// Shutdown to wait on.
	live map[*Conn]struct{}
	shut bool
}

// NewHub returns an empty hub.
func NewHub(o Options) *Hub {
	o = o.withDefaults()
	return &Hub{
		opts:     o,
		log:      o.Logger,
		agents:   make(map[string]map[*Conn]struct{}),
		visitors: make(map[string]map[*Conn]struct{}),
		admins:   make(map[*Conn]struct{}),
		live:     make(map[*Conn]struct{}),
	}
}

// Register adds a connection for id on socket s and starts its writer; from
// then on Deliver reaches it. The caller must call Unregister exactly when it
// stops using s (typically deferred right after Register), and must not
// write to s itself meanwhile: frames go through Conn.Send, closes through
// Conn.Close. Kinds other than KindAgent are indexed as visitors. After
// Shutdown, Register still returns a Conn, but one that is already closing
// with 1001.
func (h *Hub) Register(id Identity, s Socket) *Conn {
	c := &Conn{hub: h, id: id, sock: s}
	if h.opts.PingInterval > 0 {
		c.mu.Lock() // ping reads pinger under mu, and may fire at once
		c.pinger = time.AfterFunc(h.opts.PingInterval, c.ping)
		c.mu.Unlock()
	}
	h.mu.Lock()
	h.live[c] = struct{}{}
	shut := h.shut
	if !shut {
		h.indexLocked(c)
	}
	h.mu.Unlock()
	if shut {
		c.Close(CloseGoingAway, "server shutting down")
	}
	return c
}

// Unregister forgets c, stops its writer and closes its socket, and waits
// until the writer has exited: after Unregister returns, c's Socket is never
// touched again. Frames still queued are discarded. It is idempotent and may
// be called from any goroutine except c's writer (which never runs user
// code).
func (h *Hub) Unregister(c *Conn) {
	h.unindex(c)
	c.stop()
	c.writer.Wait()
	c.finish()
}

func (h *Hub) indexLocked(c *Conn) {
	switch c.id.Kind {
	case KindAgent:
		set := h.agents[c.id.ID]
		if set == nil {
			set = make(map[*Conn]struct{})
			h.agents[c.id.ID] = set
		}
		set[c] = struct{}{}
		h.nAgents++
		if c.id.Admin {
			h.admins[c] = struct{}{}
		}
	default:
		set := h.visitors[c.id.ID]
		if set == nil {
			set = make(map[*Conn]struct{})
			h.visitors[c.id.ID] = set
		}
		set[c] = struct{}{}
		h.nVisitor++
	}
}

// unindex removes c from the routing index; it is idempotent.
func (h *Hub) unindex(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	byID := h.visitors
	if c.id.Kind == KindAgent {
		byID = h.agents
	}
	set := byID[c.id.ID]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(byID, c.id.ID)
	}
	if c.id.Kind == KindAgent {
		h.nAgents--
		delete(h.admins, c)
	} else {
		h.nVisitor--
	}
}

// Deliver fans e out to the connections on this instance that e.To names:
// the listed agents' and visitors' connections, every agent connection for
// AllAgents, admins' connections for Admins, every visitor connection for
// AllVisitors; each connection at most once. Every one is sent the same
// e.Frame bytes. For e.Type == models.EventRevoke the agent connections
// among them are closed with wire.CloseRevoked instead. Deliver never
// blocks on a socket, so it is a suitable models.Bus handler.
func (h *Hub) Deliver(e models.Event) {
	start := time.Now()
	conns := h.resolve(e.To)
	if e.Type == models.EventRevoke {
		for _, c := range conns {
			if c.id.Kind == KindAgent {
				c.Close(wire.CloseRevoked, "revoked")
			}
		}
		return
	}
	if len(e.Frame) == 0 {
		if len(conns) > 0 {
			h.log.Warn("realtime: event without a frame dropped", "type", e.Type)
		}
		return
	}
	frame := []byte(e.Frame)
	n := 0
	for _, c := range conns {
		if c.Send(frame) {
			n++
		}
	}
	if f := h.opts.OnDeliver; f != nil {
		f(e, n, time.Since(start))
	}
}

// resolve collects the connections an audience names, each once. It holds
// the read lock only while collecting. Visitor connections are filtered by
// to.Match, when set.
func (h *Hub) resolve(to models.Audience) []*Conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var conns []*Conn
	// A de-duplication set is made only when parts of the audience may
	// overlap, so the common single-part fan-out allocates one slice.
	if to.AllAgents {
		conns = make([]*Conn, 0, h.nAgents)
		for _, set := range h.agents {
			for c := range set {
				conns = append(conns, c)
			}
		}
	} else {
		var seen map[*Conn]struct{}
		if len(to.Agents) > 1 || (len(to.Agents) > 0 && to.Admins) {
			seen = make(map[*Conn]struct{})
		}
		add := func(c *Conn) {
			if seen != nil {
				if _, dup := seen[c]; dup {
					return
				}
				seen[c] = struct{}{}
			}
			conns = append(conns, c)
		}
		for _, id := range to.Agents {
			for c := range h.agents[id] {
				add(c)
			}
		}
		if to.Admins {
			for c := range h.admins {
				add(c)
			}
		}
	}
	if to.AllVisitors {
		if conns == nil {
			conns = make([]*Conn, 0, h.nVisitor)
		}
		for _, set := range h.visitors {
			for c := range set {
				if to.Match == nil || c.matches(to.Match) {
					conns = append(conns, c)
				}
			}
		}
	} else {
		var seen map[string]bool
		if len(to.Visitors) > 1 {
			seen = make(map[string]bool, len(to.Visitors))
		}
		for _, id := range to.Visitors {
			if seen != nil {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			for c := range h.visitors[id] {
				if to.Match == nil || c.matches(to.Match) {
					conns = append(conns, c)
				}
			}
		}
	}
	return conns
}

// Run subscribes Deliver to bus and returns when ctx is done (nil) or when
// subscribing fails (that error). It cancels its subscription on return.
func (h *Hub) Run(ctx context.Context, bus models.Bus) error {
	cancel, err := bus.Subscribe(h.Deliver)
	if err != nil {
		return err
	}
	defer cancel()
	<-ctx.Done()
	return nil
}

// Shutdown closes every connection with 1001 "server shutting down" (after
// the frames already queued for it) and waits until their writers have
// exited or ctx is done; in the latter case it closes the remaining sockets
// outright and returns ctx.Err(). Connections registered afterwards are
// closed at once. Safe to call more than once.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.shut = true
	conns := make([]*Conn, 0, len(h.live))
	for c := range h.live {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.Close(CloseGoingAway, "server shutting down")
	}
	for i, c := range conns {
		select {
		case <-c.Done():
		case <-ctx.Done():
			for _, c := range conns[i:] {
				c.forceClose()
			}
			return ctx.Err()
		}
	}
	return nil
}

// CloseAgent closes every connection of the agent with the given close
// code and reason, after the frames already queued; used when the agent's
// token is revoked (wire.CloseRevoked) or expires (wire.CloseTokenExpired).
func (h *Hub) CloseAgent(agentID string, code int, reason string) {
	for _, c := range h.resolve(models.Audience{Agents: []string{agentID}}) {
		c.Close(code, reason)
	}
}

// AgentConnections returns how many open connections the agent has here.
func (h *Hub) AgentConnections(agentID string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.agents[agentID])
}

// VisitorConnections returns how many open connections the visitor has
// here (the offline life cycle mails replies only to shoppers with none).
func (h *Hub) VisitorConnections(visitorID string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.visitors[visitorID])
}

// ConnectedAgents returns the ids of the agents with at least one open
// connection here, in no particular order.
func (h *Hub) ConnectedAgents() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ids := make([]string, 0, len(h.agents))
	for id := range h.agents {
		ids = append(ids, id)
	}
	return ids
}

// Counts returns how many visitor and agent connections are open here
// (connections being closed are not counted).
func (h *Hub) Counts() (visitors, agents int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.nVisitor, h.nAgents
}

func (h *Hub) writerExited(c *Conn) {
	h.unindex(c)
	h.mu.Lock()
	delete(h.live, c)
	h.mu.Unlock()
}
