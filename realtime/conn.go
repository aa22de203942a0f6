package realtime

import (
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// Conn is one registered websocket connection: its identity, its send queue
// and its writer. Obtain it from Hub.Register.
//
// The writer is a goroutine that exists only while there is something to
// write: Send starts it when the queue goes from empty to not empty, the
// ping timer starts it when a ping is due, a close request starts it to send
// the close frame, and it exits once the queue is empty. There is never
// more than one (writing is set under mu before one starts), so it is still
// the connection's only writer. An idle shopper therefore holds no
// goroutine and no queue memory for writing, only this struct and a timer:
// most connections of a shop are idle shoppers, and a parked writer's stack
// and a preallocated queue were a third of what each of them cost.
type Conn struct {
	hub  *Hub
	id   Identity
	sock Socket

	// mu guards everything below up to attrMu.
	mu sync.Mutex
	// queue[head:] are the frames waiting for the writer, oldest first. It
	// is allocated when frames arrive and dropped again when a burst has
	// drained, so its size follows what is pending, never SendQueue.
	queue   [][]byte
	head    int
	writing bool // a writer goroutine is running (or about to)
	pingDue bool

	// The first close request: the writer drains the queue if closeDrain,
	// sends a close frame with closeCode and closeText, waits for the
	// client's answer (seen as Unregister) and closes the socket.
	closeReq   bool
	closeCode  int
	closeText  string
	closeDrain bool

	// stopped is set by Unregister (and by a forced shutdown): the writer
	// stops at once. stopCh, made when a writer has to wait for it, is
	// closed then too.
	stopped bool
	stopCh  chan struct{}
	// dead is set once nothing may be written any more: stopped, a write
	// failed, or the close handshake is over. No writer starts after it.
	dead bool
	// finished is set, and done closed, when the connection is over for
	// good (see Done).
	finished bool
	done     chan struct{}

	pinger *time.Timer    // fires every PingInterval; nil without pings
	writer sync.WaitGroup // the running writer, for Unregister to wait on

	attrMu  sync.RWMutex
	pageURL string
	lang    string
}

// Identity returns whom the connection belongs to.
func (c *Conn) Identity() Identity { return c.id }

// Done returns a channel that is closed when the connection's writer has
// stopped for good (after Unregister, once a close has completed, or once
// a write failed).
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.finished {
			close(c.done)
		}
	}
	return c.done
}

// SetAttrs records where a visitor is and in which language, for targeting
// announcements. Safe for concurrent use.
func (c *Conn) SetAttrs(pageURL, lang string) {
	c.attrMu.Lock()
	c.pageURL, c.lang = pageURL, lang
	c.attrMu.Unlock()
}

// Attrs returns what SetAttrs recorded.
func (c *Conn) Attrs() (pageURL, lang string) {
	c.attrMu.RLock()
	defer c.attrMu.RUnlock()
	return c.pageURL, c.lang
}

// matches reports whether the connection's attributes satisfy t.
func (c *Conn) matches(t *models.Targeting) bool {
	c.attrMu.RLock()
	defer c.attrMu.RUnlock()
	return t.Matches(c.pageURL, c.lang)
}

// Send queues frame for the writer without blocking. It returns false if
// the connection is closing, or if SendQueue frames are already waiting:
// then the connection is cut off with wire.CloseSlowClient (without
// writing what waits) and Options.OnSlowClient is called. frame must not be
// modified afterwards.
func (c *Conn) Send(frame []byte) bool {
	c.mu.Lock()
	if c.closeReq || c.dead {
		c.mu.Unlock()
		return false
	}
	if len(c.queue)-c.head >= c.hub.opts.SendQueue {
		c.mu.Unlock()
		if c.requestClose(wire.CloseSlowClient, "slow client", false) {
			c.hub.log.Info("realtime: slow client cut off", "kind", c.id.Kind, "id", c.id.ID)
			if f := c.hub.opts.OnSlowClient; f != nil {
				f(c.id)
			}
		}
		return false
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// Reuse the room the writer has freed before growing.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, frame)
	start := c.startWriterLocked()
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
	return true
}

// startWriterLocked reports whether the caller must start a writer (and
// then counts it as running); false if one runs or none may.
func (c *Conn) startWriterLocked() bool {
	if c.writing || c.dead {
		return false
	}
	c.writing = true
	c.writer.Add(1)
	return true
}

// popLocked takes the oldest waiting frame off the queue. Once the queue
// is empty its array is kept for the next frames if it is small and
// dropped if a burst made it large, so an idle connection holds little.
func (c *Conn) popLocked() ([]byte, bool) {
	if c.head == len(c.queue) {
		return nil, false
	}
	f := c.queue[c.head]
	c.queue[c.head] = nil
	c.head++
	if c.head == len(c.queue) {
		c.head = 0
		if cap(c.queue) > 4 {
			c.queue = nil
		} else {
			c.queue = c.queue[:0]
		}
	}
	return f, true
}

// Close asks the writer to send the frames already queued, then a close
// frame with code and reason, and then to close the socket, which makes the
// handler's read fail. It does not wait. Only the first close request of a
// connection counts.
func (c *Conn) Close(code int, reason string) {
	c.requestClose(code, reason, true)
}

// requestClose records the first close request, starts the writer to carry
// it out, and reports whether this was it. The connection leaves the
// routing index at once, so that fan-out stops counting and reaching it.
func (c *Conn) requestClose(code int, reason string, drain bool) bool {
	c.mu.Lock()
	if c.closeReq || c.dead {
		c.mu.Unlock()
		return false
	}
	c.closeReq = true
	c.closeCode, c.closeText, c.closeDrain = code, reason, drain
	if !drain {
		c.queue, c.head = nil, 0 // never to be written: free them now
	}
	start := c.startWriterLocked()
	c.mu.Unlock()
	c.hub.unindex(c)
	if start {
		go c.writeLoop()
	}
	return true
}

// ping is the ping timer's function: it marks a ping due and, if no writer
// runs, writes it on the timer's own goroutine as the writer.
func (c *Conn) ping() {
	c.mu.Lock()
	if c.dead || c.closeReq {
		c.mu.Unlock()
		return
	}
	c.pinger.Reset(c.hub.opts.PingInterval)
	c.pingDue = true
	start := c.startWriterLocked()
	c.mu.Unlock()
	if start {
		c.writeLoop()
	}
}

// stop makes the writer stop and keeps any from starting; it closes the
// socket so that a write blocked on a peer that does not read returns
// (net.Conn.Close may run concurrently with a write).
func (c *Conn) stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped, c.dead = true, true
	c.queue, c.head = nil, 0
	if c.stopCh != nil {
		close(c.stopCh)
	}
	pinger := c.pinger
	c.mu.Unlock()
	if pinger != nil {
		pinger.Stop()
	}
	_ = c.sock.Close()
}

