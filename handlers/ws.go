package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	fastws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
	"github.com/kefu-chat/kefu/realtime"
	"github.com/kefu-chat/kefu/routing"
)

const (
	subprotocol  = "kefu.v1"
	bearerPrefix = "bearer."
)

// Locals keys for what the pre-upgrade checks found.
const (
	localUserAgent = "kefu.ua"
)

func (s *Server) wsConfig(handler func(*websocket.Conn)) fiber.Handler {
	return websocket.New(handler, websocket.Config{
		// Origins were already checked, case-insensitively, by the
		// upgrade middleware, which answers 403 rather than the library's 426.
		Origins:          []string{"*"},
		Subprotocols:     []string{subprotocol},
		HandshakeTimeout: 10 * time.Second,
		RecoverHandler:   s.recoverSocket,
		// Per-socket buffers live as long as the socket, and most sockets
		// are idle shoppers. Reads already come through fasthttp's 4 KiB
		// connection buffer, so the websocket reader's own can be small;
		// write buffers are taken from a pool for each frame and given
		// back, so an idle socket holds none.
		ReadBufferSize:  256,
		WriteBufferSize: 4096,
		WriteBufferPool: &s.writeBuffers,
	})
}

// recoverSocket replaces the library's default, which would write the panic
// value to the client.
func (s *Server) recoverSocket(c *websocket.Conn) {
	if e := recover(); e != nil {
		s.log.Error("panic in websocket handler", "panic", e)
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "internal error"), time.Now().Add(time.Second))
	}
}

func (s *Server) visitorUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	if !originAllowed(c, func(o string) bool { return s.shopOrigins[o] }) {
		return models.Errorf(models.EFORBIDDEN, "this origin may not open the chat widget; add it to KEFU_ALLOWED_ORIGINS")
	}
	if err := s.limitConnection(c); err != nil {
		return err
	}
	c.Locals(localUserAgent, strings.Clone(c.Get(fiber.HeaderUserAgent)))
	return c.Next()
}

func (s *Server) agentUpgrade(c *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	if !originAllowed(c, func(o string) bool { return o == s.ownOrigin }) {
		return models.Errorf(models.EFORBIDDEN, "the agent socket accepts only Kefu's own origin")
	}
	if err := s.limitConnection(c); err != nil {
		return err
	}
	token := ""
	hasProto := false
	for _, p := range strings.Split(c.Get(fiber.HeaderSecWebSocketProtocol), ",") {
		p = strings.TrimSpace(p)
		if p == subprotocol {
			hasProto = true
		} else if t, ok := strings.CutPrefix(p, bearerPrefix); ok {
			token = t
		}
	}
	if token == "" || !hasProto {
		return models.Errorf(models.EUNAUTHORIZED, "send the subprotocols %q and %q<access token>", subprotocol, bearerPrefix)
	}
	a, claims, err := s.verifyAgentToken(c, token)
	if err != nil {
		return err
	}
	c.Locals(localAgent, a)
	c.Locals(localClaims, claims)
	return c.Next()
}

// tcpSocket is a websocket as the hub needs it: Close closes the TCP
// connection. fasthttp hands the handler a wrapper of the hijacked
// connection whose Close does nothing (fasthttp closes it once the handler
// returns), so without this the hub's closes (after a close frame the
// client does not answer, after a failed write, Unregister interrupting a
// blocked write) left the client connected until the read deadline, up to
// a minute later. Closing the TCP connection makes the handler's read fail
// at once, and the handler then unregisters.
type tcpSocket struct {
	*fastws.Conn
	tcp net.Conn
}

func (s tcpSocket) Close() error { return s.tcp.Close() }

func hubSocket(ws *websocket.Conn) realtime.Socket {
	nc := ws.UnderlyingConn()
	if h, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		nc = h.UnsafeConn()
	}
	return tcpSocket{Conn: ws.Conn, tcp: nc}
}

