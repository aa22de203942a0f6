package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models/wire"
)

// Errors a Client returns besides the server's *models.Error refusals.
var (
	// ErrClosed: Close was called (or the client stopped for good; see Err).
	ErrClosed = errors.New("kefu client: closed")
	// ErrOverflow: the application did not read Events fast enough. The
	// client dropped the connection and resumes once there is room.
	ErrOverflow = errors.New("kefu client: event buffer full; reconnecting after the application catches up")
	// ErrNotConnected: a fire-and-forget frame (Resolve, SetStatus) could not
	// be sent because the client is between connections.
	ErrNotConnected = errors.New("kefu client: not connected")
)

// Options are what visitor and agent clients share. The zero value works.
type Options struct {
	// Origin is sent as the Origin header. Leave empty for a program (Kefu
	// allows sockets without Origin; the credential decides); set it to the
	// shop page's origin to act like its widget.
	Origin string
	// Dialer dials the websocket; nil means a default with a 10 s handshake
	// timeout. Set NetDialContext to go through a proxy.
	Dialer *websocket.Dialer
	// EventBuffer is the capacity of the Events channel; default 256.
	EventBuffer int
	// MinBackoff and MaxBackoff bound the wait before a reconnect: attempt n
	// waits a random time in [0, min(MaxBackoff, MinBackoff·2ⁿ)) ("full
	// jitter"). Defaults 200 ms and 10 s.
	MinBackoff, MaxBackoff time.Duration
	// ReadTimeout: a connection on which nothing (not even a ping) arrives
	// for this long is considered dead. Default 60 s (the server pings every
	// 25 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds each frame write; default 10 s.
	WriteTimeout time.Duration
	// FramesPerSecond and FrameBurst pace what the client writes so that it
	// stays under the server's flood limit (40 at once, 20/s) even when it
	// resumes many conversations at once. Defaults 15 and 30.
	FramesPerSecond float64
	FrameBurst      int
	// Resume gives the last seq the application already has for some
	// conversations (kept from an earlier run); the client resumes them from
	// there. Conversations not listed start from 0: their whole history is
	// delivered.
	Resume map[string]int64
	// Seed seeds the backoff jitter; 0 means random.
	Seed uint64
	// OnFrame, when set, is called with every frame as received, before the
	// client acts on it, on the client's own goroutine: it must return
	// quickly. data is the frame's JSON and is not reused by the client.
	// For logging, debugging, and fields this package does not know yet.
	OnFrame func(data []byte)
}

// VisitorOptions configure a shopper's client.
type VisitorOptions struct {
	Options
	// Token is the visitor token from an earlier session (Client.VisitorToken);
	// empty for a new visitor.
	Token string
	Page  wire.Page
	Lang  string
}

// AgentOptions configure an agent's client. Set AccessToken, TokenSource,
// or both (AccessToken is then used for the first dial only).
type AgentOptions struct {
	Options
	AccessToken string
	// TokenSource gives the token for each later dial. Without one, a
	// connection closed because the token expired (4401) cannot resume and
	// the client stops with EUNAUTHORIZED.
	TokenSource TokenSource
}

// Ack is the server's acknowledgement of a sent message: it is committed.
type Ack struct {
	ClientID       string
	MessageID      string
	ConversationID string
	Seq            int64
}

// EventKind says what an Event is about.
type EventKind uint8

// Event kinds.
const (
	EventConnected             EventKind = iota + 1 // a connection was established and welcomed (Frame: the welcome)
	EventDisconnected                               // the connection ended (Err: why; Terminal: no reconnect follows)
	EventMessage                                    // a message, delivered once and in seq order per conversation
	EventConversation                               // a conversation changed (Frame.Conversation)
	EventQueue                                      // agents: the queue (Frame.Queue)
	EventPosition                                   // visitors: place in the queue (Frame.Position)
	EventStatus                                     // agents: status of this agent (Frame.Status)
	EventAuthOK                                     // agents: the socket runs on a new token
	EventError                                      // an error frame not tied to a Send (Err: *models.Error; Frame.Ref)
	EventTyping                                     // the other party is typing (Frame.ConversationID, SenderKind, SenderName)
	EventRead                                       // a read mark rose (Frame.ConversationID, SenderKind, Seq)
	EventAnnouncement                               // a store-wide announcement (Frame.Announcement); the same id may come twice
	EventAnnouncementWithdrawn                      // take an announcement down (Frame.AnnouncementID, Reason)
	EventTransfer                                   // agents: a conversation was transferred to you (Frame.Transfer, Conversation)
	EventUnavailable                                // visitors: nobody can answer now (Frame.ConversationID, Reason, EmailReplies)
	EventEmailSaved                                 // visitors: the address replies are mailed to (Frame.Status)
	EventOther                                      // a frame type this package does not know (Frame.Type; see Options.OnFrame)
)