// forceClose closes the socket now, without a close frame, so that a
// writer blocked on a write returns; used when Shutdown runs out of time.
// The writer, if one runs, ends the connection (see Done) as it exits.
func (c *Conn) forceClose() {
	c.stop()
	c.mu.Lock()
	idle := !c.writing
	c.mu.Unlock()
	if idle {
		c.finish()
	}
}

// writeLoop is the connection's writer: it writes what is due until
// nothing is, then exits. It is started by whoever made something due
// (startWriterLocked), never twice at once.
func (c *Conn) writeLoop() {
	defer c.writer.Done()
	for {
		c.mu.Lock()
		switch {
		case c.dead:
			c.writing = false
			c.mu.Unlock()
			c.finish()
			return
		case c.closeReq && (!c.closeDrain || c.head == len(c.queue)):
			// Closing takes priority over a ping, and over queued frames
			// for a slow client (whose queue is full).
			if c.stopCh == nil {
				c.stopCh = make(chan struct{})
			}
			stop := c.stopCh
			c.mu.Unlock()
			c.closeHandshake(stop)
			c.mu.Lock()
			c.dead, c.writing = true, false
			c.mu.Unlock()
			c.finish()
			return
		case c.pingDue:
			c.pingDue = false
			c.mu.Unlock()
			if err := c.sock.WriteControl(PingMessage, nil, time.Now().Add(c.hub.opts.WriteTimeout)); err != nil {
				c.fail("ping", err)
			}
		default:
			f, ok := c.popLocked()
			if !ok {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			if err := c.write(f); err != nil {
				c.fail("write", err)
			}
		}
	}
}

func (c *Conn) write(f []byte) error {
	if err := c.sock.SetWriteDeadline(time.Now().Add(c.hub.opts.WriteTimeout)); err != nil {
		return err
	}
	return c.sock.WriteMessage(TextMessage, f)
}

// fail gives up on a socket that could not be written: closing it makes
// the handler's read fail, and the handler then unregisters. Nothing more
// is written to it.
func (c *Conn) fail(what string, err error) {
	c.mu.Lock()
	stopped := c.stopped
	c.dead = true
	c.queue, c.head = nil, 0
	c.mu.Unlock()
	if stopped {
		return // Unregister closed the socket: expected
	}
	c.hub.log.Debug("realtime: "+what+" failed, closing", "kind", c.id.Kind, "id", c.id.ID, "err", err)
	c.hub.unindex(c)
	_ = c.sock.Close()
}

// closeHandshake sends the close frame, gives the client a moment to
// answer it, then closes the socket.
func (c *Conn) closeHandshake(stop <-chan struct{}) {
	msg := formatClose(c.closeCode, c.closeText)
	if err := c.sock.WriteControl(CloseMessage, msg, time.Now().Add(c.hub.opts.WriteTimeout)); err != nil {
		c.fail("close", err)
		return
	}
	// The client answers with its own close frame, the handler's read
	// fails and it calls Unregister, which closes the socket (and stop).
	// Closing first could reset the TCP connection before the client has
	// read our close frame.
	t := time.NewTimer(c.hub.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-stop:
	case <-t.C:
		_ = c.sock.Close()
	}
}

// finish ends the connection for good, once: it stops the ping timer,
// forgets the connection and closes done. Called when nothing more will
// be written (see dead) and no writer runs, by that writer or by
// Unregister.
func (c *Conn) finish() {
	c.mu.Lock()
	if c.finished {
		c.mu.Unlock()
		return
	}
	c.finished = true
	if c.done != nil {
		close(c.done)
	}
	pinger := c.pinger
	c.mu.Unlock()
	if pinger != nil {
		pinger.Stop()
	}
	c.hub.writerExited(c)
}

// formatClose builds a close frame payload: the code big-endian, then the
// reason, cut to fit the 125-byte control frame limit.
func formatClose(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	b := make([]byte, 2, 2+len(reason))
	b[0], b[1] = byte(code>>8), byte(code)
	return append(b, reason...)
}
