package realtime

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/kefu-chat/kefu/models"
)

// MemoryQueueLimit is how many events may wait for one MemoryBus
// subscription's handler; beyond it events for that subscription are
// dropped (delivery is at most once) and counted in MemoryBus.Dropped. A
// handler that keeps its contract (does not block) never gets near it.
const MemoryQueueLimit = 1 << 16

// MemoryBus is the models.Bus of a single Kefu instance: events go from
// publishers to subscribers in the same process. Each subscription has its
// own goroutine and queue, so Publish never waits for handlers, and events
// from one publishing goroutine reach each handler in publish order. Events
// are passed by value; their slices (To's lists, Frame) are shared, so
// publishers must not modify them after Publish.
type MemoryBus struct {
	mu      sync.RWMutex
	subs    map[*memorySub]struct{}
	closed  bool
	wg      sync.WaitGroup
	dropped atomic.Int64
}

var _ models.Bus = (*MemoryBus)(nil)

// NewMemoryBus returns an open, empty bus.
func NewMemoryBus() *MemoryBus {
	return &MemoryBus{subs: make(map[*memorySub]struct{})}
}

type memorySub struct {
	handle func(models.Event)
	mu     sync.Mutex
	queue  []models.Event
	wake   chan struct{} // capacity 1: "the queue may be non-empty"
	// stopped is set by cancel and Close; the loop checks it before every
	// call, so no event is handled after cancel returns unless its call
	// had already begun.
	stopped atomic.Bool
	stop    chan struct{}
	once    sync.Once
}

// Publish queues e for every current subscription. It fails with
// EUNAVAILABLE after Close, and with ctx's error if ctx is already done.
func (b *MemoryBus) Publish(ctx context.Context, e models.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	for s := range b.subs {
		s.mu.Lock()
		if len(s.queue) >= MemoryQueueLimit {
			s.mu.Unlock()
			b.dropped.Add(1)
			continue
		}
		s.queue = append(s.queue, e)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Subscribe starts a subscription that calls handle for every event
// published after it returns, one at a time, until cancel or Close. It
// fails with EUNAVAILABLE after Close.
func (b *MemoryBus) Subscribe(handle func(models.Event)) (cancel func(), err error) {
	s := &memorySub{
		handle: handle,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	b.subs[s] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		s.loop()
	}()
	return func() {
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		s.halt()
	}, nil
}

func (s *memorySub) halt() {
	s.once.Do(func() {
		s.stopped.Store(true)
		close(s.stop)
	})
}

func (s *memorySub) loop() {
	var batch []models.Event
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		s.mu.Unlock()
		for i := range batch {
			if s.stopped.Load() {
				return
			}
			s.handle(batch[i])
			batch[i] = models.Event{} // let the frame be collected
		}
	}
}

// Ping reports EUNAVAILABLE after Close, and nil otherwise.
func (b *MemoryBus) Ping(ctx context.Context) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return models.Errorf(models.EUNAVAILABLE, "event bus closed")
	}
	return ctx.Err()
}

// Close stops every subscription and waits for their goroutines (and so
// must not be called from a handler). Later Publish and Subscribe calls
// fail. Safe to call more than once.
func (b *MemoryBus) Close() error {
	b.mu.Lock()
	b.closed = true
	subs := b.subs
	b.subs = make(map[*memorySub]struct{})
	b.mu.Unlock()
	for s := range subs {
		s.halt()
	}
	b.wg.Wait()
	return nil
}

// Dropped returns how many events were dropped because a subscription's
// queue was full.
func (b *MemoryBus) Dropped() int64 { return b.dropped.Load() }
