package routing

import (
	"context"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

func TestPresence(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	const grace = time.Minute
	newD := func() (*Dispatcher, *FakeClock) {
		c := NewFakeClock(t0)
		// Presence needs neither store nor notifier: nothing here reaches them.
		d := New(nil, nil, Options{Clock: c, GracePeriod: grace})
		t.Cleanup(func() { d.Close() })
		return d, c
	}
	check := func(t *testing.T, d *Dispatcher, id string, want Presence) {
		t.Helper()
		if got := d.Presence(id); got != want {
			t.Errorf("Presence(%q) = %+v, want %+v", id, got, want)
		}
	}

	t.Run("connections count; the last one leaving starts the grace period", func(t *testing.T) {
		d, c := newD()
		check(t, d, "a", Presence{StatusOffline, 0})
		d.AgentConnected("a")
		d.AgentConnected("a")
		check(t, d, "a", Presence{StatusOnline, 2})
		d.AgentDisconnected("a")
		check(t, d, "a", Presence{StatusOnline, 1})
		if got := c.PendingTimers(); got != 0 {
			t.Errorf("timers with a connection left: %d, want 0", got)
		}
		d.AgentDisconnected("a")
		check(t, d, "a", Presence{StatusOnline, 0})
		if got := c.PendingTimers(); got != 1 {
			t.Errorf("timers after last disconnect: %d, want 1", got)
		}
		d.AgentDisconnected("a") // one too many: ignored
		check(t, d, "a", Presence{StatusOnline, 0})
		c.Advance(grace - time.Second)
		check(t, d, "a", Presence{StatusOnline, 0})
		c.Advance(time.Second)
		check(t, d, "a", Presence{StatusOffline, 0})
		d.mu.Lock()
		_, pending := d.expired["a"]
		d.mu.Unlock()
		if !pending {
			t.Error("expired agent not left for the next pass")
		}
	})

	t.Run("reconnecting cancels the grace period, even after it fired", func(t *testing.T) {
		d, c := newD()
		d.AgentConnected("a")
		d.AgentDisconnected("a")
		c.Advance(grace / 2)
		d.AgentConnected("a")
		if got := c.PendingTimers(); got != 0 {
			t.Errorf("timers after reconnect: %d, want 0", got)
		}
		c.Advance(2 * grace)
		check(t, d, "a", Presence{StatusOnline, 1})

		d.AgentDisconnected("a")
		c.Advance(grace) // fired: expiry waits for a pass
		d.AgentConnected("a")
		d.mu.Lock()
		_, pending := d.expired["a"]
		d.mu.Unlock()
		if pending {
			t.Error("expiry still pending after the agent came back")
		}
		check(t, d, "a", Presence{StatusOnline, 1})
	})

	t.Run("status", func(t *testing.T) {
		d, _ := newD()
		tests := []struct {
			name   string
			status Status
			code   models.Code
			want   Presence
		}{
			{"not connected", StatusAway, models.ECONFLICT, Presence{StatusOffline, 0}},
			{"away", StatusAway, "", Presence{StatusAway, 1}},
			{"offline is not a choice", StatusOffline, models.EINVALID, Presence{StatusAway, 1}},
			{"unknown", Status("busy"), models.EINVALID, Presence{StatusAway, 1}},
			{"online", StatusOnline, "", Presence{StatusOnline, 1}},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if i == 1 {
					d.AgentConnected("a")
				}
				err := d.SetStatus("a", tt.status)
				if got := models.ErrorCode(err); got != tt.code {
					t.Errorf("SetStatus(%q) code = %q, want %q (err %v)", tt.status, got, tt.code, err)
				}
				check(t, d, "a", tt.want)
			})
		}
	})

	t.Run("close stops timers and passes; twice is fine", func(t *testing.T) {
		d, c := newD()
		d.AgentConnected("a")
		d.AgentDisconnected("a")
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if got := c.PendingTimers(); got != 0 {
			t.Errorf("timers after Close: %d, want 0", got)
		}
		if got, want := models.ErrorCode(d.Step(context.Background())), models.EUNAVAILABLE; got != want {
			t.Errorf("Step after Close: code %q, want %q", got, want)
		}
		if err := d.Run(context.Background()); err != nil {
			t.Errorf("Run after Close = %v, want nil", err)
		}
	})
}
