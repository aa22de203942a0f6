// Package ratelimittest is the contract suite of ratelimit.Limiter and
// ratelimit.Backoff: Run checks every promise of their doc comments against
// an implementation (the in-memory one, the Redis one), which runs it
// unchanged. Time is a fake clock the suite moves, so no assertion depends
// on how fast the machine is; an implementation under test must take its
// time from the clock it is given.
package ratelimittest

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/ratelimit"
)

// Clock is a fake clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, whole-second instant.
func NewClock() *Clock { return &Clock{now: time.Unix(1_700_000_000, 0)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Factory makes fresh, empty implementations for one subtest: keys counted
// by one never show in another. clock is the only time they may read.
type Factory struct {
	Limiter func(t *testing.T, r ratelimit.Rate, clock func() time.Time) ratelimit.Limiter
	Backoff func(t *testing.T, p ratelimit.BackoffPolicy, clock func() time.Time) ratelimit.Backoff
}

// Run checks the implementations f makes. Subtests run in parallel.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"LimiterBurstThenRate", testBurstThenRate},
		{"LimiterUnlimited", testUnlimited},
		{"LimiterConcurrentExactlyBurst", testLimiterConcurrent},
		{"LimiterLongKeys", testLimiterLongKeys},
		{"BackoffDoublesAndResets", testBackoffDoubles},
		{"BackoffWindowForgets", testBackoffWindow},
		{"BackoffDisabled", testBackoffDisabled},
		{"BackoffConcurrentFailuresAllCount", testBackoffConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, f)
		})
	}
}

// near reports whether a retry-after is want, give or take the rounding
// of floating-point arithmetic (up to a millisecond, always upwards: a
// client told to wait must not be refused again when it has).
func near(got, want time.Duration) bool { return got >= want && got-want <= time.Millisecond }

func allow(t *testing.T, l ratelimit.Limiter, key string) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%.20q): %v", key, err)
	}
	return ok, wait
}

func testBurstThenRate(t *testing.T, f Factory) {
	clk := NewClock()
	l := f.Limiter(t, ratelimit.Rate{N: 3, Per: time.Minute}, clk.Now)
	for i := 0; i < 3; i++ {
		if ok, _ := allow(t, l, "1.2.3.4"); !ok {
			t.Fatalf("event %d refused within the burst", i+1)
		}
	}
	ok, wait := allow(t, l, "1.2.3.4")
	if ok {
		t.Fatal("4th event allowed; want refused after a burst of 3")
	}
	if !near(wait, 20*time.Second) {
		t.Errorf("retry after %v, want 20s (one token per 20s)", wait)
	}
	if ok, _ := allow(t, l, "5.6.7.8"); !ok {
		t.Errorf("another key was refused: keys must be independent")
	}
	// A refused event counts nothing: the wait does not grow.
	if _, again := allow(t, l, "1.2.3.4"); !near(again, 20*time.Second) {
		t.Errorf("retry after %v on a second refusal, want still 20s", again)
	}
	clk.Advance(19 * time.Second)
	if ok, wait := allow(t, l, "1.2.3.4"); ok || !near(wait, time.Second) {
		t.Errorf("after 19s: ok=%v wait=%v, want refused for 1s more", ok, wait)
	}
	clk.Advance(time.Second)
	if ok, _ := allow(t, l, "1.2.3.4"); !ok {
		t.Errorf("refused after a token was back")
	}
	if ok, _ := allow(t, l, "1.2.3.4"); ok {
		t.Errorf("allowed two events on one token")
	}
	// A full period later the whole burst is back, and no more.
	clk.Advance(time.Hour)
	for i := 0; i < 3; i++ {
		if ok, _ := allow(t, l, "1.2.3.4"); !ok {
			t.Fatalf("after an idle hour, event %d refused", i+1)
		}
	}
	if ok, _ := allow(t, l, "1.2.3.4"); ok {
		t.Errorf("after an idle hour the burst grew beyond N")
	}
}

func testUnlimited(t *testing.T, f Factory) {
	for _, r := range []ratelimit.Rate{{}, {N: 0, Per: time.Second}, {N: 5, Per: 0}} {
		l := f.Limiter(t, r, NewClock().Now)
		for i := 0; i < 500; i++ {
			if ok, _ := allow(t, l, "k"); !ok {
				t.Fatalf("rate %+v (no limit) refused event %d", r, i)
			}
		}
	}
}