// socket is what both websocket handlers share: the raw connection for
// reading, the hub's Conn for writing, and the flood limiter.
type socket struct {
	s    *Server
	ws   *websocket.Conn
	conn *realtime.Conn // nil until registered with the hub

	tokens  float64
	last    time.Time
	closing atomic.Bool // set by close, which frame handlers may call from their own goroutines
	// helloBy, while set, is when the hello must have arrived: frames
	// before it do not extend the read deadline.
	helloBy time.Time
}

func (s *Server) newSocket(ws *websocket.Conn) *socket {
	ws.SetReadLimit(int64(s.Config.MaxFrameBytes))
	pongWait := 2*s.Config.PingInterval + s.Config.WriteTimeout
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })
	return &socket{s: s, ws: ws, tokens: float64(s.Config.FrameBurst), last: time.Now()}
}

// read returns the next text frame's payload. It returns ok=false when the
// connection is done: broken, closed by the peer, or closed by us for a
// protocol violation (binary frame, invalid UTF-8, flooding).
func (k *socket) read() (data []byte, ok bool) {
	for {
		mt, data, err := k.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				k.drain()
			}
			return nil, false
		}
		if k.helloBy.IsZero() {
			pongWait := 2*k.s.Config.PingInterval + k.s.Config.WriteTimeout
			_ = k.ws.SetReadDeadline(time.Now().Add(pongWait))
		}
		if k.closing.Load() {
			continue // wait for the peer to answer our close frame
		}
		if !k.allow() {
			k.close(websocket.ClosePolicyViolation, "too many frames")
			continue
		}
		if mt != websocket.TextMessage {
			k.close(websocket.CloseUnsupportedData, "binary frames are not supported")
			continue
		}
		if !utf8.Valid(data) {
			k.close(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
			continue
		}
		return data, true
	}
}

// drain reads and discards what the peer is still sending after a frame
// over the read limit, for a moment. The library has already sent the 1009
// close frame; closing a socket with unread data would make the kernel
// reset the connection, and the client would lose that frame.
func (k *socket) drain() {
	c := k.ws.UnderlyingConn()
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, int64(4*k.s.Config.MaxFrameBytes)))
}

// allow is a token bucket: FrameBurst frames at once, FramesPerSecond
// after (KEFU_FRAME_BURST, KEFU_FRAMES_PER_SECOND).
func (k *socket) allow() bool {
	now := time.Now()
	k.tokens += now.Sub(k.last).Seconds() * float64(k.s.Config.FramesPerSecond)
	if burst := float64(k.s.Config.FrameBurst); k.tokens > burst {
		k.tokens = burst
	}
	k.last = now
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

// close asks for the connection to close with code. Reading continues until
// the peer answers, so the close frame is not lost to a reset.
func (k *socket) close(code int, reason string) {
	k.closing.Store(true)
	if k.conn != nil {
		k.conn.Close(code, reason)
		return
	}
	// Not yet registered: this goroutine is the only writer.
	deadline := time.Now().Add(k.s.Config.WriteTimeout)
	_ = k.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), deadline)
	_ = k.ws.SetReadDeadline(time.Now().Add(2 * time.Second))
}

// send encodes a frame and queues it.
func (k *socket) send(f wire.ServerFrame) {
	raw, err := json.Marshal(f)
	if err != nil {
		k.s.log.Error("encoding frame", "type", f.Type, "err", err)
		return
	}
	if k.conn != nil {
		k.conn.Send(raw)
		return
	}
	_ = k.ws.SetWriteDeadline(time.Now().Add(k.s.Config.WriteTimeout))
	_ = k.ws.WriteMessage(websocket.TextMessage, raw)
}

// sendError reports err to the client in an error frame; the connection
// stays open. Internal errors are logged and shown as "internal error".
func (k *socket) sendError(err error, ref string) {
	k.sendErrorAbout(err, ref, "")
}