func (k EventKind) String() string {
	names := [...]string{"", "connected", "disconnected", "message", "conversation", "queue", "position", "status", "auth_ok", "error",
		"typing", "read", "announcement", "announcement_withdrawn", "transfer", "unavailable", "email_saved", "other"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Event is one thing the server told the application.
type Event struct {
	Kind     EventKind
	Message  wire.MessageView  // EventMessage
	Frame    *wire.ServerFrame // the frame as received, for the other kinds
	Err      error             // EventDisconnected, EventError
	Terminal bool              // EventDisconnected: the client stopped for good
}

// Stats count what a Client did, for tests and the load tool.
type Stats struct {
	Dials      int64 // connection attempts
	Connects   int64 // connections that got their welcome
	Disconnect int64 // connections that ended after their welcome
	Syncs      int64 // sync frames sent
	Resent     int64 // pending messages sent again after a reconnect
	Duplicates int64 // messages dropped because their seq was already delivered
	Gaps       int64 // messages that arrived ahead of a gap
	Delivered  int64 // messages put on the Events channel
	Overflows  int64 // times the Events channel was full
}

type clientKind uint8

const (
	kindVisitor clientKind = iota
	kindAgent
)

// Client is one shopper's or agent's connection to Kefu, kept alive across
// network failures and server restarts. Make one with DialVisitor or
// DialAgent; Close it when done.
type Client struct {
	kind    clientKind
	wsURL   string
	opts    Options
	visitor VisitorOptions
	agent   AgentOptions
	dialer  websocket.Dialer

	events    chan Event
	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	done      chan struct{} // closed when the supervisor has exited
	closeOnce sync.Once

	st struct {
		dials, connects, disconnects, syncs, resent, dups, gaps, delivered, overflows atomic.Int64
	}

	mu           sync.Mutex
	sess         *session
	rnd          *rand.Rand
	visitorToken string
	visitorID    string
	agentID      string
	convs        map[string]*convState
	pending      map[string]*pendingSend
	nextPending  uint64
	err          error // why the client stopped for good
}

// convState is what the client knows of one conversation.
type convState struct {
	delivered int64                      // the last seq on the Events channel
	buf       map[int64]wire.MessageView // arrived ahead of a gap
	syncing   bool                       // a sync is in flight on this connection
	noSync    bool                       // the server refused a sync: not ours to read
}

// pendingSend is a message waiting for its ack.
type pendingSend struct {
	n     uint64 // creation order, for resending in order
	frame []byte
	done  chan sendResult // capacity 1
}

type sendResult struct {
	ack Ack
	err error
}

// session is one websocket connection.
type session struct {
	conn     *websocket.Conn
	outq     [][]byte
	wake     chan struct{} // capacity 1
	stop     chan struct{}
	syncQ    []string // conversations of the syncs in flight, in the order sent
	welcomed bool
}

// maxBuffered bounds the early arrivals held per conversation; more are
// dropped and fetched by the sync that fills the gap.
const maxBuffered = 1024

// DialVisitor connects as a shopper and returns once the server has sent
// its welcome, or with the error that stopped the first attempt. Later
// failures are retried in the background.
func DialVisitor(ctx context.Context, baseURL string, o VisitorOptions) (*Client, error) {
	c, err := newClient(baseURL, "/ws/visitor", o.Options)
	if err != nil {
		return nil, err
	}
	c.kind, c.visitor, c.visitorToken = kindVisitor, o, o.Token
	return c, c.start(ctx)
}

// DialAgent connects as an agent and returns once the server has sent its
// welcome, or with the error that stopped the first attempt (a
// *models.Error with EUNAUTHORIZED for a bad token, EFORBIDDEN for a
// refused Origin).
func DialAgent(ctx context.Context, baseURL string, o AgentOptions) (*Client, error) {
	if o.AccessToken == "" && o.TokenSource == nil {
		return nil, errors.New("kefu client: AgentOptions needs AccessToken or TokenSource")
	}
	c, err := newClient(baseURL, "/ws/agent", o.Options)
	if err != nil {
		return nil, err
	}
	c.kind, c.agent = kindAgent, o
	return c, c.start(ctx)
}

func newClient(baseURL, path string, o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("kefu client: base URL: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("kefu client: base URL %q: want http(s):// or ws(s)://", baseURL)
	}
	u.Path += path
	if o.EventBuffer <= 0 {
		o.EventBuffer = 256
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 200 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(10*time.Second, o.MinBackoff)
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.FramesPerSecond <= 0 {
		o.FramesPerSecond = 15
	}
	if o.FrameBurst <= 0 {
		o.FrameBurst = 30
	}
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	c := &Client{
		wsURL: u.String(), opts: o,
		events:  make(chan Event, o.EventBuffer),
		done:    make(chan struct{}),
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		convs:   make(map[string]*convState),
		pending: make(map[string]*pendingSend),
	}
	if o.Dialer != nil {
		c.dialer = *o.Dialer
	} else {
		c.dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	}
	for id, seq := range o.Resume {
		c.convs[id] = &convState{delivered: seq}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// start runs the supervisor and waits for the first welcome.
func (c *Client) start(ctx context.Context) error {
	first := make(chan error, 1)
	go c.run(first)
	select {
	case err := <-first:
		if err != nil {
			c.Close()
			return err
		}
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// Events returns the channel of everything the server says, closed after
// Close or after the client stopped for good. See the package doc for the
// buffering policy.
func (c *Client) Events() <-chan Event { return c.events }

// Done is closed when the client has stopped (Close, or a terminal error).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped for good: nil while it runs or after
// a plain Close.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// VisitorToken returns the visitor token from the latest welcome; keep it
// to come back as the same shopper.
func (c *Client) VisitorToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.visitorToken
}

// ID returns the visitor's or agent's id from the latest welcome.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kind == kindAgent {
		return c.agentID
	}
	return c.visitorID
}

// LastSeq returns the last seq of the conversation delivered on Events.
func (c *Client) LastSeq(conversationID string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs := c.convs[conversationID]; cs != nil {
		return cs.delivered
	}
	return 0
}

// Track makes the client follow a conversation from afterSeq: it syncs it
// now (if connected) and after every reconnect. Conversations the client
// learns of by itself (its welcome, acks, messages, assignments) are
// tracked without asking.
func (c *Client) Track(conversationID string, afterSeq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.convs[conversationID]
	if cs == nil {
		cs = &convState{delivered: afterSeq}
		c.convs[conversationID] = cs
	}
	cs.noSync = false
	if c.sess != nil && c.sess.welcomed && !cs.syncing {
		c.requestSync(conversationID, cs)
	}
}

// Forget stops following a conversation (e.g. one that is resolved and
// fully read), so that reconnects no longer sync it.
func (c *Client) Forget(conversationID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.convs, conversationID)
}

// Stats returns counters of what the client did so far.
func (c *Client) Stats() Stats {
	return Stats{
		Dials: c.st.dials.Load(), Connects: c.st.connects.Load(), Disconnect: c.st.disconnects.Load(),
		Syncs: c.st.syncs.Load(), Resent: c.st.resent.Load(), Duplicates: c.st.dups.Load(), Gaps: c.st.gaps.Load(),
		Delivered: c.st.delivered.Load(), Overflows: c.st.overflows.Load(),
	}
}

// Pending returns how many sent messages are waiting for their ack.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Send sends a message with a new client id and waits for its ack. See
// SendWithID.
func (c *Client) Send(ctx context.Context, conversationID, body string) (Ack, error) {
	return c.SendWithID(ctx, conversationID, uuid.NewString(), body)
}

// SendWithID sends a message and waits until the server acknowledges it
// (it is then committed) or refuses it (a *models.Error: ETOOLARGE,
// EFORBIDDEN, ECONFLICT for a resolved conversation, …). Until then the
// message is pending: it survives reconnects and is sent again, with the
// same clientID, after each one; the server stores it at most once.
//
// Agents must give conversationID. A visitor may leave it empty for "my open
// conversation, or a new one"; with it set, a conversation resolved in the
// meantime is refused with ECONFLICT.
//
// Cancelling ctx stops the waiting and the retries; the message may then
// have been stored or not, and calling SendWithID again with the same
// clientID settles it. Sending a clientID that is already pending waits for
// the same outcome instead of sending twice.
func (c *Client) SendWithID(ctx context.Context, conversationID, clientID, body string) (Ack, error) {
	c.mu.Lock()
	if c.err != nil || c.ctx.Err() != nil {
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return Ack{}, err
	}
	p := c.pending[clientID]
	if p == nil {
		frame, err := json.Marshal(wire.ClientFrame{Type: wire.TypeSend, ConversationID: conversationID, ClientID: clientID, Body: body})
		if err != nil {
			c.mu.Unlock()
			return Ack{}, err
		}
		c.nextPending++
		p = &pendingSend{n: c.nextPending, frame: frame, done: make(chan sendResult, 1)}
		c.pending[clientID] = p
		if s := c.sess; s != nil && s.welcomed {
			s.enqueue(frame)
		}
	}
	c.mu.Unlock()

	select {
	case r := <-p.done:
		p.done <- r // let another waiter on the same client id see it too
		return r.ack, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending[clientID] == p {
			delete(c.pending, clientID)
		}
		c.mu.Unlock()
		return Ack{}, ctx.Err()
	case <-c.done:
		if err := c.Err(); err != nil {
			return Ack{}, err
		}
		return Ack{}, ErrClosed
	}
}

// Resolve asks the server to close a conversation. It does not wait: the
// conversation event (or an EventError with Ref "resolve") tells the
// outcome.
func (c *Client) Resolve(conversationID string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeResolve, ConversationID: conversationID})
}

// SetStatus sets an agent's status: "online" or "away". It does not wait:
// an EventStatus confirms it.
func (c *Client) SetStatus(status string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeStatus, Status: status})
}

