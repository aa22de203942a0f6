// Command kefu-bench drives a running Kefu over its real protocol and
// reports what it can take: idle shoppers connecting (rate, server memory
// per connection), announcements fanned out to all of them (p50/p99/max,
// none missed, server CPU per delivered frame), concurrent conversations
// with agents (messages per second, round-trip p50/p99, all persisted) and
// a burst of new conversations (first message to agent notification).
//
// Every scenario also runs, in the same invocation, against a bare
// websocket fan-out server on the same library (the baseline, in
// baseline.go), so each figure reads as a ratio: Kefu against bare fan-out,
// same machine, same moment. It only ever dials loopback addresses, and
// every run is bounded in connections and time.
//
//	kefu-bench -spawn ./kefu -shoppers 10000 -scenarios connect,broadcast
//	kefu-bench -url http://127.0.0.1:8080 -server-pid 1234 -admin-password "$(…)"
//	kefu-bench -spawn ./kefu -instances 4 -db postgres://… -bus redis://… -shoppers 50000 -baseline=false
//
// With several instances (-instances, or several -url), shoppers and
// agents are spread over them in turn, announcements go through the first,
// and memory and CPU are summed over every instance's process.
//
// See docs/benchmarks.md for the figures and the exact commands.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "baseline-serve" {
		raiseFileLimit()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(ln.Addr().String())
		if err := serveBaseline(ln); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	rep, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kefu-bench:", err)
		os.Exit(1)
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printTable(os.Stdout, rep)
	}
}

