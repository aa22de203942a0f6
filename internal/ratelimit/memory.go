package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"
)

var (
	_ Limiter = (*Memory)(nil)
	_ Backoff = (*MemoryBackoff)(nil)
)

// sweepEvery is how many calls pass between sweeps of recovered keys.
const sweepEvery = 1024

// Memory is an in-process Limiter: one token bucket per key.
type Memory struct {
	rate  Rate
	clock func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewMemory returns a Limiter allowing rate per key; clock nil means
// time.Now. An unlimited rate allows everything.
func NewMemory(rate Rate, clock func() time.Time) *Memory {
	if clock == nil {
		clock = time.Now
	}
	return &Memory{rate: rate, clock: clock, buckets: map[string]*bucket{}}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	if m.rate.Unlimited() {
		return true, 0, nil
	}
	now := m.clock()
	perToken := m.rate.Per.Seconds() / float64(m.rate.N)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	b := m.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(m.rate.N), last: now}
		m.buckets[key] = b
	}
	m.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration(math.Ceil((1 - b.tokens) * perToken * float64(time.Second)))
		return false, wait, nil
	}
	b.tokens--
	return true, 0, nil
}

func (m *Memory) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(m.rate.N), b.tokens+el.Seconds()*float64(m.rate.N)/m.rate.Per.Seconds())
		b.last = now
	}
}

// sweep forgets full buckets now and then, so that memory follows the
// number of keys active within Per rather than every key ever seen.
func (m *Memory) sweep(now time.Time) {
	m.calls++
	if m.calls%sweepEvery != 0 {
		return
	}
	for k, b := range m.buckets {
		m.refill(b, now)
		if b.tokens >= float64(m.rate.N) {
			delete(m.buckets, k)
		}
	}
}

// Len returns how many keys are tracked, for tests of the memory bound.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// BackoffPolicy configures MemoryBackoff.
type BackoffPolicy struct {
	Free   int           // failures without a lock
	Base   time.Duration // the first lock
	Max    time.Duration // the longest lock
	Window time.Duration // failures are forgotten this long after the last
}

// MemoryBackoff is an in-process Backoff.
type MemoryBackoff struct {
	p     BackoffPolicy
	clock func() time.Time

	mu    sync.Mutex
	keys  map[string]*failures
	calls int
}

type failures struct {
	n           int
	last, until time.Time
}

// NewMemoryBackoff returns a Backoff with policy p; clock nil means
// time.Now. A zero Base disables it.
func NewMemoryBackoff(p BackoffPolicy, clock func() time.Time) *MemoryBackoff {
	if clock == nil {
		clock = time.Now
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Window < p.Max {
		p.Window = p.Max
	}
	return &MemoryBackoff{p: p, clock: clock, keys: map[string]*failures{}}
}

// Check implements Backoff.
func (m *MemoryBackoff) Check(_ context.Context, key string) (time.Duration, error) {
	if m.p.Base <= 0 {
		return 0, nil
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.get(key, now)
	if f == nil || !now.Before(f.until) {
		return 0, nil
	}
	return f.until.Sub(now), nil
}

// Fail implements Backoff.
func (m *MemoryBackoff) Fail(_ context.Context, key string) (time.Duration, error) {
	if m.p.Base <= 0 {
		return 0, nil
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls%sweepEvery == 0 {
		for k, f := range m.keys {
			if now.Sub(f.last) > m.p.Window {
				delete(m.keys, k)
			}
		}
	}
	f := m.get(key, now)
	if f == nil {
		f = &failures{}
		m.keys[key] = f
	}
	f.n++
	f.last = now
	over := f.n - m.p.Free
	if over <= 0 {
		return 0, nil
	}
	lock := m.p.Base
	for i := 1; i < over && lock < m.p.Max; i++ {
		lock *= 2
	}
	if lock > m.p.Max {
		lock = m.p.Max
	}
	f.until = now.Add(lock)
	return lock, nil
}

// Reset implements Backoff.
func (m *MemoryBackoff) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.keys, key)
	m.mu.Unlock()
	return nil
}

// get returns key's failures, forgetting them once the window has passed.
func (m *MemoryBackoff) get(key string, now time.Time) *failures {
	f := m.keys[key]
	if f != nil && now.Sub(f.last) > m.p.Window && !now.Before(f.until) {
		delete(m.keys, key)
		return nil
	}
	return f
}