// Typing tells the other party that this user is typing in a conversation
// (visitors may pass "" for their open conversation). Send it every couple
// of seconds while the user types; the server drops what comes faster.
func (c *Client) Typing(conversationID string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeTyping, ConversationID: conversationID})
}

// Read reports that the user has seen the conversation up to seq. Both
// parties get an EventRead when the mark rose.
func (c *Client) Read(conversationID string, seq int64) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeRead, ConversationID: conversationID, Seq: seq})
}

// Seen reports that a shopper was shown an announcement (visitors). An
// unknown id comes back as an EventError with code ENOTFOUND and Ref the id.
func (c *Client) Seen(announcementID string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeSeen, AnnouncementID: announcementID})
}

// SetEmail gives the address an away shopper's replies are mailed to
// (visitors). An EventEmailSaved confirms it; an EventError with EINVALID
// refuses it.
func (c *Client) SetEmail(email string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeEmail, Email: email})
}

// Take assigns a queued conversation to this agent. The EventConversation
// that follows confirms it; an EventError (Ref "take") refuses it.
func (c *Client) Take(conversationID string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeTake, ConversationID: conversationID})
}

// Transfer hands a conversation to another agent (agentID), back to a
// department's queue (departmentID), or both, with a note only agents see.
func (c *Client) Transfer(conversationID, agentID, departmentID, note string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeTransfer, ConversationID: conversationID, AgentID: agentID,
		Department: departmentID, Note: note})
}

