// Package redisbus is a models.Bus over Redis Pub/Sub, for several Kefu
// instances sharing one Redis. Events are JSON-encoded models.Event values
// on the channel "<prefix>events". Pub/Sub is at most once, which is the
// Bus contract: an event published while a subscriber is reconnecting is
// lost to it, and clients recover by syncing on sequence gaps. go-redis
// reconnects and resubscribes by itself.
//
// Frames travel as JSON inside the event, so they reach subscribers byte
// for byte as long as they are compact JSON (what json.Marshal produces);
// insignificant whitespace in a frame would be removed.
package redisbus

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kefu-chat/kefu/models"
)

// subscribeTimeout bounds waiting for Redis to confirm a subscription.
const subscribeTimeout = 10 * time.Second

// Bus is a models.Bus on Redis Pub/Sub. Safe for concurrent use.
type Bus struct {
	client  *redis.Client
	channel string

	mu     sync.Mutex
	subs   map[*subscription]struct{}
	closed bool
	wg     sync.WaitGroup
}

var _ models.Bus = (*Bus)(nil)

type subscription struct {
	ps      *redis.PubSub
	stopped atomic.Bool
	once    sync.Once
}

// Open connects to the Redis at url (redis://host:port/db) and checks that
// it answers. prefix namespaces the channel, so that several deployments
// (or parallel tests) can share one Redis.
func Open(ctx context.Context, url string, prefix string) (*Bus, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, models.Errorf(models.EINVALID, "redis bus url: %v", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, &models.Error{Code: models.EUNAVAILABLE, Message: "redis bus unreachable", Err: err}
	}
	return &Bus{client: client, channel: prefix + "events", subs: make(map[*subscription]struct{})}, nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Publish sends e to every subscriber on every instance. It returns once
// Redis has accepted the event; EUNAVAILABLE after Close or when Redis
// cannot be reached.
func (b *Bus) Publish(ctx context.Context, e models.Event) error {
	if b.isClosed() {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	data, err := encode(e)
	if err != nil {
		return models.Internal(err, "encode event")
	}
	if err := b.client.Publish(ctx, b.channel, data).Err(); err != nil {
		return &models.Error{Code: models.EUNAVAILABLE, Message: "event bus unavailable", Err: err}
	}
	return nil
}

// encode marshals e without escaping HTML characters, so that a frame's
// bytes come out as they went in.
func encode(e models.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Subscribe subscribes to the channel and returns once Redis has confirmed
// the subscription, so every event published after it returns is
// delivered. handle runs on one goroutine per subscription; after cancel
// returns it is not called again, except for a call already under way.
func (b *Bus) Subscribe(handle func(models.Event)) (cancel func(), err error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	b.wg.Add(1) // under mu, so Close cannot be waiting already
	b.mu.Unlock()

	ctx, stop := context.WithTimeout(context.Background(), subscribeTimeout)
	defer stop()
	ps := b.client.Subscribe(ctx, b.channel)
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		_ = ps.Close()
		b.wg.Done()
		return nil, &models.Error{Code: models.EUNAVAILABLE, Message: "event bus subscribe failed", Err: err}
	}
	s := &subscription{ps: ps}
	b.mu.Lock()
	if b.closed { // Close ran while we were subscribing
		b.mu.Unlock()
		_ = ps.Close()
		b.wg.Done()
		return nil, models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	ch := ps.Channel(redis.WithChannelSize(1024))
	go func() {
		defer b.wg.Done()
		for msg := range ch {
			if s.stopped.Load() {
				continue // drain until go-redis closes ch
			}
			var e models.Event
			if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
				continue // not ours; nothing to tell anyone
			}
			handle(e)
		}
	}()
	return func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.halt()
	}, nil
}

func (s *subscription) halt() {
	s.once.Do(func() {
		s.stopped.Store(true)
		_ = s.ps.Close() // closes the message channel
	})
}

// Ping checks that Redis answers.
func (b *Bus) Ping(ctx context.Context) error {
	if b.isClosed() {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		return &models.Error{Code: models.EUNAVAILABLE, Message: "event bus unavailable", Err: err}
	}
	return nil
}

// Close ends every subscription, waits for their goroutines and closes the
// client. It must not be called from a handler. Safe to call more than
// once.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	for s := range subs {
		s.halt()
	}
	b.wg.Wait()
	return b.client.Close()
}
