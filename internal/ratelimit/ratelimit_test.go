package ratelimit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/ratelimit"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestMemoryBurstThenRate(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := ratelimit.NewMemory(ratelimit.Rate{N: 3, Per: time.Minute}, clk.Now)
	for i := 0; i < 3; i++ {
		if ok, _, _ := m.Allow(ctx, "1.2.3.4"); !ok {
			t.Fatalf("event %d refused within the burst", i+1)
		}
	}
	ok, wait, err := m.Allow(ctx, "1.2.3.4")
	if ok || err != nil {
		t.Fatalf("4th event: ok=%v err=%v, want refused", ok, err)
	}
	if wait != 20*time.Second {
		t.Errorf("retry after %v, want 20s (one token per 20s)", wait)
	}
	if ok, _, _ := m.Allow(ctx, "5.6.7.8"); !ok {
		t.Errorf("another key was refused: keys must be independent")
	}
	clk.Advance(19 * time.Second)
	if ok, _, _ := m.Allow(ctx, "1.2.3.4"); ok {
		t.Errorf("allowed before a token was back")
	}
	clk.Advance(time.Second)
	if ok, _, _ := m.Allow(ctx, "1.2.3.4"); !ok {
		t.Errorf("refused after a token was back")
	}
}

func TestMemoryUnlimited(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.Rate{}, nil)
	for i := 0; i < 10000; i++ {
		if ok, _, _ := m.Allow(context.Background(), "k"); !ok {
			t.Fatalf("unlimited rate refused event %d", i)
		}
	}
	if m.Len() != 0 {
		t.Errorf("unlimited limiter tracks %d keys, want 0", m.Len())
	}
}

func TestMemoryForgetsRecoveredKeys(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := ratelimit.NewMemory(ratelimit.Rate{N: 5, Per: time.Second}, clk.Now)
	for i := 0; i < 5000; i++ {
		m.Allow(ctx, fmt.Sprintf("k%d", i))
	}
	clk.Advance(2 * time.Second)
	for i := 0; i < 2048; i++ {
		m.Allow(ctx, "steady")
		clk.Advance(time.Second / 5)
	}
	if n := m.Len(); n > 1024 {
		t.Errorf("%d keys tracked after they recovered, want the old ones swept", n)
	}
}

func TestMemoryConcurrent(t *testing.T) {
	m := ratelimit.NewMemory(ratelimit.Rate{N: 100, Per: time.Hour}, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if ok, _, _ := m.Allow(context.Background(), "k"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Errorf("allowed %d of 400 concurrent events, want exactly the burst of 100", allowed)
	}
}

func TestBackoffDoublesAndResets(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	b := ratelimit.NewMemoryBackoff(ratelimit.BackoffPolicy{Free: 2, Base: time.Second, Max: 5 * time.Second, Window: time.Hour}, clk.Now)
	wants := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, want := range wants {
		got, _ := b.Fail(ctx, "a@shop.test")
		if got != want {
			t.Errorf("failure %d: lock %v, want %v", i+1, got, want)
		}
		if left, _ := b.Check(ctx, "a@shop.test"); left != want {
			t.Errorf("failure %d: Check = %v, want %v", i+1, left, want)
		}
		clk.Advance(got)
		if left, _ := b.Check(ctx, "a@shop.test"); left != 0 {
			t.Errorf("failure %d: still locked %v after the lock ran out", i+1, left)
		}
	}
	if left, _ := b.Check(ctx, "b@shop.test"); left != 0 {
		t.Errorf("another key is locked")
	}
	b.Reset(ctx, "a@shop.test")
	if got, _ := b.Fail(ctx, "a@shop.test"); got != 0 {
		t.Errorf("first failure after reset locked %v, want 0", got)
	}
}

func TestBackoffWindowForgets(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	b := ratelimit.NewMemoryBackoff(ratelimit.BackoffPolicy{Free: 1, Base: time.Second, Max: time.Minute, Window: 10 * time.Minute}, clk.Now)
	b.Fail(ctx, "k")
	if got, _ := b.Fail(ctx, "k"); got != time.Second {
		t.Fatalf("second failure locked %v, want 1s", got)
	}
	clk.Advance(11 * time.Minute)
	if got, _ := b.Fail(ctx, "k"); got != 0 {
		t.Errorf("failure after the window locked %v, want a fresh start", got)
	}
}

func TestBackoffDisabled(t *testing.T) {
	b := ratelimit.NewMemoryBackoff(ratelimit.BackoffPolicy{}, nil)
	for i := 0; i < 100; i++ {
		if got, _ := b.Fail(context.Background(), "k"); got != 0 {
			t.Fatalf("disabled backoff locked %v", got)
		}
	}
}