// Auth moves the open agent socket onto a fresh access token of the same
// agent, before the current one expires; EventAuthOK confirms it. (Without
// it the server closes the socket at expiry and the client reconnects with
// a token from its TokenSource.)
func (c *Client) Auth(accessToken string) error {
	return c.sendNow(wire.ClientFrame{Type: wire.TypeAuth, Token: accessToken})
}

func (c *Client) sendNow(f wire.ClientFrame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil || !c.sess.welcomed {
		return ErrNotConnected
	}
	c.sess.enqueue(data)
	return nil
}

// Close closes the connection (close code 1000), stops reconnecting, waits
// for the client's goroutines to end and closes Events. Pending sends
// return ErrClosed. Safe to call more than once and from any goroutine.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.mu.Lock()
		s := c.sess
		c.mu.Unlock()
		if s != nil {
			_ = s.conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = s.conn.Close()
		}
	})
	<-c.done
	return nil
}

// enqueue queues a frame for the writer; call with c.mu held.
func (s *session) enqueue(frame []byte) {
	s.outq = append(s.outq, frame)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// requestSync asks for the messages after the last delivered one; call with
// c.mu held and a welcomed session.
func (c *Client) requestSync(id string, cs *convState) {
	if cs.noSync {
		return
	}
	data, _ := json.Marshal(wire.ClientFrame{Type: wire.TypeSync, ConversationID: id, AfterSeq: cs.delivered, Limit: 500})
	cs.syncing = true
	c.sess.syncQ = append(c.sess.syncQ, id)
	c.sess.enqueue(data)
	c.st.syncs.Add(1)
}

// emit puts ev on the Events channel without blocking; false when full.
func (c *Client) emit(ev Event) bool {
	select {
	case c.events <- ev:
		return true
	default:
		c.st.overflows.Add(1)
		return false
	}
}

// resendPending sends every pending message again, oldest first; call with
// c.mu held.
func (c *Client) resendPending() {
	if len(c.pending) == 0 {
		return
	}
	ps := make([]*pendingSend, 0, len(c.pending))
	for _, p := range c.pending {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
	for _, p := range ps {
		c.sess.enqueue(p.frame)
	}
	c.st.resent.Add(int64(len(ps)))
}

// header returns the handshake header.
func (c *Client) header() http.Header {
	h := http.Header{}
	if c.opts.Origin != "" {
		h.Set("Origin", c.opts.Origin)
	}
	return h
}
