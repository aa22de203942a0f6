package models

import (
	"context"
	"encoding/json"
)

// Event is something that happened, addressed to the connected clients that
// should hear of it. Frame is the websocket frame they receive, encoded once
// by the publisher and passed through unchanged, so fan-out to many
// connections never re-encodes.
type Event struct {
	// Type names the kind of event; see the Event* constants.
	Type  string          `json:"type"`
	To    Audience        `json:"to"`
	Frame json.RawMessage `json:"frame,omitempty"`
}

// Event types. The hub sends Frame to the audience for every type except
// EventRevoke, which closes the audience's agent connections instead.
const (
	EventMessage      = "message"      // a message was stored
	EventConversation = "conversation" // a conversation changed state
	EventQueue        = "queue"        // the queue changed
	EventPresence     = "presence"     // an agent's presence changed
	EventAnnouncement = "announcement" // an announcement started or ended
	EventRevoke       = "revoke"       // the agents' tokens were revoked: close their sockets
)

// Audience says who receives an event. Its parts add up: an event goes to
// every listed agent and visitor, and to all agents, all admins or all
// visitors when those are set.
type Audience struct {
	Agents      []string `json:"agents,omitempty"`
	Visitors    []string `json:"visitors,omitempty"`
	AllAgents   bool     `json:"all_agents,omitempty"`
	Admins      bool     `json:"admins,omitempty"`
	AllVisitors bool     `json:"all_visitors,omitempty"`
	// Match, when set, narrows the visitor connections named above to those
	// whose page and language (as reported at hello) it matches; agent
	// connections are never filtered. Used to target announcements.
	Match *Targeting `json:"match,omitempty"`
}

// Bus carries events between the parts of Kefu, and between Kefu instances
// when the bus is shared (Redis, NATS). Publish only after the change the
// event describes has committed.
//
// Contract (checked by bustest): every subscriber, on every instance attached
// to the same bus, receives every event published after its Subscribe
// returned, unchanged, and events from one publishing goroutine in the order
// they were published. Delivery is at most once: an event lost in transit is
// not redelivered, which is why clients detect sequence gaps and fetch what
// they missed. Handlers run one at a time per subscription and must not
// block; Publish does not wait for them.
type Bus interface {
	Publish(ctx context.Context, e Event) error
	// Subscribe calls handle for every event until the returned cancel is
	// called or the bus is closed. cancel is safe to call more than once.
	Subscribe(handle func(Event)) (cancel func(), err error)
	// Ping reports whether the bus's transport answers (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