func testLimiterConcurrent(t *testing.T, f Factory) {
	l := f.Limiter(t, ratelimit.Rate{N: 100, Per: time.Hour}, NewClock().Now)
	var wg sync.WaitGroup
	var allowed atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				ok, _, err := l.Allow(context.Background(), "k")
				if err != nil {
					t.Errorf("Allow: %v", err)
					return
				}
				if ok {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != 100 {
		t.Errorf("allowed %d of 400 concurrent events, want exactly the burst of 100", got)
	}
}

// testLimiterLongKeys: keys are whatever a client sends (an e-mail as
// typed); long ones that differ only at the end stay apart.
func testLimiterLongKeys(t *testing.T, f Factory) {
	l := f.Limiter(t, ratelimit.Rate{N: 1, Per: time.Hour}, NewClock().Now)
	long := strings.Repeat("x", 5000)
	for _, k := range []string{long + "a", long + "b", "", "üñï ☃ {tag}"} {
		if ok, _ := allow(t, l, k); !ok {
			t.Errorf("first event of key %.12q… (len %d) refused", k, len(k))
		}
		if ok, _ := allow(t, l, k); ok {
			t.Errorf("second event of key %.12q… (len %d) allowed", k, len(k))
		}
	}
}

func fail(t *testing.T, b ratelimit.Backoff, key string) time.Duration {
	t.Helper()
	d, err := b.Fail(context.Background(), key)
	if err != nil {
		t.Fatalf("Fail: %v", err)
	}
	return d
}

func check(t *testing.T, b ratelimit.Backoff, key string) time.Duration {
	t.Helper()
	d, err := b.Check(context.Background(), key)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return d
}

func testBackoffDoubles(t *testing.T, f Factory) {
	clk := NewClock()
	b := f.Backoff(t, ratelimit.BackoffPolicy{Free: 2, Base: time.Second, Max: 5 * time.Second, Window: time.Hour}, clk.Now)
	wants := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, want := range wants {
		if got := fail(t, b, "a@shop.test"); got != want {
			t.Errorf("failure %d: lock %v, want %v", i+1, got, want)
		}
		if left := check(t, b, "a@shop.test"); left != want {
			t.Errorf("failure %d: Check = %v, want %v", i+1, left, want)
		}
		if want > 0 {
			clk.Advance(want / 2)
			if left := check(t, b, "a@shop.test"); left != want-want/2 {
				t.Errorf("failure %d: Check halfway = %v, want %v", i+1, left, want-want/2)
			}
			clk.Advance(want - want/2)
		}
		if left := check(t, b, "a@shop.test"); left != 0 {
			t.Errorf("failure %d: still locked %v after the lock ran out", i+1, left)
		}
	}
	if left := check(t, b, "b@shop.test"); left != 0 {
		t.Errorf("another key is locked")
	}
	if err := b.Reset(context.Background(), "a@shop.test"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := fail(t, b, "a@shop.test"); got != 0 {
		t.Errorf("first failure after reset locked %v, want 0", got)
	}
	if err := b.Reset(context.Background(), "never-failed"); err != nil {
		t.Errorf("Reset of a key with no failures: %v", err)
	}
}

func testBackoffWindow(t *testing.T, f Factory) {
	clk := NewClock()
	b := f.Backoff(t, ratelimit.BackoffPolicy{Free: 1, Base: time.Second, Max: time.Minute, Window: 10 * time.Minute}, clk.Now)
	fail(t, b, "k")
	if got := fail(t, b, "k"); got != time.Second {
		t.Fatalf("second failure locked %v, want 1s", got)
	}
	clk.Advance(9 * time.Minute)
	if got := fail(t, b, "k"); got != 2*time.Second {
		t.Fatalf("third failure within the window locked %v, want 2s", got)
	}
	clk.Advance(11 * time.Minute)
	if got := fail(t, b, "k"); got != 0 {
		t.Errorf("failure after the window locked %v, want a fresh start", got)
	}
}

func testBackoffDisabled(t *testing.T, f Factory) {
	b := f.Backoff(t, ratelimit.BackoffPolicy{}, NewClock().Now)
	for i := 0; i < 50; i++ {
		if got := fail(t, b, "k"); got != 0 {
			t.Fatalf("disabled backoff locked %v", got)
		}
	}
	if left := check(t, b, "k"); left != 0 {
		t.Errorf("disabled backoff: Check = %v", left)
	}
}

// testBackoffConcurrent: failures recorded at once (several instances, one
// guesser) all count; none is lost to a read-modify-write race.
func testBackoffConcurrent(t *testing.T, f Factory) {
	b := f.Backoff(t, ratelimit.BackoffPolicy{Free: 5, Base: time.Second, Max: time.Hour, Window: 2 * time.Hour}, NewClock().Now)
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Fail(context.Background(), "victim@shop.test"); err != nil {
				t.Errorf("Fail: %v", err)
			}
		}()
	}
	wg.Wait()
	// 10 failures so far; the 11th is the 6th over the free 5: 2^5 s.
	if got := fail(t, b, "victim@shop.test"); got != 32*time.Second {
		t.Errorf("11th failure locked %v, want 32s (every concurrent failure counted)", got)
	}
}
