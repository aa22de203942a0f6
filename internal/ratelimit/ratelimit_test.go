package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/ratelimit"
	"github.com/kefu-chat/kefu/internal/ratelimit/ratelimittest"
)

// TestMemoryContract runs the contract suite the Redis implementation runs.
func TestMemoryContract(t *testing.T) {
	ratelimittest.Run(t, ratelimittest.Factory{
		Limiter: func(_ *testing.T, r ratelimit.Rate, clock func() time.Time) ratelimit.Limiter {
			return ratelimit.NewMemory(r, clock)
		},
		Backoff: func(_ *testing.T, p ratelimit.BackoffPolicy, clock func() time.Time) ratelimit.Backoff {
			return ratelimit.NewMemoryBackoff(p, clock)
		},
	})
}

func TestMemoryUnlimitedTracksNothing(t *testing.T) {
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
	clk := ratelimittest.NewClock()
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
