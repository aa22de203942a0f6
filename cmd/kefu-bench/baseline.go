package main

import (
	"encoding/json"
	"hash/fnv"
	"net"
	"sync"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
)

// The baseline is the least a websocket fan-out server can do on the same
// library as Kefu (gofiber/contrib/websocket over fasthttp/websocket): a
// bounded queue per connection written by at most one writer goroutine at
// a time, which runs only while frames wait (as Kefu's hub does: an idle
// socket holds no goroutine and no queue), the same buffer settings as
// Kefu's sockets, a frame encoded once and queued to every connection
// without waiting, and just enough protocol (hello/welcome, a relayed
// message with an ack) for the bench's scenarios to run unchanged against
// it. No store, no auth, no routing: every figure the bench reports for
// Kefu is also shown as a ratio to it.
type baseline struct {
	mu       sync.RWMutex
	shoppers map[*bconn]struct{}
	byID     map[string]*bconn
	agents   []*bconn
}

// baselineQueue is how many frames may wait for a connection before it is
// cut off, as KEFU_SEND_QUEUE's default.
const baselineQueue = 256

type bconn struct {
	ws  *websocket.Conn
	tcp net.Conn // Close on ws does not close a hijacked connection

	mu      sync.Mutex
	q       [][]byte
	writing bool
	dead    bool
	writer  sync.WaitGroup
}

// queue adds f for the writer, starting one if none runs; a connection
// with baselineQueue frames waiting is cut off instead.
func (c *bconn) queue(f []byte) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	if len(c.q) >= baselineQueue {
		c.dead, c.q = true, nil
		c.mu.Unlock()
		_ = c.tcp.Close() // slow: cut off
		return
	}
	c.q = append(c.q, f)
	start := !c.writing
	if start {
		c.writing = true
		c.writer.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

func (c *bconn) write() {
	defer c.writer.Done()
	for {
		c.mu.Lock()
		if c.dead || len(c.q) == 0 {
			c.writing, c.q = false, c.q[:0:min(cap(c.q), 4)]
			c.mu.Unlock()
			return
		}
		f := c.q[0]
		c.q = c.q[1:]
		c.mu.Unlock()
		_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
			c.mu.Lock()
			c.dead = true
			c.mu.Unlock()
			_ = c.tcp.Close()
		}
	}
}

// stop ends the connection's writing and waits for a running writer.
func (c *bconn) stop() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	_ = c.tcp.Close()
	c.writer.Wait()
}

// newBaselineApp returns the baseline's Fiber app: /ws for sockets and
// POST /broadcast to fan the body out to every shopper.
func newBaselineApp() *fiber.App {
	b := &baseline{shoppers: map[*bconn]struct{}{}, byID: map[string]*bconn{}}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	var writeBuffers sync.Pool
	app.Post("/broadcast", func(c *fiber.Ctx) error {
		frame := append([]byte(nil), c.Body()...) // encoded once, shared by all
		b.mu.RLock()
		for s := range b.shoppers {
			s.queue(frame)
		}
		for _, a := range b.agents {
			a.queue(frame)
		}
		b.mu.RUnlock()
		return c.SendStatus(fiber.StatusNoContent)
	})
	app.Get("/ws", websocket.New(func(ws *websocket.Conn) {
		agent := ws.Query("role") == "agent"
		c := &bconn{ws: ws, tcp: ws.UnderlyingConn()}
		if h, ok := c.tcp.(interface{ UnsafeConn() net.Conn }); ok {
			c.tcp = h.UnsafeConn()
		}
		defer c.stop()
		var id string
		if agent {
			b.mu.Lock()
			b.agents = append(b.agents, c)
			b.mu.Unlock()
			c.queue([]byte(`{"type":"welcome","agent":{"id":"baseline-agent"}}`))
		}
		defer b.forget(c, &id)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Type           string `json:"type"`
				ConversationID string `json:"conversation_id"`
				ClientID       string `json:"client_id"`
				Body           string `json:"body"`
			}
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			switch {
			case f.Type == "hello" && !agent && id == "":
				id = randomID()
				b.mu.Lock()
				b.shoppers[c] = struct{}{}
				b.byID[id] = c
				b.mu.Unlock()
				c.queue([]byte(`{"type":"welcome","visitor":{"id":"` + id + `"},"token":"` + id + `"}`))
			case f.Type == "message" && !agent && id != "":
				ack, _ := json.Marshal(map[string]any{"type": "ack", "client_id": f.ClientID, "conversation_id": id, "seq": 1})
				c.queue(ack)
				msg, _ := json.Marshal(map[string]any{"type": "message", "message": map[string]any{
					"conversation_id": id, "sender_kind": "visitor", "client_id": f.ClientID, "body": f.Body}})
				if a := b.agentFor(id); a != nil {
					a.queue(msg)
				}
			case f.Type == "message" && agent:
				ack, _ := json.Marshal(map[string]any{"type": "ack", "client_id": f.ClientID, "conversation_id": f.ConversationID, "seq": 1})
				c.queue(ack)
				msg, _ := json.Marshal(map[string]any{"type": "message", "message": map[string]any{
					"conversation_id": f.ConversationID, "sender_kind": "agent", "client_id": f.ClientID, "body": f.Body}})
				b.mu.RLock()
				s := b.byID[f.ConversationID]
				b.mu.RUnlock()
				if s != nil {
					s.queue(msg)
				}
			}
		}
	}, websocket.Config{ReadBufferSize: 256, WriteBufferSize: 4096, WriteBufferPool: &writeBuffers}))
	return app
}

// agentFor picks the agent socket serving a shopper, stably.
func (b *baseline) agentFor(id string) *bconn {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.agents) == 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(id))
	return b.agents[h.Sum32()%uint32(len(b.agents))]
}

func (b *baseline) forget(c *bconn, id *string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.shoppers, c)
	if *id != "" {
		delete(b.byID, *id)
	}
	for i, a := range b.agents {
		if a == c {
			b.agents = append(b.agents[:i], b.agents[i+1:]...)
			break
		}
	}
}

// serveBaseline runs the baseline on ln until it fails.
func serveBaseline(ln net.Listener) error { return newBaselineApp().Listener(ln) }

func randomID() string { return uuid.NewString() }
