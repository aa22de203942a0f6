package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
)

// TestScenariosSmoke runs every scenario, small, against a real Kefu and
// the in-process baseline, so that the load tool cannot rot.
func TestScenariosSmoke(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
		c.RateLimitExempt = []string{"127.0.0.0/8"}
		c.FramesPerSecond, c.FrameBurst = 100000, 100000
	}})
	cfg, err := parseFlags([]string{"-url", srv.URL, "-admin-password", apptest.AdminPassword,
		"-shoppers", "50", "-rounds", "3", "-conversations", "10", "-chat-duration", "1s",
		"-burst", "10", "-agents", "2", "-workers", "2", "-procs=false",
		"-scenarios", "connect,broadcast,chat,dispatch,mixed", "-mixed-conversations", "5", "-announce-every", "100ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	get := func(scenarioPrefix, metric string) Result {
		t.Helper()
		for _, r := range rep.Results {
			if strings.HasPrefix(r.Scenario, scenarioPrefix) && r.Metric == metric {
				return r
			}
		}
		t.Fatalf("no %s / %s in %+v", scenarioPrefix, metric, rep.Results)
		return Result{}
	}
	for _, tc := range []struct {
		scenario, metric string
		kefu, baseline   float64 // -1: only > 0 is required
	}{
		{"connect", "failed connects", 0, 0},
		{"connect", "connect rate", -1, -1},
		{"broadcast", "frames delivered (3 rounds)", 150, 150},
		{"broadcast", "frames missed", 0, 0},
		{"broadcast", "announcement → shopper p99", -1, -1},
		{"chat", "messages per second", -1, -1},
		{"chat", "round trip p99", -1, -1},
		{"dispatch", "conversations assigned", 10, -2},
		{"dispatch", "first message → agent p99", -1, -2},
		{"mixed", "chat round trip p99, no announcement", -1, -1},
		{"mixed", "chat round trip p99, announcing", -1, -1},
		{"mixed", "announcements sent meanwhile", -1, -1},
	} {
		r := get(tc.scenario, tc.metric)
		check := func(who string, got, want float64) {
			switch {
			case want == -1 && got <= 0:
				t.Errorf("%s %s %s = %v, want > 0", tc.scenario, tc.metric, who, got)
			case want >= 0 && got != want:
				t.Errorf("%s %s %s = %v, want %v", tc.scenario, tc.metric, who, got, want)
			}
		}
		check("kefu", r.Kefu, tc.kefu)
		if tc.baseline != -2 {
			if r.Baseline == nil {
				t.Errorf("%s %s: no baseline figure", tc.scenario, tc.metric)
			} else {
				check("baseline", *r.Baseline, tc.baseline)
			}
		}
	}
	var table strings.Builder
	printTable(&table, rep)
	if !strings.Contains(table.String(), "kefu/baseline") {
		t.Errorf("table lacks its header:\n%s", table.String())
	}
	t.Logf("\n%s", table.String())
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://shop.example", false},
		{"ftp://127.0.0.1", false},
	} {
		if err := loopbackOnly(tc.url); (err == nil) != tc.ok {
			t.Errorf("loopbackOnly(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}
