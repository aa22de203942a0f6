package realtime

import (
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// Conn is one registered websocket connection: its identity, its send queue
// and its writer goroutine. Obtain it from Hub.Register.
type Conn struct {
	hub  *Hub
	id   Identity
	sock Socket
	send chan []byte

	// closing is closed when the connection is asked to close; the
	// request itself (code, reason, drain) is in the fields below.
	closeOnce  sync.Once
	closing    chan struct{}
	closeCode  int
	closeText  string
	closeDrain bool

	// stop is closed by Unregister (and by a forced shutdown): the writer
	// exits at once.
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	attrMu  sync.RWMutex
	pageURL string
	lang    string
}

// Identity returns whom the connection belongs to.
func (c *Conn) Identity() Identity { return c.id }

// Done returns a channel that is closed when the connection's writer has
// stopped (after Unregister, or once a close has completed).
func (c *Conn) Done() <-chan struct{} { return c.done }

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
// the connection is closing, or if the queue is full: then the connection
// is cut off with wire.CloseSlowClient (without waiting for the queue) and
// Options.OnSlowClient is called. frame must not be modified afterwards.
func (c *Conn) Send(frame []byte) bool {
	select {
	case <-c.closing:
		return false
	default:
	}
	select {
	case c.send <- frame:
		return true
	default:
	}
	if c.requestClose(wire.CloseSlowClient, "slow client", false) {
		c.hub.log.Info("realtime: slow client cut off", "kind", c.id.Kind, "id", c.id.ID)
		if f := c.hub.opts.OnSlowClient; f != nil {
			f(c.id)
		}
	}
	return false
}

// Close asks the writer to send the frames already queued, then a close
// frame with code and reason, and then to close the socket, which makes the
// handler's read fail. It does not wait. Only the first close request of a
// connection counts.
func (c *Conn) Close(code int, reason string) {
	c.requestClose(code, reason, true)
}

// requestClose records the first close request and reports whether this
// was it. The connection leaves the routing index at once, so that fan-out
// stops counting and reaching it.
func (c *Conn) requestClose(code int, reason string, drain bool) bool {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeCode, c.closeText, c.closeDrain = code, reason, drain
		close(c.closing) // publishes the fields above to the writer
	})
	if first {
		c.hub.unindex(c)
	}
	return first
}

// forceClose closes the socket now, without a close frame, so that a
// writer blocked on a write returns; used when Shutdown runs out of time.
func (c *Conn) forceClose() {
	c.stopOnce.Do(func() {
		close(c.stop)
		_ = c.sock.Close()
	})
}

// writeLoop is the connection's only writer of data frames.
func (c *Conn) writeLoop() {
	defer func() {
		// From now on Send refuses frames instead of queueing them for a
		// writer that is gone.
		c.closeOnce.Do(func() { close(c.closing) })
		c.hub.writerExited(c)
		close(c.done)
	}()
	var ping <-chan time.Time
	if c.hub.opts.PingInterval > 0 {
		t := time.NewTicker(c.hub.opts.PingInterval)
		defer t.Stop()
		ping = t.C
	}
	for {
		// Stopping and closing take priority over queued frames: a slow
		// client's close must not wait behind its full queue.
		select {
		case <-c.stop:
			return
		case <-c.closing:
			c.finish()
			return
		default:
		}
		select {
		case <-c.stop:
			return
		case <-c.closing:
			c.finish()
			return
		case f := <-c.send:
			if err := c.write(f); err != nil {
				c.fail("write", err)
				return
			}
		case <-ping:
			if err := c.sock.WriteControl(PingMessage, nil, time.Now().Add(c.hub.opts.WriteTimeout)); err != nil {
				c.fail("ping", err)
				return
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
// the handler's read fail, and the handler then unregisters.
func (c *Conn) fail(what string, err error) {
	select {
	case <-c.stop: // Unregister closed the socket: expected
	default:
		c.hub.log.Debug("realtime: "+what+" failed, closing", "kind", c.id.Kind, "id", c.id.ID, "err", err)
		c.hub.unindex(c)
		_ = c.sock.Close()
	}
}

// finish carries out a close request: drain if asked, send the close frame,
// give the client a moment to answer it, then close the socket.
func (c *Conn) finish() {
	if c.closeDrain {
	drain:
		for range cap(c.send) {
			select {
			case <-c.stop:
				return
			case f := <-c.send:
				if err := c.write(f); err != nil {
					c.fail("write", err)
					return
				}
			default:
				break drain
			}
		}
	}
	msg := formatClose(c.closeCode, c.closeText)
	if err := c.sock.WriteControl(CloseMessage, msg, time.Now().Add(c.hub.opts.WriteTimeout)); err != nil {
		c.fail("close", err)
		return
	}
	// The close handshake: the client answers with its own close frame,
	// the handler's read fails and it calls Unregister, which closes the
	// socket. Closing first could reset the TCP connection before the
	// client has read our close frame.
	t := time.NewTimer(c.hub.opts.CloseTimeout)
	defer t.Stop()
	select {
	case <-c.stop:
	case <-t.C:
		_ = c.sock.Close()
	}
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
