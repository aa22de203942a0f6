// Package redislimit keeps ratelimit counts in Redis, so that every Kefu
// instance sharing one Redis counts the same events: a client behind a load
// balancer gets the configured rate once, not once per instance, and
// failed logins through one instance lock the account on all of them.
//
// Each decision is one Lua script, which Redis runs atomically: reading
// the count, deciding and writing it back cannot interleave with another
// instance's. The Limiter is GCRA (the generic cell rate algorithm, as in
// go-redis/redis_rate): one number per key, the theoretical arrival time,
// which behaves exactly like ratelimit.Memory's token bucket of N tokens
// refilled at N/Per. The Backoff keeps a small hash per key (failures, the
// last failure, the end of the lock), with the same policy as
// ratelimit.MemoryBackoff. Every key expires once it has nothing left to
// say (a full bucket, failures past their window), so Redis memory follows
// the active keys.
//
// Time is Redis's own clock (the TIME command), one clock for all
// instances, unless Options.Clock is set (the contract suite's fake clock).
// redis_rate was not used as a dependency: the backoff needs its own script
// anyway, and passing the clock in is what lets one contract suite with a
// fake clock run over both implementations.
//
// Every method is safe for concurrent use. When Redis cannot be reached the
// methods return the error; the handlers then let the request through and
// log it (failing open, see docs/security.md).
package redislimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kefu-chat/kefu/internal/ratelimit"
)

var (
	_ ratelimit.Limiter = (*Limiter)(nil)
	_ ratelimit.Backoff = (*Backoff)(nil)
)

// Options configure a Store. The zero value is right for production.
type Options struct {
	// Clock, when set, is the time every decision uses instead of Redis's
	// clock. Tests set it; instances in production must share one clock,
	// which Redis's is.
	Clock func() time.Time
}

// Store makes Limiters and Backoffs on one Redis under one key prefix.
type Store struct {
	client *redis.Client
	prefix string
	clock  func() time.Time
}

// Open connects to the Redis at url (redis://host:port/db) and checks that
// it answers. Keys are "<prefix>rl:<name>:<key>"; instances of one
// deployment must use the same prefix, and different deployments sharing a
// Redis different ones.
func Open(ctx context.Context, url, prefix string, o Options) (*Store, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("rate-limit redis url: %w", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("rate-limit redis unreachable: %w", err)
	}
	return &Store{client: client, prefix: prefix + "rl:", clock: o.Clock}, nil
}

// Close closes the connection to Redis.
func (s *Store) Close() error { return s.client.Close() }

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

// maxRawKey is the longest key kept as it is; longer ones (an e-mail typed
// by anyone can be as long as a request body) are replaced by their hash.
const maxRawKey = 128

// key names key of the counter name in Redis.
func (s *Store) key(name, key string) string {
	if len(key) > maxRawKey {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return s.prefix + name + ":" + key
}

// now is the time argument of the scripts: milliseconds since the epoch,
// or -1 for "ask Redis".
func (s *Store) now() string {
	if s.clock == nil {
		return "-1"
	}
	return strconv.FormatFloat(float64(s.clock().UnixNano())/1e6, 'f', -1, 64)
}

// clockLua sets now (in milliseconds) from ARGV[i], or from Redis's clock
// when it is negative. Since Redis 5 scripts are replicated by their
// effects, so reading TIME before writing is allowed; replicate_commands
// says so to older versions and is a no-op on 7.
const clockLua = `
local now = tonumber(ARGV[%d])
if now < 0 then
  if redis.replicate_commands then pcall(redis.replicate_commands) end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
`

// gcraLua: KEYS[1] holds the theoretical arrival time (TAT) in ms. ARGV:
// the emission interval in ms (Per/N), the burst N, now. An event is
// allowed when TAT + interval - N×interval <= now; then TAT moves on by one
// interval and the key lives until TAT (when the bucket is full again).
// Refused events change nothing. Returns {allowed, retry-after in ms as a
// string} (Redis would truncate a Lua number to an integer).
var gcraLua = redis.NewScript(fmt.Sprintf(clockLua, 3) + `
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, string.format('%.17g', allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, '0'}
`)

// Limiter is a ratelimit.Limiter in Redis.
type Limiter struct {
	s        *Store
	name     string
	rate     ratelimit.Rate
	interval string // Per/N in ms
}

// Limiter returns the limiter name (e.g. "conn") allowing rate per key.
// Limiters of different names count apart.
func (s *Store) Limiter(name string, rate ratelimit.Rate) *Limiter {
	l := &Limiter{s: s, name: name, rate: rate}
	if !rate.Unlimited() {
		ms := float64(rate.Per) / float64(time.Millisecond) / float64(rate.N)
		l.interval = strconv.FormatFloat(ms, 'f', -1, 64)
	}
	return l
}

// Allow implements ratelimit.Limiter.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l.rate.Unlimited() {
		return true, 0, nil
	}
	res, err := gcraLua.Run(ctx, l.s.client, []string{l.s.key(l.name, key)}, l.interval, l.rate.N, l.s.now()).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("rate limit %s: unexpected reply %v", l.name, res)
	}
	ok, _ := res[0].(int64)
	if ok == 1 {
		return true, 0, nil
	}
	wait, err := millis(res[1])
	if err != nil {
		return false, 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	return false, wait, nil
}

