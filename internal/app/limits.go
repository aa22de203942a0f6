package app

import (
	"context"

	"github.com/kefu-chat/kefu/handlers"
	"github.com/kefu-chat/kefu/internal/ratelimit"
	"github.com/kefu-chat/kefu/internal/ratelimit/redislimit"
)

// openLimits builds the rate-limit and login-failure counters cfg names:
// in Redis when Config.LimitsRedis names one (by default the bus's Redis),
// so that every instance counts the same events; nil otherwise, which
// makes the handlers keep them in this process's memory. A Redis that does
// not answer at start is an error, as the bus's is; one that fails later
// lets requests through (handlers log it).
func (a *App) openLimits(ctx context.Context) (*handlers.Limits, error) {
	url := a.Config.LimitsRedis()
	if url == "" {
		return nil, nil
	}
	s, err := redislimit.Open(ctx, url, busPrefix(a.Config)+":", redislimit.Options{})
	if err != nil {
		return nil, err
	}
	a.limits = s
	return handlers.NewLimits(a.Config,
		func(name string, r ratelimit.Rate) ratelimit.Limiter { return s.Limiter(name, r) },
		func(name string, p ratelimit.BackoffPolicy) ratelimit.Backoff { return s.Backoff(name, p) }), nil
}

// closeLimits closes the Redis connection of the counters, if any.
func (a *App) closeLimits() error {
	if a.limits == nil {
		return nil
	}
	return a.limits.Close()
}
