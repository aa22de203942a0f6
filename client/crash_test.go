package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/models"
)

// buildKefu builds the real binary into a temporary folder.
func buildKefu(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(t.TempDir(), "kefu")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kefu")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kefu: %v\n%s", err, out)
	}
	return bin
}

// kefuProcess is Kefu running as a separate process.
type kefuProcess struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	log  bytes.Buffer
	done chan struct{}
}

func (k *kefuProcess) start() {
	k.t.Helper()
	k.cmd = exec.Command(k.bin, "serve")
	k.cmd.Env = k.env
	k.log.Reset()
	k.cmd.Stdout, k.cmd.Stderr = &k.log, &k.log
	if err := k.cmd.Start(); err != nil {
		k.t.Fatalf("starting kefu: %v", err)
	}
	k.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(k.cmd, k.done)
	waitFor(k.t, 30*time.Second, "kefu to answer /healthz", func() bool {
		select {
		case <-k.done:
			k.t.Fatalf("kefu exited: %s", k.log.String())
		default:
		}
		resp, err := http.Get("http://" + k.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (k *kefuProcess) signal(sig syscall.Signal) {
	k.t.Helper()
	if err := k.cmd.Process.Signal(sig); err != nil {
		k.t.Fatalf("signalling kefu: %v", err)
	}
	select {
	case <-k.done:
	case <-time.After(20 * time.Second):
		k.t.Fatalf("kefu did not exit after %v", sig)
	}
}

// TestCrash kills Kefu with SIGKILL in the middle of a conversation and
// starts it again on the same data folder and port: every acknowledged
// message is stored and delivered once; the ones in flight are settled by
// the clients' retries, stored once.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the kefu binary")
	}
	const (
		shoppers = 3
		lines    = 20
	)
	bin := buildKefu(t)
	data := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := append(os.Environ(), "KEFU_DATA="+data, "KEFU_ADDR="+addr, "KEFU_GRACE_PERIOD=5m",
		"KEFU_DEFAULT_MAX_CHATS=20", "KEFU_LOG_LEVEL=warn", "KEFU_DB=", "KEFU_BUS=memory")

	add := exec.Command(bin, "agent", "add", "--email", "li@shop.test", "--name", "Li Na", "--role", "agent")
	add.Env = env
	add.Stdin = strings.NewReader(testPassword + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("kefu agent add: %v\n%s", err, out)
	}
	k := &kefuProcess{t: t, bin: bin, env: env, addr: addr}
	k.start()
	t.Cleanup(func() {
		if k.cmd.ProcessState == nil {
			_ = k.cmd.Process.Kill()
			<-k.done
		}
	})
	base := "http://" + addr
	opts := client.Options{MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	agent := MustDialAgent(t, base, base, "li@shop.test", client.AgentOptions{Options: opts})
	ar := record(agent)
	shops := make([]*client.Client, shoppers)
	srs := make([]*recorder, shoppers)
	for i := range shops {
		shops[i] = MustVisitor(t, base, client.VisitorOptions{Options: opts})
		srs[i] = record(shops[i])
	}

	// Open the conversations and wait for the agent to hold them all.
	convs := make([]string, shoppers)
	for i, s := range shops {
		convs[i] = send(t, s, "", fmt.Sprintf("s%d: hello", i)).ConversationID
	}
	waitFor(t, 20*time.Second, "the agent to get every opening line", func() bool { return len(ar.messages()) == shoppers })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type sent struct {
		body string
		ack  client.Ack
	}
	var (
		mu      sync.Mutex
		acked   []sent
		started = map[string]bool{}
	)
	ackedBeforeKill := make(chan int, 1)
	var wg sync.WaitGroup
	say := func(c *client.Client, conv, body string) {
		mu.Lock()
		started[body] = true
		mu.Unlock()
		ack, err := c.Send(ctx, conv, body)
		if err != nil {
			t.Errorf("send %q: %v", body, err)
			return
		}
		mu.Lock()
		acked = append(acked, sent{body, ack})
		delete(started, body)
		mu.Unlock()
	}
	for i := range shops {
		wg.Add(2)
		go func() { // the shopper
			defer wg.Done()
			for j := 0; j < lines; j++ {
				say(shops[i], convs[i], fmt.Sprintf("s%d: q%02d", i, j))
				time.Sleep(15 * time.Millisecond)
			}
		}()
		go func() { // the agent, answering in parallel
			defer wg.Done()
			for j := 0; j < lines; j++ {
				say(agent, convs[i], fmt.Sprintf("s%d: a%02d", i, j))
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	waitFor(t, 30*time.Second, "a third of the traffic to be acknowledged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2*shoppers*lines/3
	})
	k.signal(syscall.SIGKILL)
	mu.Lock()
	ackedBeforeKill <- len(acked)
	var inFlight []string
	for body := range started {
		inFlight = append(inFlight, body)
	}
	mu.Unlock()
	// Which of the messages in flight had the dead server stored?
	storedUnacked := storedBodies(t, data, convs, inFlight)
	k.start() // same data folder, same port
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	total := 2 * shoppers * lines
	waitFor(t, 30*time.Second, "every message to reach the other side", func() bool {
		if len(ar.messages()) < shoppers*(lines+1) {
			return false
		}
		for _, r := range srs {
			if len(bodies(r.messages(), models.SenderAgent)) < lines {
				return false
			}
		}
		return true
	})

	// What each side saw: the other's lines, in order, once.
	for i := range shops {
		var qs, as []string
		qs = append(qs, fmt.Sprintf("s%d: hello", i))
		for j := 0; j < lines; j++ {
			qs = append(qs, fmt.Sprintf("s%d: q%02d", i, j))
			as = append(as, fmt.Sprintf("s%d: a%02d", i, j))
		}
		sm := srs[i].messages()
		checkOrdered(t, fmt.Sprintf("shopper %d", i), sm)
		if got := bodies(sm, models.SenderAgent); !slices.Equal(got, as) {
			t.Errorf("shopper %d got %q, want %q", i, got, as)
		}
		var am []string
		for _, m := range ar.messages() {
			if m.ConversationID == convs[i] && m.SenderKind == models.SenderVisitor {
				am = append(am, m.Body)
			}
		}
		if !slices.Equal(am, qs) {
			t.Errorf("agent got from shopper %d %q, want %q", i, am, qs)
		}
	}
	checkOrdered(t, "agent", ar.messages())

	// What the database holds, read after a clean stop.
	for _, c := range append(shops, agent) {
		c.Close()
	}
	k.signal(syscall.SIGTERM)
	byBody := readMessages(t, data, convs)
	stored := 0
	for _, ms := range byBody {
		stored += len(ms)
	}
	if stored != total+shoppers {
		t.Errorf("stored %d messages, want %d", stored, total+shoppers)
	}
	for _, s := range acked {
		ms := byBody[s.body]
		if len(ms) != 1 {
			t.Errorf("%q stored %d times, want once", s.body, len(ms))
			continue
		}
		if ms[0].ID != s.ack.MessageID || ms[0].Seq != s.ack.Seq {
			t.Errorf("%q: acknowledged as %s seq %d, stored as %s seq %d", s.body, s.ack.MessageID, s.ack.Seq, ms[0].ID, ms[0].Seq)
		}
	}
	if len(acked) != total {
		t.Errorf("%d sends acknowledged, want %d", len(acked), total)
	}
	var st client.Stats
	for _, c := range append(shops, agent) {
		s := c.Stats()
		st.Connects += s.Connects
		st.Resent += s.Resent
		st.Duplicates += s.Duplicates
	}
	for _, body := range inFlight {
		if n := len(byBody[body]); n != 1 {
			t.Errorf("%q, in flight at the kill, stored %d times after the retry, want once", body, n)
		}
	}
	t.Logf("killed with %d of %d messages acknowledged and %d in flight (%d of them already stored, ack lost); %d connects, %d resent, %d duplicates dropped",
		<-ackedBeforeKill, total, len(inFlight), storedUnacked, st.Connects, st.Resent, st.Duplicates)
}

// readMessages opens the data folder's database and returns the messages
// of the conversations by body.
func readMessages(t *testing.T, data string, convs []string) map[string][]*models.Message {
	t.Helper()
	cfg := config.Default()
	cfg.Data = data
	cfg.Finish()
	store, err := app.OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	byBody := map[string][]*models.Message{}
	for _, conv := range convs {
		msgs, err := store.Messages(context.Background(), conv, 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			byBody[m.Body] = append(byBody[m.Body], m)
		}
	}
	return byBody
}

// storedBodies counts how many of bodies the database holds.
func storedBodies(t *testing.T, data string, convs, bodies []string) int {
	t.Helper()
	byBody := readMessages(t, data, convs)
	n := 0
	for _, b := range bodies {
		if len(byBody[b]) > 0 {
			n++
		}
	}
	return n
}