// millis reads a script's duration in milliseconds, rounding up to the
// nanosecond: a client told to wait must not be refused when it has.
func millis(v any) (time.Duration, error) {
	str, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("unexpected duration %v", v)
	}
	ms, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(math.Ceil(ms * float64(time.Millisecond))), nil
}

// backoffLua: KEYS[1] is a hash of n (failures), last (the last failure)
// and until (the end of the lock), times in ms. ARGV: op ("check" or
// "fail"), free, base, max, window (ms), now. Failures are forgotten when
// the window has passed since the last and no lock is running, exactly as
// in MemoryBackoff; the key's expiry only frees memory. Returns the lock
// left (check) or started (fail), in ms, as a string.
var backoffLua = redis.NewScript(fmt.Sprintf(clockLua, 6) + `
local op = ARGV[1]
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'n', 'last', 'until')
local n, last, untl = 0, 0, 0
if v[1] then
  n, last, untl = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
  if now - last > window and now >= untl then
    n, last, untl = 0, 0, 0
  end
end
if op == 'check' then
  if now < untl then return string.format('%.17g', untl - now) end
  return '0'
end
n = n + 1
last = now
local lock = 0
local over = n - free
if over > 0 then
  lock = base
  local i = 1
  while i < over and lock < max do
    lock = lock * 2
    i = i + 1
  end
  if lock > max then lock = max end
  untl = now + lock
end
redis.call('HSET', KEYS[1], 'n', n, 'last', string.format('%.17g', last), 'until', string.format('%.17g', untl))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(window, untl - now)) + 1)
return string.format('%.17g', lock)
`)

// Backoff is a ratelimit.Backoff in Redis.
type Backoff struct {
	s    *Store
	name string
	p    ratelimit.BackoffPolicy
	args [4]string // free, base, max, window
}

// Backoff returns the backoff name (e.g. "login") with policy p, defaulted
// as ratelimit.NewMemoryBackoff does. A zero Base disables it.
func (s *Store) Backoff(name string, p ratelimit.BackoffPolicy) *Backoff {
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.Window < p.Max {
		p.Window = p.Max
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return &Backoff{s: s, name: name, p: p, args: [4]string{strconv.Itoa(p.Free), ms(p.Base), ms(p.Max), ms(p.Window)}}
}

func (b *Backoff) run(ctx context.Context, op, key string) (time.Duration, error) {
	if b.p.Base <= 0 {
		return 0, nil
	}
	res, err := backoffLua.Run(ctx, b.s.client, []string{b.s.key(b.name, key)},
		op, b.args[0], b.args[1], b.args[2], b.args[3], b.s.now()).Result()
	if err != nil {
		return 0, fmt.Errorf("backoff %s: %w", b.name, err)
	}
	d, err := millis(res)
	if err != nil {
		return 0, fmt.Errorf("backoff %s: %w", b.name, err)
	}
	return d, nil
}

// Check implements ratelimit.Backoff.
func (b *Backoff) Check(ctx context.Context, key string) (time.Duration, error) {
	return b.run(ctx, "check", key)
}

// Fail implements ratelimit.Backoff.
func (b *Backoff) Fail(ctx context.Context, key string) (time.Duration, error) {
	return b.run(ctx, "fail", key)
}

// Reset implements ratelimit.Backoff.
func (b *Backoff) Reset(ctx context.Context, key string) error {
	if err := b.s.client.Del(ctx, b.s.key(b.name, key)).Err(); err != nil {
		return fmt.Errorf("backoff %s: %w", b.name, err)
	}
	return nil
}
