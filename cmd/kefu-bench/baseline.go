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
// library as Kefu (gofiber/contrib/websocket over fasthttp/websocket): one
// writer goroutine per connection with a bounded queue, a frame encoded
// once and queued to every connection without waiting, and just enough
// protocol (hello/welcome, a relayed message with an ack) for the bench's
// scenarios to run unchanged against it. No store, no auth, no routing:
// every figure the bench reports for Kefu is also shown as a ratio to it.
type baseline struct {
	mu       sync.RWMutex
	shoppers map[*bconn]struct{}
	byID     map[string]*bconn
	agents   []*bconn
}

type bconn struct {
	ws   *websocket.Conn
	send chan []byte
	done chan struct{}
	once sync.Once
}

func (c *bconn) queue(f []byte) {
	select {
	case c.send <- f:
	default:
		c.once.Do(func() { close(c.done) }) // slow: cut off
	}
}

func (c *bconn) writer() {
	for {
		select {
		case <-c.done:
			_ = c.ws.Close()
			return
		case f := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
				_ = c.ws.Close()
				return
			}
		}
	}
}

// newBaselineApp returns the baseline's Fiber app: /ws for sockets and
// POST /broadcast to fan the body out to every shopper.
func newBaselineApp() *fiber.App {
	b := &baseline{shoppers: map[*bconn]struct{}{}, byID: map[string]*bconn{}}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
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
		c := &bconn{ws: ws, send: make(chan []byte, 256), done: make(chan struct{})}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); c.writer() }()
		defer func() {
			c.once.Do(func() { close(c.done) })
			wg.Wait()
		}()
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
	}))
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