// frameError reports err about frame f, naming f's conversation: an agent
// socket answers frames about different conversations out of order (see
// lanes), so a client matches an error to its sync by conversation.
func (k *socket) frameError(err error, f wire.ClientFrame) {
	k.sendErrorAbout(err, ref(f), f.ConversationID)
}

func (k *socket) sendErrorAbout(err error, ref, conversationID string) {
	code := models.ErrorCode(err)
	if code == models.EINTERNAL || code == models.EUNAVAILABLE {
		k.s.log.Error("websocket request failed", "ref", ref, "err", err)
	}
	k.send(wire.ServerFrame{Type: wire.TypeError, Code: code, Error: models.ErrorMessage(err), Ref: ref, ConversationID: conversationID})
}

// decode parses a client frame; a malformed one is EINVALID.
func decode(data []byte) (wire.ClientFrame, error) {
	var f wire.ClientFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return f, models.Errorf(models.EINVALID, "malformed JSON frame")
	}
	if f.Type == "" {
		return f, models.Errorf(models.EINVALID, "the frame has no type")
	}
	return f, nil
}

// ref is what an error frame about f refers to: the message's client_id,
// the announcement a seen frame names, or else the frame's type.
func ref(f wire.ClientFrame) string {
	if f.AnnouncementID != "" {
		return clip(f.AnnouncementID, 64)
	}
	if f.ClientID != "" {
		return f.ClientID
	}
	return f.Type
}

// serveVisitor serves a shopper's widget.
func (s *Server) serveVisitor() fiber.Handler {
	return s.wsConfig(func(ws *websocket.Conn) {
		k := s.newSocket(ws)
		h := s.awaitHello(k, ws)
		if h == nil {
			return
		}
		k.conn = s.Hub.Register(realtime.Identity{Kind: realtime.KindVisitor, ID: h.visitor.ID}, hubSocket(ws))
		defer s.Hub.Unregister(k.conn)
		k.conn.SetAttrs(h.info.PageURL, h.info.Lang)
		k.conn.Send(h.welcome)
		s.sendActiveAnnouncements(k, h.info.PageURL, h.info.Lang, false)
		// With peers, the others must know this shopper is here, or they
		// would mail the shopper replies they see live (gathered, and
		// written with others' every 100 ms: no store write here).
		if s.Visitors.Opened(h.visitor.ID) {
			id := h.visitor.ID
			defer s.Visitors.Closed(id)
		}
		s.visitorLoop(k, ws, h.visitor)
	})
}

// awaitHello reads frames until a valid hello and returns its outcome, or
// nil when the socket ended first. Each hello's work runs on s.hellos, not
// on this goroutine, which then stays as small as an idle socket needs.
func (s *Server) awaitHello(k *socket, ws *websocket.Conn) *hello {
	k.helloBy = time.Now().Add(s.Config.HelloTimeout)
	_ = ws.SetReadDeadline(k.helloBy)
	ws.SetPongHandler(nil) // pongs must not extend the hello deadline either
	ua, _ := ws.Locals(localUserAgent).(string)
	for {
		data, ok := k.read()
		if !ok {
			if !k.closing.Load() {
				k.close(wire.CloseHelloTimeout, "no hello")
			}
			return nil
		}
		var h hello
		s.hellos.run(func() { h = s.hello(data, ua) })
		if h.err != nil {
			k.sendErrorAbout(h.err, h.ref, h.conversationID)
			continue
		}
		return &h
	}
}

// hello is the outcome of a hello frame: the visitor and its encoded
// welcome, or the error to answer with (ref and conversationID are the
// error frame's).
type hello struct {
	visitor        *models.Visitor
	info           chat.VisitorInfo
	welcome        []byte
	err            error
	ref            string
	conversationID string
}

