package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// terminalError marks an error after which the client must not reconnect.
type terminalError struct{ err error }

func (t terminalError) Error() string { return t.err.Error() }
func (t terminalError) Unwrap() error { return t.err }

// run is the supervisor: dial, serve the connection, back off, again. first
// gets the outcome of the first attempt; run stops if that failed.
func (c *Client) run(first chan<- error) {
	defer close(c.done)
	defer close(c.events)
	attempt := 0
	for {
		err := c.connectAndServe(first)
		first = nil
		if c.ctx.Err() != nil {
			c.stopPending(ErrClosed)
			return
		}
		var term terminalError
		if errors.As(err, &term) {
			c.mu.Lock()
			c.err = term.err
			c.mu.Unlock()
			c.stopPending(term.err)
			c.emit(Event{Kind: EventDisconnected, Err: term.err, Terminal: true})
			return
		}
		if errors.Is(err, ErrOverflow) {
			// Wait until the application has read half the buffer; the
			// resume refetches what did not fit.
			for len(c.events) > cap(c.events)/2 {
				select {
				case <-c.ctx.Done():
					c.stopPending(ErrClosed)
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			c.emit(Event{Kind: EventDisconnected, Err: err})
			attempt = 0
			continue
		}
		c.emit(Event{Kind: EventDisconnected, Err: err})
		if errors.Is(err, errWelcomed) {
			attempt = 0
		}
		attempt++
		select {
		case <-c.ctx.Done():
			c.stopPending(ErrClosed)
			return
		case <-time.After(c.backoff(attempt)):
		}
	}
}

// errWelcomed is what connectAndServe returns, wrapped, when a connection
// that had been welcomed ended; it resets the backoff.
var errWelcomed = errors.New("connection ended")

// backoff returns a random wait in [0, min(MaxBackoff, MinBackoff·2^(attempt-1))).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.opts.MinBackoff
	for i := 1; i < attempt && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rnd.Int64N(int64(d)) + 1)
}

// stopPending fails every pending send.
func (c *Client) stopPending(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, p := range c.pending {
		select {
		case p.done <- sendResult{err: err}:
		default:
		}
		delete(c.pending, id)
	}
}

// connectAndServe makes one connection and serves it until it ends. It
// returns a terminalError when no reconnect may follow.
func (c *Client) connectAndServe(first chan<- error) (err error) {
	welcomed := false
	defer func() {
		if first != nil && !welcomed {
			if err == nil {
				err = errors.New("kefu client: connection ended before welcome")
			}
			var term terminalError
			if errors.As(err, &term) {
				first <- term.err
			} else {
				first <- err
			}
			err = terminalError{err}
		}
	}()
	c.st.dials.Add(1)
	conn, err := c.dial()
	if err != nil {
		return err
	}
	s := &session{conn: conn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
	if c.ctx.Err() != nil { // Close ran between dial and here
		conn.Close()
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writer(s)
	}()
	if c.kind == kindVisitor {
		hello, _ := json.Marshal(wire.ClientFrame{Type: wire.TypeHello, Token: c.VisitorToken(), Page: &c.visitor.Page, Lang: c.visitor.Lang})
		c.mu.Lock()
		s.enqueue(hello)
		c.mu.Unlock()
	}

	err = c.readLoop(s, func() {
		welcomed = true
		if first != nil {
			first <- nil
			first = nil
		}
	})

	close(s.stop)
	conn.Close()
	<-writerDone
	c.mu.Lock()
	c.sess = nil
	for _, cs := range c.convs {
		cs.syncing = false
		cs.buf = nil // fetched again by the resume
	}
	c.mu.Unlock()
	if welcomed {
		c.st.disconnects.Add(1)
	}

	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case wire.CloseRevoked:
			return terminalError{&models.Error{Code: models.EUNAUTHORIZED, Message: "session revoked (close 4503): log in again"}}
		case wire.CloseTokenExpired:
			if c.kind == kindAgent && c.agent.TokenSource == nil {
				return terminalError{&models.Error{Code: models.EUNAUTHORIZED, Message: "access token expired (close 4401) and no TokenSource to refresh it"}}
			}
		case websocket.CloseNormalClosure:
			if c.ctx.Err() != nil {
				return ErrClosed
			}
		}
	}
	if welcomed && !errors.Is(err, ErrOverflow) {
		return fmt.Errorf("%w: %w", errWelcomed, err)
	}
	return err
}

