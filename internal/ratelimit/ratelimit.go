// Package ratelimit counts what clients do per key (an IP address, an
// account) and says when they must wait. Kefu uses it for new websocket
// connections and new conversations per IP, and for failed logins per IP and
// per account.
//
// The interfaces (Limiter, Backoff) are what the handlers call; Memory and
// MemoryBackoff keep the counts in this process, which is right for one
// instance. Several instances behind a load balancer would each keep their
// own counts, so a client would get up to N times the limit; redislimit
// keeps them in a Redis every instance shares. ratelimittest is the
// contract suite both pass.
//
// Every implementation is safe for concurrent use. Memory use is bounded:
// keys whose counts have fully recovered are forgotten.
package ratelimit

import (
	"context"
	"time"
)

// Rate is N events per Per, allowing a burst of N at once: a token bucket of
// N tokens refilled at N/Per. The zero Rate (N <= 0) means no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Unlimited reports whether r imposes no limit.
func (r Rate) Unlimited() bool { return r.N <= 0 || r.Per <= 0 }

// Limiter limits events per key.
type Limiter interface {
	// Allow counts one event for key. When key is over its rate it counts
	// nothing and returns ok=false and how long until one more event would
	// be allowed. err is only for implementations that can fail (a remote
	// store); callers should fail open and log it.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Backoff slows down repeated failures per key (failed logins): the first
// Free failures cost nothing; each one after that locks the key for twice
// as long as the last, from Base up to Max. Failures are forgotten Window
// after the last one, and at once on Reset (a successful login).
type Backoff interface {
	// Check returns how long key is still locked; 0 means go ahead.
	Check(ctx context.Context, key string) (time.Duration, error)
	// Fail records a failure and returns the lock it starts (0 if none).
	Fail(ctx context.Context, key string) (time.Duration, error)
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
}