// hello decodes a hello frame, finds or creates the visitor and encodes
// the welcome.
func (s *Server) hello(data []byte, ua string) hello {
	f, err := decode(data)
	if err == nil && f.Type != wire.TypeHello {
		err = models.Errorf(models.EINVALID, "the first frame must be hello")
	}
	if err != nil {
		return hello{err: err, ref: ref(f), conversationID: f.ConversationID}
	}
	info := helloInfo(f, ua)
	info.Identity = s.verifyIdentity(f.Identity)
	v, welcome, err := s.Chat.Hello(context.Background(), f.Token, info)
	if err != nil {
		return hello{err: err, ref: f.Type}
	}
	raw, err := json.Marshal(welcome)
	if err != nil {
		return hello{err: fmt.Errorf("encoding the welcome: %w", err), ref: f.Type}
	}
	return hello{visitor: v, info: info, welcome: raw}
}

// visitorLoop serves a shopper's frames after the welcome.
func (s *Server) visitorLoop(k *socket, ws *websocket.Conn, v *models.Visitor) {
	ctx := context.Background()
	k.helloBy = time.Time{}
	pongWait := 2*s.Config.PingInterval + s.Config.WriteTimeout
	_ = ws.SetReadDeadline(time.Now().Add(pongWait))
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(pongWait)) })

	vs := &visitorSocket{socket: k, visitor: v}
	for {
		data, ok := k.read()
		if !ok {
			return
		}
		f, err := decode(data)
		if err != nil {
			k.sendError(err, "")
			continue
		}
		h, ok := s.visitorFrames[f.Type]
		if !ok {
			k.sendError(models.Errorf(models.EINVALID, "unknown frame type %q", clip(f.Type, 32)), clip(f.Type, 32))
			continue
		}
		if err := s.limitNewConversation(ctx, vs, f); err != nil {
			k.frameError(err, f)
			continue
		}
		if err := h(ctx, vs, f); err != nil {
			k.frameError(err, f)
		}
	}
}

func helloInfo(f wire.ClientFrame, ua string) chat.VisitorInfo {
	info := chat.VisitorInfo{Lang: f.Lang, UserAgent: ua}
	if f.Page != nil {
		info.PageURL, info.PageTitle = f.Page.URL, f.Page.Title
	}
	return info
}

// clip shortens s for echoing back in an error frame.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// agentSession is an agent socket's credentials, which auth frames renew and
// the watchdog checks.
type agentSession struct {
	mu        sync.Mutex
	expiresAt time.Time
	version   int
}

func (a *agentSession) set(exp time.Time, version int) {
	a.mu.Lock()
	a.expiresAt, a.version = exp, version
	a.mu.Unlock()
}

func (a *agentSession) get() (time.Time, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.expiresAt, a.version
}

// serveAgent serves an agent's console.
func (s *Server) serveAgent() fiber.Handler {
	return s.wsConfig(func(ws *websocket.Conn) {
		ctx := context.Background()
		a := ws.Locals(localAgent).(*models.Agent)
		claims := ws.Locals(localClaims).(auth.Claims)
		k := s.newSocket(ws)
		k.conn = s.Hub.Register(realtime.Identity{Kind: realtime.KindAgent, ID: a.ID, Admin: a.Role == models.RoleAdmin}, hubSocket(ws))
		defer s.Hub.Unregister(k.conn)

		agentID := a.ID
		sess := &agentSession{}
		sess.set(claims.ExpiresAt, claims.TokenVersion)
		stop := make(chan struct{})
		var watch sync.WaitGroup
		watch.Add(1)
		go func() {
			defer watch.Done()
			s.watchAgent(ctx, k.conn, agentID, sess, stop)
		}()
		defer func() { close(stop); watch.Wait() }()

		p := s.Dispatcher.AgentConnected(a.ID)
		defer s.Dispatcher.AgentDisconnected(a.ID)
		as := &agentSocket{socket: k, agent: a, session: sess}
		inFlight := newLanes()
		defer inFlight.barrier() // before the socket is unregistered
		welcome, err := s.Chat.AgentWelcome(ctx, a, string(p.Status))
		if err != nil {
			k.sendError(err, "welcome")
			k.close(websocket.CloseInternalServerErr, "internal error")
		} else {
			exp, _ := sess.get()
			welcome.ExpiresAt = &exp
			k.send(welcome)
			s.sendActiveAnnouncements(k, "", "", true)
		}

		for {
			data, ok := k.read()
			if !ok {
				return
			}
			f, err := decode(data)
			if err != nil {
				k.sendError(err, "")
				continue
			}
			// Act on the agent as stored now: a role or name change made
			// while the socket is open applies at once.
			if fresh, err := s.Store.Agent(ctx, agentID); err == nil {
				if _, version := sess.get(); fresh.Disabled || fresh.TokenVersion != version {
					k.close(wire.CloseRevoked, "session revoked")
					continue
				}
				as.agent = fresh
			}
			h, ok := s.agentFrames[f.Type]
			if !ok {
				k.sendError(models.Errorf(models.EINVALID, "unknown frame type %q", clip(f.Type, 32)), clip(f.Type, 32))
				continue
			}
			frame := *as // this frame's view of the agent, whatever later frames see
			run := func() {
				if err := h(ctx, &frame, f); err != nil {
					k.frameError(err, f)
				}
			}
			if f.ConversationID == "" {
				inFlight.barrier()
				run()
				continue
			}
			inFlight.do(f.ConversationID, run)
		}
	})
}