// dial opens the websocket, with the agent's token as a subprotocol.
func (c *Client) dial() (*websocket.Conn, error) {
	d := c.dialer
	if c.kind == kindAgent {
		token := c.agent.AccessToken
		// Without a TokenSource every dial uses AccessToken.
		if c.agent.TokenSource != nil && (c.st.dials.Load() > 1 || token == "") {
			var err error
			if token, err = c.agent.TokenSource(c.ctx); err != nil {
				if models.ErrorCode(err) == models.EUNAUTHORIZED {
					return nil, terminalError{err}
				}
				return nil, fmt.Errorf("getting an access token: %w", err)
			}
		}
		d.Subprotocols = []string{"kefu.v1", "bearer." + token}
	}
	conn, resp, err := d.DialContext(c.ctx, c.wsURL, c.header())
	if err != nil {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				e := &models.Error{Code: models.EUNAUTHORIZED, Message: "the server refused the access token"}
				if c.kind == kindAgent && c.agent.TokenSource != nil {
					return nil, e // the source may have refreshed by the next dial
				}
				return nil, terminalError{e}
			case http.StatusForbidden:
				return nil, terminalError{&models.Error{Code: models.EFORBIDDEN, Message: "the server refused this Origin"}}
			}
		}
		return nil, err
	}
	return conn, nil
}

// writer writes queued frames, paced by a token bucket, until the session
// stops. A failed write closes the connection, which ends the read loop.
func (c *Client) writer(s *session) {
	tokens := float64(c.opts.FrameBurst)
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			c.mu.Lock()
			if len(s.outq) == 0 {
				c.mu.Unlock()
				break
			}
			frame := s.outq[0]
			s.outq[0] = nil
			s.outq = s.outq[1:]
			c.mu.Unlock()

			now := time.Now()
			tokens = min(float64(c.opts.FrameBurst), tokens+now.Sub(last).Seconds()*c.opts.FramesPerSecond)
			last = now
			if tokens < 1 {
				wait := time.Duration((1 - tokens) / c.opts.FramesPerSecond * float64(time.Second))
				select {
				case <-s.stop:
					return
				case <-time.After(wait):
				}
				tokens, last = 1, time.Now()
			}
			tokens--
			_ = s.conn.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
			if err := s.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
				s.conn.Close()
				return
			}
		}
	}
}

// readLoop reads and handles frames until the connection fails.
func (c *Client) readLoop(s *session, onWelcome func()) error {
	conn := s.conn
	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(c.opts.ReadTimeout)) }
	extend()
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		extend()
		if c.opts.OnFrame != nil {
			c.opts.OnFrame(data)
		}
		var f wire.ServerFrame
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("kefu client: undecodable frame: %w", err)
		}
		welcomed, err := c.handle(s, &f)
		if err != nil {
			return err
		}
		if welcomed {
			onWelcome()
		}
	}
}

// handle processes one frame. It returns welcomed=true for the welcome, and
// ErrOverflow when the application's buffer is full.
func (c *Client) handle(s *session, f *wire.ServerFrame) (welcomed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch f.Type {
	case wire.TypeWelcome:
		if s.welcomed {
			return false, nil
		}
		if c.kind == kindVisitor {
			if f.Token != "" {
				c.visitorToken = f.Token
			}
			if f.Visitor != nil {
				c.visitorID = f.Visitor.ID
			}
			if f.Conversation != nil {
				c.track(f.Conversation.ID)
			}
		} else {
			if f.Agent != nil {
				c.agentID = f.Agent.ID
			}
			for i := range f.Conversations {
				c.track(f.Conversations[i].ID)
			}
		}
		s.welcomed = true
		c.st.connects.Add(1)
		if !c.emit(Event{Kind: EventConnected, Frame: f}) {
			return false, ErrOverflow
		}
		for id, cs := range c.convs {
			c.requestSync(id, cs)
		}
		c.resendPending()
		return true, nil

	case wire.TypeAck:
		if p := c.pending[f.ClientID]; p != nil {
			delete(c.pending, f.ClientID)
			p.done <- sendResult{ack: Ack{ClientID: f.ClientID, MessageID: f.MessageID, ConversationID: f.ConversationID, Seq: f.Seq}}
		}
		if f.ConversationID != "" {
			c.track(f.ConversationID)
		}
		return false, nil

	case wire.TypeMessage:
		if f.Message == nil {
			return false, nil
		}
		cs := c.track(f.Message.ConversationID)
		return false, c.receive(s, f.Message.ConversationID, cs, f.Message)

	case wire.TypeMessages:
		id := s.answered(f.ConversationID)
		cs := c.convs[id]
		if cs == nil {
			return false, nil
		}
		cs.syncing = false
		for i := range f.Messages {
			if err := c.receive(s, id, cs, &f.Messages[i]); err != nil {
				return false, err
			}
		}
		if f.More || len(cs.buf) > 0 {
			c.requestSync(id, cs)
		}
		return false, nil

	case wire.TypeError:
		e := &models.Error{Code: f.Code, Message: f.Error}
		if p := c.pending[f.Ref]; p != nil && f.Ref != "" {
			delete(c.pending, f.Ref)
			p.done <- sendResult{err: e}
			return false, nil
		}
		if f.Ref == wire.TypeSync && len(s.syncQ) > 0 {
			id := s.answered(f.ConversationID)
			if cs := c.convs[id]; cs != nil {
				cs.syncing, cs.noSync, cs.buf = false, true, nil
			}
			e.Message = fmt.Sprintf("sync of conversation %s: %s", id, f.Error)
		}
		c.emit(Event{Kind: EventError, Frame: f, Err: e})
		return false, nil

	case wire.TypeConversation:
		if v := f.Conversation; v != nil {
			mine := c.kind == kindVisitor || (v.AgentID == c.agentID && v.Status != models.StatusQueued)
			if cs := c.convs[v.ID]; cs != nil || mine {
				if cs == nil {
					cs = c.track(v.ID)
				}
				if v.LastSeq > cs.delivered && !cs.syncing {
					c.requestSync(v.ID, cs)
				}
			}
		}
		c.emit(Event{Kind: EventConversation, Frame: f})
		return false, nil

	case wire.TypeQueue:
		c.emit(Event{Kind: EventQueue, Frame: f})
	case wire.TypePosition:
		c.emit(Event{Kind: EventPosition, Frame: f})
	case wire.TypeStatus:
		c.emit(Event{Kind: EventStatus, Frame: f})
	case wire.TypeAuthOK:
		c.emit(Event{Kind: EventAuthOK, Frame: f})
	case wire.TypeTyping:
		c.emit(Event{Kind: EventTyping, Frame: f})
	case wire.TypeRead:
		c.emit(Event{Kind: EventRead, Frame: f})
	case wire.TypeAnnouncement:
		c.emit(Event{Kind: EventAnnouncement, Frame: f})
	case wire.TypeAnnouncementWithdrawn:
		c.emit(Event{Kind: EventAnnouncementWithdrawn, Frame: f})
	case wire.TypeTransfer:
		// The conversation is now this agent's: follow it as an assignment.
		if v := f.Conversation; v != nil && v.AgentID == c.agentID && v.Status == models.StatusAssigned {
			cs := c.track(v.ID)
			if v.LastSeq > cs.delivered && !cs.syncing && s.welcomed {
				c.requestSync(v.ID, cs)
			}
		}
		c.emit(Event{Kind: EventTransfer, Frame: f})
	case wire.TypeUnavailable:
		c.emit(Event{Kind: EventUnavailable, Frame: f})
	case wire.TypeEmailSaved:
		c.emit(Event{Kind: EventEmailSaved, Frame: f})
	default:
		c.emit(Event{Kind: EventOther, Frame: f})
	}
	return false, nil
}

