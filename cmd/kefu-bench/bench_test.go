package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/internal/testenv"
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

// TestSeveralInstancesSmoke: two Kefu instances on one PostgreSQL schema
// and one Redis bus (given as two -url): shoppers are spread over both,
// announcements sent through the first reach every shopper on either,
// and chats run with agents on the other instance.
func TestSeveralInstancesSmoke(t *testing.T) {
	dsn := testenv.PostgresSchema(t, "kefu_bench_")
	bus := testenv.Redis(t)
	prefix := fmt.Sprintf("kb%d", time.Now().UnixNano())
	var srvs []*apptest.Server
	for range 2 {
		srvs = append(srvs, apptest.Start(t, apptest.Options{Config: func(c *config.Config) {
			c.DB, c.Bus, c.BusPrefix, c.JWTKey = dsn, bus, prefix, "bench-smoke-test-key-0123456789abcdef"
			if len(srvs) > 0 {
				c.PublicURL = srvs[0].URL // one public URL for all, as behind a load balancer
			}
			c.RateLimitExempt = []string{"127.0.0.0/8"}
			c.FramesPerSecond, c.FrameBurst = 100000, 100000
		}}))
	}
	cfg, err := parseFlags([]string{"-url", srvs[0].URL + "," + srvs[1].URL, "-admin-password", apptest.AdminPassword,
		"-shoppers", "40", "-rounds", "3", "-conversations", "6", "-chat-duration", "1s", "-agents", "2",
		"-workers", "2", "-procs=false", "-baseline=false", "-scenarios", "connect,broadcast,chat"}, io.Discard)
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
	if rep.Instances != 2 {
		t.Errorf("report says %d instances, want 2", rep.Instances)
	}
	want := map[string]float64{"failed connects": 0, "frames delivered (3 rounds)": 120, "frames missed": 0}
	for _, r := range rep.Results {
		if w, ok := want[r.Metric]; ok {
			if r.Kefu != w {
				t.Errorf("%s: %v, want %v", r.Metric, r.Kefu, w)
			}
			delete(want, r.Metric)
		}
		if r.Metric == "messages per second" && r.Kefu <= 0 {
			t.Errorf("chat over two instances: %v messages per second", r.Kefu)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing results %v in %+v", want, rep.Results)
	}
	// A worker spreads its shoppers over the instances in turn.
	tg := &target{bases: cfg.URLs, visitorPath: "/ws/visitor"}
	ws, err := startWorkers(1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stopWorkers(ws)
	urls, origins := tg.shopperURLs()
	evs, err := all(ws, func(int, *worker) workerCmd {
		return workerCmd{Cmd: "connect", URLs: urls, Origins: origins, N: 10, Concurrency: 4}
	})
	if err != nil || evs[0].OK != 10 {
		t.Fatalf("connect: %+v %v", evs, err)
	}
	for i, srv := range srvs {
		if v, _ := srv.App.Hub.Counts(); v != 5 {
			t.Errorf("instance %d holds %d of 10 shoppers, want 5", i, v)
		}
	}
}
