package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/kefu-chat/kefu/internal/metrics"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
)

// onDeliver is the hub's OnDeliver: fan-out metrics and announcement
// delivery counts.
func (a *App) onDeliver(e models.Event, conns int, took time.Duration) {
	a.Metrics.OnDeliver(e, conns, took)
	if a.Announcer != nil {
		a.Announcer.Delivered(e, conns)
	}
}

func (a *App) onSlowClient(id realtime.Identity) { a.Metrics.OnSlowClient(string(id.Kind)) }

// metricsHandler is what the main listener serves at /metrics when a token
// is configured (handlers routes it only then).
func (a *App) metricsHandler() http.Handler { return a.Metrics.Handler(a.Config.MetricsToken) }

// listenMetrics opens KEFU_METRICS_ADDR, when set, so that a bad address
// fails at start rather than later.
func (a *App) listenMetrics() error {
	if a.Config.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.MetricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metricsHandler())
	// The private listener also serves Go's profiler, behind the metrics
	// token when there is one: where the time goes under load is what
	// operators and the benchmarks need to know (docs/api.md).
	guard := func(h http.HandlerFunc) http.Handler { return metrics.RequireToken(a.Config.MetricsToken, h) }
	mux.Handle("GET /debug/pprof/", guard(pprof.Index))
	mux.Handle("GET /debug/pprof/profile", guard(pprof.Profile))
	mux.Handle("GET /debug/pprof/trace", guard(pprof.Trace))
	a.metricsLn = ln
	a.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// MetricsAddr returns the address the separate metrics listener is bound
// to, or "" when there is none.
func (a *App) MetricsAddr() string {
	if a.metricsLn == nil {
		return ""
	}
	return a.metricsLn.Addr().String()
}

// startBackground runs the announcement scheduler and the metrics
// listener until ctx is done (the latter until closeMetrics).
func (a *App) startBackground(ctx context.Context) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.Announcer.Run(ctx); err != nil {
			a.log.Error("announcement scheduler stopped", "err", err)
		}
	}()
	if a.metricsSrv != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.metricsSrv.Serve(a.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("metrics listener stopped", "err", err)
			}
		}()
		a.log.Info("metrics are served", "addr", a.metricsLn.Addr().String())
	}
}

// closeMetrics stops the metrics listener; safe when there is none.
func (a *App) closeMetrics(ctx context.Context) error {
	if a.metricsSrv != nil {
		return a.metricsSrv.Shutdown(ctx)
	}
	if a.metricsLn != nil {
		return a.metricsLn.Close()
	}
	return nil
}