// track returns the state of a conversation, creating it (from seq 0) if
// the client did not know it; call with c.mu held.
func (c *Client) track(id string) *convState {
	cs := c.convs[id]
	if cs == nil {
		cs = &convState{}
		c.convs[id] = cs
	}
	return cs
}

// receive delivers m if it is the next of its conversation (then any held
// ones that follow), holds it if it is early, and drops it if it was
// delivered already; call with c.mu held.
func (c *Client) receive(s *session, id string, cs *convState, m *wire.MessageView) error {
	switch {
	case m.Seq <= cs.delivered || hasSeq(cs.buf, m.Seq):
		c.st.dups.Add(1)
		return nil
	case m.Seq > cs.delivered+1:
		c.st.gaps.Add(1)
		if len(cs.buf) < maxBuffered {
			if cs.buf == nil {
				cs.buf = make(map[int64]wire.MessageView)
			}
			cs.buf[m.Seq] = *m
		}
		if !cs.syncing && s.welcomed {
			c.requestSync(id, cs)
		}
		return nil
	}
	if !c.emit(Event{Kind: EventMessage, Message: *m}) {
		return ErrOverflow
	}
	cs.delivered = m.Seq
	c.st.delivered.Add(1)
	for len(cs.buf) > 0 {
		next, ok := cs.buf[cs.delivered+1]
		if !ok {
			break
		}
		if !c.emit(Event{Kind: EventMessage, Message: next}) {
			return ErrOverflow
		}
		delete(cs.buf, next.Seq)
		cs.delivered = next.Seq
		c.st.delivered.Add(1)
	}
	for seq := range cs.buf { // anything at or below delivered is stale
		if seq <= cs.delivered {
			delete(cs.buf, seq)
		}
	}
	return nil
}

func hasSeq(buf map[int64]wire.MessageView, seq int64) bool {
	_, ok := buf[seq]
	return ok
}

// answered takes the sync of conversation id off the list of syncs in
// flight and returns id. Answers name their conversation, and an agent
// socket may answer syncs of different conversations out of order; an
// answer naming none (older servers) is taken to be the oldest's.
func (s *session) answered(id string) string {
	if i := slices.Index(s.syncQ, id); id != "" && i >= 0 {
		s.syncQ = slices.Delete(s.syncQ, i, i+1)
		return id
	}
	if id == "" && len(s.syncQ) > 0 {
		id, s.syncQ = s.syncQ[0], s.syncQ[1:]
	}
	return id
}
