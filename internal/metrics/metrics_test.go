package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/internal/metrics"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
)

type recNotifier struct{ assigned, requeued, queues int }

func (r *recNotifier) Assigned(context.Context, *models.Conversation, *models.Agent)  { r.assigned++ }
func (r *recNotifier) Requeued(context.Context, *models.Conversation, string, string) { r.requeued++ }
func (r *recNotifier) QueueChanged(context.Context, []*models.Conversation)           { r.queues++ }

func scrape(t *testing.T, h http.Handler, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestMetricsCountAndProtect(t *testing.T) {
	m := metrics.New(metrics.Sources{
		Connections:       func() (int, int) { return 7, 2 },
		AnnouncementsSent: func() int64 { return 3 },
	})
	bus := m.Bus(realtime.NewMemoryBus())
	defer bus.Close()
	ctx := t.Context()
	for range 4 {
		if err := bus.Publish(ctx, models.Event{Type: models.EventMessage, Frame: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	m.OnDeliver(models.Event{Type: models.EventAnnouncement}, 10000, 3*time.Millisecond)
	m.OnSlowClient("visitor")
	rec := &recNotifier{}
	n := m.Notifier(rec)
	q := time.Unix(1000, 0)
	a := q.Add(30 * time.Second)
	n.Assigned(ctx, &models.Conversation{QueuedAt: q, AssignedAt: &a}, &models.Agent{})
	n.Requeued(ctx, &models.Conversation{}, "x", "")
	n.QueueChanged(ctx, make([]*models.Conversation, 5))
	if rec.assigned != 1 || rec.requeued != 1 || rec.queues != 1 {
		t.Fatalf("wrapped notifier got %+v, want one of each", rec)
	}

	h := m.Handler("s3cret-token-value")
	for _, tok := range []string{"", "wrong"} {
		if code, _ := scrape(t, h, tok); code != http.StatusUnauthorized {
			t.Errorf("token %q: HTTP %d, want 401", tok, code)
		}
	}
	code, body := scrape(t, h, "s3cret-token-value")
	if code != 200 {
		t.Fatalf("HTTP %d", code)
	}
	for _, want := range []string{
		"kefu_connected_shoppers 7", "kefu_connected_agents 2", "kefu_announcements_sent_total 3",
		"kefu_messages_stored_total 4", `kefu_events_published_total{type="message"} 4`,
		`kefu_frames_queued_total{type="announcement"} 10000`, `kefu_fanout_seconds_count{type="announcement"} 1`,
		`kefu_slow_clients_cut_off_total{kind="visitor"} 1`, "kefu_queue_length 5", "kefu_queue_wait_seconds_sum 30",
		`kefu_dispatch_decisions_total{decision="assigned"} 1`, `kefu_dispatch_decisions_total{decision="requeued"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") && !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, _ := scrape(t, m.Handler(""), ""); code != 200 {
		t.Errorf("no token configured: HTTP %d, want 200", code)
	}
}
