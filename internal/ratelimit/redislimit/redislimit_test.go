package redislimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kefu-chat/kefu/internal/ratelimit"
	"github.com/kefu-chat/kefu/internal/ratelimit/ratelimittest"
	"github.com/kefu-chat/kefu/internal/ratelimit/redislimit"
	"github.com/kefu-chat/kefu/internal/testenv"
)

// openStore opens a Store under a key prefix of the test's own and deletes
// every key under it when the test ends.
func openStore(t *testing.T, o redislimit.Options) *redislimit.Store {
	t.Helper()
	url := testenv.Redis(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "kefutest:rl" + hex.EncodeToString(b) + ":"
	s, err := redislimit.Open(t.Context(), url, prefix, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		opt, _ := redis.ParseURL(url)
		c := redis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Errorf("listing test keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("deleting test keys: %v", err)
			}
		}
	})
	return s
}

// TestRedisContract runs the contract suite the memory implementation
// runs, on the fake clock.
func TestRedisContract(t *testing.T) {
	testenv.Redis(t)
	ratelimittest.Run(t, ratelimittest.Factory{
		Limiter: func(t *testing.T, r ratelimit.Rate, clock func() time.Time) ratelimit.Limiter {
			return openStore(t, redislimit.Options{Clock: clock}).Limiter("l", r)
		},
		Backoff: func(t *testing.T, p ratelimit.BackoffPolicy, clock func() time.Time) ratelimit.Backoff {
			return openStore(t, redislimit.Options{Clock: clock}).Backoff("b", p)
		},
	})
}

// TestRedisClock: without a clock the scripts use Redis's; a burst is
// allowed, the next event is refused with a wait of at most one interval,
// and a lock runs for at most its length.
func TestRedisClock(t *testing.T) {
	s := openStore(t, redislimit.Options{})
	ctx := t.Context()
	l := s.Limiter("conn", ratelimit.Rate{N: 3, Per: time.Hour})
	for i := 0; i < 3; i++ {
		if ok, _, err := l.Allow(ctx, "10.0.0.1"); !ok || err != nil {
			t.Fatalf("event %d: ok=%v err=%v, want allowed", i+1, ok, err)
		}
	}
	ok, wait, err := l.Allow(ctx, "10.0.0.1")
	if ok || err != nil || wait <= 0 || wait > 20*time.Minute {
		t.Fatalf("4th event: ok=%v wait=%v err=%v, want refused for at most 20m", ok, wait, err)
	}
	b := s.Backoff("login", ratelimit.BackoffPolicy{Free: 1, Base: time.Hour, Max: 4 * time.Hour, Window: 8 * time.Hour})
	if d, err := b.Fail(ctx, "a@shop.test"); d != 0 || err != nil {
		t.Fatalf("first failure: %v %v, want free", d, err)
	}
	if d, err := b.Fail(ctx, "a@shop.test"); d != time.Hour || err != nil {
		t.Fatalf("second failure: %v %v, want a 1h lock", d, err)
	}
	if left, err := b.Check(ctx, "a@shop.test"); left <= 0 || left > time.Hour || err != nil {
		t.Fatalf("Check: %v %v, want locked for at most 1h", left, err)
	}
}

// TestNamesAndPrefixesApart: limiters of other names, and stores of other
// prefixes (another deployment on the same Redis), count apart.
func TestNamesAndPrefixesApart(t *testing.T) {
	clk := ratelimittest.NewClock()
	s1 := openStore(t, redislimit.Options{Clock: clk.Now})
	s2 := openStore(t, redislimit.Options{Clock: clk.Now})
	one := ratelimit.Rate{N: 1, Per: time.Hour}
	for _, l := range []ratelimit.Limiter{s1.Limiter("a", one), s1.Limiter("b", one), s2.Limiter("a", one)} {
		if ok, _, err := l.Allow(t.Context(), "k"); !ok || err != nil {
			t.Errorf("first event: ok=%v err=%v; another name or prefix shares its count", ok, err)
		}
	}
	if ok, _, _ := s1.Limiter("a", one).Allow(t.Context(), "k"); ok {
		t.Error("a second Limiter of one name and prefix does not share the count")
	}
}

func TestRedisDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := redislimit.Open(ctx, "redis://127.0.0.1:1/0", "x:", redislimit.Options{}); err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if _, err := redislimit.Open(ctx, "not a url", "x:", redislimit.Options{}); err == nil {
		t.Fatal("Open with a bad url succeeded")
	}
}