func (s *Server) setStatus(ctx context.Context, agentID, status string) error {
	st := routing.Status(status)
	if st != routing.StatusOnline && st != routing.StatusAway {
		return models.Errorf(models.EINVALID, "status must be online or away")
	}
	if err := s.Dispatcher.SetStatus(agentID, st); err != nil {
		return err
	}
	s.Chat.AgentStatus(ctx, agentID, status)
	return nil
}

// reauth moves an open socket onto a fresh access token of the same agent.
func (s *Server) reauth(ctx context.Context, as *agentSocket, token string) error {
	claims, err := s.Issuer.VerifyAccess(token)
	if err != nil {
		return err
	}
	if claims.AgentID != as.agent.ID {
		return models.Errorf(models.EUNAUTHORIZED, "the token belongs to another agent")
	}
	a, err := s.Store.Agent(ctx, as.agent.ID)
	if err != nil {
		return err
	}
	if err := auth.CheckAgent(claims, a); err != nil {
		return err
	}
	as.session.set(claims.ExpiresAt, claims.TokenVersion)
	exp := claims.ExpiresAt
	as.send(wire.ServerFrame{Type: wire.TypeAuthOK, ExpiresAt: &exp})
	return nil
}

// watchAgent closes the socket when its token expires (4401) or the agent's
// tokens are revoked or the agent disabled (4503), checking the store every
// RevalidateEvery so that changes made by the CLI in another process apply
// too.
func (s *Server) watchAgent(ctx context.Context, conn *realtime.Conn, agentID string, sess *agentSession, stop <-chan struct{}) {
	t := time.NewTicker(s.Config.RevalidateEvery)
	defer t.Stop()
	for {
		exp, version := sess.get()
		wait := time.Until(exp)
		if wait <= 0 {
			conn.Close(wire.CloseTokenExpired, "token expired")
			return
		}
		expiry := time.NewTimer(wait)
		select {
		case <-stop:
			expiry.Stop()
			return
		case <-conn.Done():
			expiry.Stop()
			return
		case <-expiry.C:
			continue // re-read: an auth frame may have extended it
		case <-t.C:
			expiry.Stop()
			a, err := s.Store.Agent(ctx, agentID)
			if err != nil && !errors.Is(err, context.Canceled) && models.ErrorCode(err) != models.ENOTFOUND {
				continue // the database is unreachable: keep serving, check again
			}
			if err != nil || a.Disabled || a.TokenVersion != version {
				conn.Close(wire.CloseRevoked, "session revoked")
				return
			}
		}
	}
}