// Config is what a run does.
type Config struct {
	URLs  []string // the instances of one Kefu; the first takes the API calls
	Spawn string   // path of a kefu binary to start on a fresh data folder
	// Instances, DB and Bus shape what -spawn starts: that many kefu
	// processes on one database and bus (several need PostgreSQL and Redis
	// or NATS).
	Instances     int
	DB            string
	Bus           string
	ServerPIDs    []int
	AdminEmail    string
	AdminPassword string
	Scenarios     []string
	Shoppers      int
	Rounds        int
	Conversations int
	ChatDuration  time.Duration
	Burst         int
	// MixedConversations and AnnounceEvery shape the mixed scenario.
	MixedConversations int
	AnnounceEvery      time.Duration
	Agents             int
	Workers            int
	Procs              bool
	Baseline           bool
	JSON               bool
	Timeout            time.Duration
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("kefu-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("url", "", "Kefu's base URL (loopback only), e.g. http://127.0.0.1:8080, or several instances' comma-separated; empty with -spawn")
	fs.StringVar(&c.Spawn, "spawn", "", "start this kefu binary on a fresh temporary data folder (limits lifted for the run)")
	fs.IntVar(&c.Instances, "instances", 1, "with -spawn: how many kefu processes to start on one -db and -bus")
	fs.StringVar(&c.DB, "db", "", "with -spawn: KEFU_DB for the kefu processes (empty: SQLite in the data folder; several instances need postgres://…)")
	fs.StringVar(&c.Bus, "bus", "memory", "with -spawn: KEFU_BUS for the kefu processes (several instances need redis://… or nats://…)")
	pids := fs.String("server-pid", "", "pid of the Kefu process (comma-separated: one per instance), for memory and CPU figures (set by -spawn)")
	fs.StringVar(&c.AdminEmail, "admin-email", "admin@kefu.local", "admin e-mail (announcements, agents)")
	fs.StringVar(&c.AdminPassword, "admin-password", "", "admin password; with -spawn read from the data folder's admin-password.txt")
	scen := fs.String("scenarios", "connect,broadcast,chat,dispatch", "comma-separated: connect, broadcast, chat, dispatch, mixed")
	fs.IntVar(&c.Shoppers, "shoppers", 1000, "idle shoppers for connect and broadcast (at most 20000 per instance, and per baseline)")
	fs.IntVar(&c.Rounds, "rounds", 50, "announcements in broadcast (CPU per frame is taken over all of them)")
	fs.IntVar(&c.Conversations, "conversations", 200, "concurrent conversations in chat (at most 2000)")
	fs.DurationVar(&c.ChatDuration, "chat-duration", 10*time.Second, "how long chat runs")
	fs.IntVar(&c.Burst, "burst", 200, "new conversations at once in dispatch (at most 2000)")
	fs.IntVar(&c.MixedConversations, "mixed-conversations", 50, "chats running in mixed (while every idle shopper gets announcements)")
	fs.DurationVar(&c.AnnounceEvery, "announce-every", 500*time.Millisecond, "time between announcements in mixed")
	fs.IntVar(&c.Agents, "agents", 20, "agents for chat and dispatch (each takes conversations/agents chats)")
	fs.IntVar(&c.Workers, "workers", 0, "worker groups holding the shoppers, each on its own 127.0.0.x source address (0: one per 5000 shoppers)")
	fs.BoolVar(&c.Procs, "procs", true, "run worker groups as child processes (each process may hold only so many open files)")
	fs.BoolVar(&c.Baseline, "baseline", true, "also run every scenario against the bare fan-out baseline")
	fs.BoolVar(&c.JSON, "json", false, "print JSON instead of a table")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "give up on the whole run after this long")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Scenarios = strings.Split(*scen, ",")
	fail := func(format string, a ...any) (Config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, "kefu-bench:", err)
		return c, err
	}
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u != "" {
			c.URLs = append(c.URLs, u)
		}
	}
	for _, p := range strings.Split(*pids, ",") {
		if p = strings.TrimSpace(p); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 {
				return fail("-server-pid %q: not a pid", p)
			}
			c.ServerPIDs = append(c.ServerPIDs, n)
		}
	}
	instances := c.Instances
	if len(c.URLs) > 0 {
		instances = len(c.URLs)
	}
	switch {
	case c.Instances < 1 || c.Instances > 16:
		return fail("-instances must be 1…16")
	case c.Spawn != "" && c.Instances > 1 && !strings.HasPrefix(c.DB, "postgres"):
		return fail("-instances %d needs -db postgres://… (one database for all)", c.Instances)
	case c.Spawn != "" && c.Instances > 1 && !strings.HasPrefix(c.Bus, "redis://") && !strings.HasPrefix(c.Bus, "nats://"):
		return fail("-instances %d needs -bus redis://… or nats://… (one bus for all)", c.Instances)
	case len(c.ServerPIDs) > 0 && len(c.ServerPIDs) != len(c.URLs):
		return fail("give one -server-pid per -url")
	case c.Shoppers < 1 || c.Shoppers > 20000*instances:
		return fail("-shoppers must be 1…%d (20000 per instance: each process may hold only so many sockets)", 20000*instances)
	case c.Baseline && c.Shoppers > 20000 && (contains(c.Scenarios, "connect") || contains(c.Scenarios, "broadcast") || contains(c.Scenarios, "mixed")):
		return fail("the baseline is one process and holds at most 20000 shoppers: give -baseline=false")
	case c.Conversations < 1 || c.Conversations > 2000:
		return fail("-conversations must be 1…2000")
	case c.Burst < 1 || c.Burst > 2000:
		return fail("-burst must be 1…2000")
	case c.Rounds < 1 || c.Rounds > 500:
		return fail("-rounds must be 1…500")
	case c.ChatDuration <= 0 || c.ChatDuration > 5*time.Minute:
		return fail("-chat-duration must be more than 0 and at most 5m")
	case c.MixedConversations < 1 || c.MixedConversations > 2000:
		return fail("-mixed-conversations must be 1…2000")
	case c.AnnounceEvery < 10*time.Millisecond:
		return fail("-announce-every must be at least 10ms")
	case c.Agents < 1 || c.Agents > 200:
		return fail("-agents must be 1…200")
	case len(c.URLs) == 0 && c.Spawn == "":
		return fail("give -url or -spawn")
	}
	for _, u := range c.URLs {
		if err := loopbackOnly(u); err != nil {
			return fail("%v", err)
		}
	}
	if c.Workers <= 0 {
		c.Workers = (c.Shoppers + 4999) / 5000
	}
	return c, nil
}

