package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that makes and drops test schemas

	"github.com/kefu-chat/kefu/client"
	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models/wire"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// kefuBinary builds the real binary once per test run.
func kefuBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "kefu-cluster-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "kefu")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/kefu")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/kefu: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func freshSchema(t testing.TB) string {
	t.Helper()
	return testenv.PostgresSchema(t, "kefu_cluster_")
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer is a process's output, written by exec's copying goroutine
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// instance is one kefu process of the cluster.
type instance struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

func (k *instance) URL() string { return "http://" + k.addr }

func (k *instance) dead() bool {
	select {
	case <-k.done:
		return true
	default:
		return false
	}
}

// startInstance starts `kefu serve` with env plus its own data folder and
// address, waits for /readyz, and kills it when t ends.
func startInstance(t testing.TB, name string, env []string) *instance {
	t.Helper()
	k := &instance{name: name, addr: freePort(t), log: &lockedBuffer{}, done: make(chan struct{})}
	k.cmd = exec.Command(kefuBinary(t), "serve")
	k.cmd.Env = append(append([]string(nil), env...), "KEFU_DATA="+t.TempDir(), "KEFU_ADDR="+k.addr)
	k.cmd.Stdout, k.cmd.Stderr = k.log, k.log
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = k.cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		if !k.dead() {
			_ = k.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-k.done:
			case <-time.After(15 * time.Second):
				_ = k.cmd.Process.Kill()
				<-k.done
			}
		}
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, k.log.String())
		}
	})
	waitFor(t, 60*time.Second, name+" to answer /readyz", func() bool {
		if k.dead() {
			t.Fatalf("%s exited: %s", name, k.log.String())
		}
		resp, err := http.Get(k.URL() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return k
}

// kill ends the instance with SIGKILL: no clean shutdown, no presence rows
// deleted, sockets cut.
func (k *instance) kill(t testing.TB) {
	t.Helper()
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", k.name, err)
	}
	select {
	case <-k.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not die", k.name)
	}
}

// failoverDialer dials the preferred instance, and the others in turn when
// it does not answer: what a load balancer does for a client whose instance
// died. The URL the client was given only picks the path; the socket goes
// to whichever instance answers.
func failoverDialer(instances []*instance, preferred int) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			var last error
			for i := range instances {
				k := instances[(preferred+i)%len(instances)]
				c, err := d.DialContext(ctx, network, k.addr)
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
	}
}

// pinnedDialer only ever dials one instance: a client that cannot fail over.
func pinnedDialer(k *instance) *websocket.Dialer {
	return &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, k.addr)
		},
	}
}

// recorder keeps the messages a client delivers.
type recorder struct {
	mu   sync.Mutex
	msgs []wire.MessageView
	done chan struct{}
}

func record(c *client.Client) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for ev := range c.Events() {
			if ev.Kind == client.EventMessage {
				r.mu.Lock()
				r.msgs = append(r.msgs, ev.Message)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// of returns the messages of one conversation, in delivery order.
func (r *recorder) of(conv string) []wire.MessageView {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []wire.MessageView
	for _, m := range r.msgs {
		if m.ConversationID == conv {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes (a failure deadline only).
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
