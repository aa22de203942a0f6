// Package metrics collects Kefu's operational figures in the Prometheus
// format: connected shoppers and agents, the queue and how long shoppers
// wait in it, messages stored, announcements sent, fan-out time, slow
// clients cut off and the dispatcher's decisions.
//
// It owns no global state: New makes a private prometheus.Registry, and the
// parts of Kefu feed it through hooks (realtime.Options.OnDeliver and
// OnSlowClient), wrappers (Bus, Notifier) and functions read at scrape time
// (Sources). Handler serves the registry, behind a bearer token when one is
// given; Kefu exposes it only on a separate listen address or with a token
// (docs/api.md), never openly by default.
//
// All methods are safe for concurrent use and never block.
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/routing"
)

// Sources are read at scrape time. Nil fields are left out.
type Sources struct {
	// Connections returns the open visitor and agent connections.
	Connections func() (visitors, agents int)
	// AnnouncementsSent returns how many announcements this instance sent.
	AnnouncementsSent func() int64
}

// Metrics is one instance's set of collectors. Create it with New.
type Metrics struct {
	reg *prometheus.Registry

	events     *prometheus.CounterVec
	messages   prometheus.Counter
	fanout     *prometheus.HistogramVec
	deliveries *prometheus.CounterVec
	slow       *prometheus.CounterVec
	queueLen   prometheus.Gauge
	wait       prometheus.Histogram
	decisions  *prometheus.CounterVec
}

// New returns collectors registered on a fresh registry, with Go runtime
// and process collectors.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_events_published_total",
			Help: "Events this instance published on the bus, by type."}, []string{"type"}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "kefu_messages_stored_total",
			Help: "Messages stored (and then published) by this instance."}),
		fanout: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kefu_fanout_seconds",
			Help:    "Time to resolve an event's audience and queue its frame to every connection, by event type.",
			Buckets: []float64{.00001, .00005, .0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}}, []string{"type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_frames_queued_total",
			Help: "Frames queued to connections by fan-out, by event type."}, []string{"type"}),
		slow: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_slow_clients_cut_off_total",
			Help: "Connections closed because their send queue was full, by kind."}, []string{"kind"}),
		queueLen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kefu_queue_length",
			Help: "Conversations waiting for an agent, as last reported by the dispatcher."}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kefu_queue_wait_seconds",
			Help:    "Time from a conversation entering the queue to its assignment.",
			Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600, 1800}}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kefu_dispatch_decisions_total",
			Help: "Dispatcher decisions: assigned or requeued."}, []string{"decision"}),
	}
	reg.MustRegister(m.events, m.messages, m.fanout, m.deliveries, m.slow, m.queueLen, m.wait, m.decisions,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.Connections != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kefu_connected_shoppers", Help: "Open shopper (widget) connections."},
				func() float64 { v, _ := src.Connections(); return float64(v) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kefu_connected_agents", Help: "Open agent (console) connections."},
				func() float64 { _, a := src.Connections(); return float64(a) }))
	}
	if src.AnnouncementsSent != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kefu_announcements_sent_total",
			Help: "Announcements this instance sent."}, func() float64 { return float64(src.AnnouncementsSent()) }))
	}
	return m
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics. With a non-empty token it answers 401 unless
// the request carries "Authorization: Bearer <token>".
func (m *Metrics) Handler(token string) http.Handler {
	return RequireToken(token, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// RequireToken serves h only to requests bearing token (401 otherwise);
// with no token it is h itself.
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kefu metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// OnDeliver is realtime.Options.OnDeliver: fan-out time and frames queued.
func (m *Metrics) OnDeliver(e models.Event, conns int, took time.Duration) {
	m.fanout.WithLabelValues(e.Type).Observe(took.Seconds())
	m.deliveries.WithLabelValues(e.Type).Add(float64(conns))
}

// OnSlowClient counts a connection cut off for a full queue; kind is
// "visitor" or "agent".
func (m *Metrics) OnSlowClient(kind string) { m.slow.WithLabelValues(kind).Inc() }

// Bus wraps b so that every event published through it is counted; each
// EventMessage is one stored message (chat publishes after the commit).
func (m *Metrics) Bus(b models.Bus) models.Bus { return &bus{Bus: b, m: m} }

type bus struct {
	models.Bus
	m *Metrics
}

func (b *bus) Publish(ctx context.Context, e models.Event) error {
	err := b.Bus.Publish(ctx, e)
	if err == nil {
		b.m.events.WithLabelValues(e.Type).Inc()
		if e.Type == models.EventMessage {
			b.m.messages.Inc()
		}
	}
	return err
}

// Notifier wraps n so that the dispatcher's decisions, queue waits and
// queue length are counted before n hears of them. Methods of n not listed
// here pass through unchanged.
func (m *Metrics) Notifier(n routing.Notifier) routing.Notifier { return &notifier{Notifier: n, m: m} }

type notifier struct {
	routing.Notifier
	m *Metrics
}

func (n *notifier) Assigned(ctx context.Context, c *models.Conversation, agent *models.Agent) {
	n.m.decisions.WithLabelValues("assigned").Inc()
	if c.AssignedAt != nil && !c.QueuedAt.IsZero() {
		n.m.wait.Observe(c.AssignedAt.Sub(c.QueuedAt).Seconds())
	}
	n.Notifier.Assigned(ctx, c, agent)
}

func (n *notifier) Requeued(ctx context.Context, c *models.Conversation, fromAgentID string, reason string) {
	n.m.decisions.WithLabelValues("requeued").Inc()
	n.Notifier.Requeued(ctx, c, fromAgentID, reason)
}

func (n *notifier) QueueChanged(ctx context.Context, queue []*models.Conversation) {
	n.m.queueLen.Set(float64(len(queue)))
	n.Notifier.QueueChanged(ctx, queue)
}