// maxChats is the cap each bench agent gets: enough for the largest
// scenario's conversations spread over the agents.
func (c Config) maxChats() int {
	return max(c.Conversations, c.Burst, c.MixedConversations)/c.Agents + 2
}

// loopbackOnly refuses any target that is not on this machine.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url %q: must be an http URL", raw)
	}
	ip := net.ParseIP(u.Hostname())
	if u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("-url %q: kefu-bench only drives loopback addresses", raw)
}

// Report is the JSON output.
type Report struct {
	Machine   Machine  `json:"machine"`
	Instances int      `json:"instances"`
	Shoppers  int      `json:"shoppers"`
	Results   []Result `json:"results"`
	StartedAt string   `json:"started_at"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go"`
	FileLimit uint64 `json:"open_file_limit"`
}

// Result is one scenario's figures for Kefu and, where there is one, the
// baseline. Ratio is Kefu / baseline (lower is better for times, CPU and
// memory; higher for rates).
type Result struct {
	Scenario string             `json:"scenario"`
	Metric   string             `json:"metric"`
	Unit     string             `json:"unit"`
	Kefu     float64            `json:"kefu"`
	Baseline *float64           `json:"baseline,omitempty"`
	Ratio    *float64           `json:"ratio,omitempty"`
	Extra    map[string]float64 `json:"extra,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), FileLimit: raiseFileLimit()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if mm := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(data); mm != nil {
			m.CPUModel = string(mm[1])
		}
	}
	return m
}

// target is one server under test: Kefu (one or several instances) or
// the baseline.
type target struct {
	name  string   // kefu or baseline
	base  string   // http://127.0.0.1:PORT of the first instance: the API
	bases []string // every instance; shoppers and agents are spread over them
	pids  []int    // the instances' processes, for memory and CPU
	token string   // kefu: admin access token
	stop  func()
	// visitorPath and agentPath are the sockets' paths on every instance.
	visitorPath, agentPath string
	// agentTokens are the bench's agents on Kefu, made once per run.
	agentTokens []string
	next        atomic.Uint64 // the instance of the next shopper
}

func wsBase(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

// visitorURL is the shopper socket of instance i (modulo their number).
func (t *target) visitorURL(i int) string {
	return wsBase(t.bases[i%len(t.bases)]) + t.visitorPath
}

// agentURL is the agent socket of instance i (modulo their number).
func (t *target) agentURL(i int) string { return wsBase(t.bases[i%len(t.bases)]) + t.agentPath }

// nextInstance returns the instance the next shopper goes to, in turn.
func (t *target) nextInstance() int { return int(t.next.Add(1)-1) % len(t.bases) }

// shopperURLs are every instance's shopper socket and the origin the
// shoppers' pages have, for the workers: the first instance's, which is
// every instance's public URL (KEFU_PUBLIC_URL must be equal on all, as
// behind a load balancer) and so an allowed origin everywhere.
func (t *target) shopperURLs() (urls, origins []string) {
	for i := range t.bases {
		urls, origins = append(urls, t.visitorURL(i)), append(origins, t.bases[0])
	}
	return urls, origins
}

// measured reports whether the processes are known, for memory and CPU.
func (t *target) measured() bool { return len(t.pids) > 0 }

// rss is the resident memory of every instance, summed.
func (t *target) rss() (int64, error) {
	var sum int64
	for _, pid := range t.pids {
		kib, err := rssKiB(pid)
		if err != nil {
			return 0, err
		}
		sum += kib
	}
	return sum, nil
}

// cpu is the CPU time of every instance, summed.
func (t *target) cpu() (float64, error) {
	var sum float64
	for _, pid := range t.pids {
		s, err := cpuSeconds(pid)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// run does the whole run.
func run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep := &Report{Machine: machine(), Shoppers: cfg.Shoppers, StartedAt: time.Now().UTC().Format(time.RFC3339)}
	kefu, err := startKefu(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer kefu.stop()
	rep.Instances = len(kefu.bases)
	var base *target
	if cfg.Baseline {
		if base, err = startBaseline(ctx, cfg); err != nil {
			return nil, err
		}
		defer base.stop()
	}
	for _, sc := range cfg.Scenarios {
		fmt.Fprintf(log, "kefu-bench: %s…\n", sc)
		var res []Result
		switch strings.TrimSpace(sc) {
		case "connect", "broadcast":
			if sc == "connect" && contains(cfg.Scenarios, "broadcast") {
				continue // broadcast connects first and reports connect too
			}
			res, err = fanoutScenario(ctx, cfg, kefu, base, sc == "broadcast" || contains(cfg.Scenarios, "broadcast"), log)
		case "chat":
			res, err = chatScenario(ctx, cfg, kefu, base, log)
		case "dispatch":
			res, err = dispatchScenario(ctx, cfg, kefu, log)
		case "mixed":
			res, err = mixedScenario(ctx, cfg, kefu, base, log)
		default:
			err = fmt.Errorf("unknown scenario %q", sc)
		}
		if err != nil {
			return rep, fmt.Errorf("%s: %w", sc, err)
		}
		rep.Results = append(rep.Results, res...)
	}
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// startKefu uses the running Kefu at cfg.URLs, or spawns cfg.Instances on
// fresh data folders with the per-IP and per-socket limits lifted for
// loopback.
func startKefu(ctx context.Context, cfg Config, log io.Writer) (*target, error) {
	t := &target{name: "kefu", bases: cfg.URLs, pids: cfg.ServerPIDs, stop: func() {},
		visitorPath: "/ws/visitor", agentPath: "/ws/agent"}
	password := cfg.AdminPassword
	if cfg.Spawn != "" {
		var err error
		if password, err = spawnKefu(ctx, cfg, t, log); err != nil {
			t.stop()
			return nil, err
		}
		if cfg.AdminPassword != "" {
			password = cfg.AdminPassword
		}
	}
	for _, b := range t.bases {
		if err := waitHealthy(ctx, b); err != nil {
			t.stop()
			return nil, err
		}
	}
	t.base = t.bases[0]
	tok, err := login(ctx, t.base, cfg.AdminEmail, password)
	if err != nil {
		t.stop()
		return nil, fmt.Errorf("admin login (give -admin-email/-admin-password): %w", err)
	}
	t.token = tok
	return t, nil
}

// spawnKefu starts cfg.Instances kefu processes, each on a data folder and
// port of its own, on cfg.DB and cfg.Bus with one JWT key and bus prefix:
// the first alone (it migrates and makes the first admin, whose password it
// returns), then the others. It sets t's bases, pids and stop.
func spawnKefu(ctx context.Context, cfg Config, t *target, log io.Writer) (string, error) {
	key, prefix := make([]byte, 24), make([]byte, 4)
	_, _ = rand.Read(key)
	_, _ = rand.Read(prefix)
	shared := []string{"KEFU_LOG_LEVEL=warn", "KEFU_DB=" + cfg.DB, "KEFU_BUS=" + cfg.Bus,
		"KEFU_BUS_PREFIX=bench" + hex.EncodeToString(prefix), "KEFU_JWT_KEY=" + hex.EncodeToString(key),
		"KEFU_RATE_LIMIT_EXEMPT=127.0.0.0/8", "KEFU_FRAMES_PER_SECOND=100000", "KEFU_FRAME_BURST=100000",
		"KEFU_CONNECTIONS_PER_MINUTE=1000000", "KEFU_CONVERSATIONS_PER_HOUR=1000000"}
	var stops []func()
	t.stop = func() {
		var wg sync.WaitGroup
		for _, stop := range stops {
			wg.Add(1)
			go func() { defer wg.Done(); stop() }()
		}
		wg.Wait()
	}
	start := func() (dir string, err error) {
		port, err := freePort()
		if err != nil {
			return "", err
		}
		if dir, err = os.MkdirTemp("", "kefu-bench-"); err != nil {
			return "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(cfg.Spawn, "serve")
		cmd.Env = append(append(os.Environ(), shared...), "KEFU_ADDR="+addr, "KEFU_DATA="+dir)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return "", err
		}
		stops = append(stops, func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			_ = os.RemoveAll(dir)
		})
		base := "http://" + addr
		t.bases, t.pids = append(t.bases, base), append(t.pids, cmd.Process.Pid)
		return dir, waitHealthy(ctx, base)
	}
	first, err := start()
	if err != nil {
		return "", err
	}
	password := ""
	if data, err := os.ReadFile(filepath.Join(first, "admin-password.txt")); err == nil {
		if m := regexp.MustCompile(`password: (\S+)`).FindSubmatch(data); m != nil {
			password = string(m[1])
		}
	}
	// The first one's URL is every instance's public URL, as a load
	// balancer's would be: tokens name it as their issuer.
	shared = append(shared, "KEFU_PUBLIC_URL="+t.bases[0])
	for i := 1; i < cfg.Instances; i++ {
		if _, err := start(); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(log, "kefu-bench: spawned %d kefu instance(s): %s\n", len(t.bases), strings.Join(t.bases, " "))
	return password, nil
}

// startBaseline runs the baseline in a child process of its own, so that
// its memory and CPU can be measured apart from the bench's.
func startBaseline(ctx context.Context, cfg Config) (*target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var addr string
	var stop func()
	pid := 0
	if cfg.Procs {
		cmd := exec.Command(exe, "baseline-serve")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		line := make([]byte, 64)
		n, err := out.Read(line)
		if err != nil {
			_ = cmd.Process.Kill()
			return nil, err
		}
		addr, pid = strings.TrimSpace(string(line[:n])), cmd.Process.Pid
		stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		app := newBaselineApp()
		go func() { _ = app.Listener(ln) }()
		addr, pid = ln.Addr().String(), os.Getpid()
		stop = func() { _ = app.ShutdownWithTimeout(5 * time.Second) }
	}
	t := &target{name: "baseline", base: "http://" + addr, bases: []string{"http://" + addr}, pids: []int{pid}, stop: stop,
		visitorPath: "/ws", agentPath: "/ws?role=agent"}
	return t, waitHealthy(ctx, t.base)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHealthy waits until base answers TCP connections.
func waitHealthy(ctx context.Context, base string) error {
	u, _ := url.Parse(base)
	for i := 0; i < 300; i++ {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New(base + " does not answer")
}

// percentile returns the p-th percentile (0–100) of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}

func result(scenario, metric, unit string, k float64, b *float64) Result {
	r := Result{Scenario: scenario, Metric: metric, Unit: unit, Kefu: k}
	if b != nil {
		bv := *b
		r.Baseline = &bv
		if bv != 0 && unit != "" { // counts have no meaningful ratio
			ratio := k / bv
			r.Ratio = &ratio
		}
	}
	return r
}

func printTable(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s, open-file limit %d; %d shoppers over %d Kefu instance(s)\n\n",
		rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.GoVersion, rep.Machine.FileLimit, rep.Shoppers, rep.Instances)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tmetric\tkefu\tbaseline\tkefu/baseline\t")
	for _, r := range rep.Results {
		b, ratio := "—", "—"
		if r.Baseline != nil {
			b = format(*r.Baseline, r.Unit)
		}
		if r.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Scenario, r.Metric, format(r.Kefu, r.Unit), b, ratio)
	}
	_ = tw.Flush()
}

func format(v float64, unit string) string {
	switch unit {
	case "ms", "µs":
		return fmt.Sprintf("%.2f %s", v, unit)
	case "KiB":
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

func sortedMS(ns []int64) []float64 {
	out := make([]float64, len(ns))
	for i, v := range ns {
		out[i] = float64(v) / 1e6
	}
	sort.Float64s(out)
	return out
}
