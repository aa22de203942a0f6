// Package natsbus is a models.Bus over core NATS publish/subscribe, for
// several Kefu instances sharing one NATS server. Events are JSON-encoded
// models.Event values on the subject "<prefix>events". Core NATS is at most
// once, which is the Bus contract and the right fit for live events: a
// subscriber that is reconnecting misses what was published meanwhile, and
// clients recover by syncing on sequence gaps. nats.go reconnects and
// resubscribes by itself.
//
// Frames travel as JSON inside the event, so they reach subscribers byte
// for byte as long as they are compact JSON (what json.Marshal produces).
package natsbus

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/kefu-chat/kefu/models"
)

// Bus is a models.Bus on core NATS. Safe for concurrent use.
type Bus struct {
	nc      *nats.Conn
	subject string

	mu     sync.Mutex
	closed bool
}

var _ models.Bus = (*Bus)(nil)

// Open connects to the NATS server at url (nats://host:port). prefix
// namespaces the subject, so that several deployments (or parallel tests)
// can share one server.
func Open(ctx context.Context, url, prefix string) (*Bus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, nats.Name("kefu"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, &models.Error{Code: models.EUNAVAILABLE, Message: "nats bus unreachable", Err: err}
	}
	return &Bus{nc: nc, subject: prefix + "events"}, nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish sends e to every subscriber on every instance. nats.go buffers
// the write, so Publish returns without a round trip; events from one
// goroutine stay in order. EUNAVAILABLE after Close.
func (b *Bus) Publish(ctx context.Context, e models.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.isClosed() {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep frame bytes as they are
	if err := enc.Encode(e); err != nil {
		return models.Internal(err, "encode event")
	}
	if err := b.nc.Publish(b.subject, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); err != nil {
		return &models.Error{Code: models.EUNAVAILABLE, Message: "event bus unavailable", Err: err}
	}
	return nil
}

// Subscribe subscribes to the subject and flushes, so the server has
// registered the subscription before Subscribe returns. nats.go calls
// handle on one goroutine per subscription, in order; after cancel returns
// handle is not called again, except for a call already under way.
func (b *Bus) Subscribe(handle func(models.Event)) (cancel func(), err error) {
	if b.isClosed() {
		return nil, models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	var stopped atomic.Bool
	sub, err := b.nc.Subscribe(b.subject, func(m *nats.Msg) {
		if stopped.Load() {
			return
		}
		var e models.Event
		if err := json.Unmarshal(m.Data, &e); err != nil {
			return // not ours
		}
		handle(e)
	})
	if err != nil {
		return nil, &models.Error{Code: models.EUNAVAILABLE, Message: "event bus subscribe failed", Err: err}
	}
	// Generous limits: a handler that keeps its contract never queues
	// much, and dropping is the last resort.
	_ = sub.SetPendingLimits(1<<16, 256<<20)
	if err := b.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, &models.Error{Code: models.EUNAVAILABLE, Message: "event bus subscribe failed", Err: err}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			stopped.Store(true)
			_ = sub.Unsubscribe() // fails harmlessly once the bus is closed
		})
	}, nil
}

// Ping round-trips to the server.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return &models.Error{Code: models.EUNAVAILABLE, Message: "event bus unavailable", Err: err}
	}
	return nil
}

// Close closes the connection, which ends every subscription. Safe to call
// more than once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.nc.Close()
	return nil
}
