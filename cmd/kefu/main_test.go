package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/internal/apptest"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// kefu runs the command in-process, as a shell would, with env applied.
func kefu(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestHelpListsEverySettingWithDefaults(t *testing.T) {
	_, stderr, code := kefu(t, nil, "", "--help")
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, want := range []string{"-addr", "KEFU_ADDR", "127.0.0.1:8080", "-data", "KEFU_DATA", "./data", "-public-url", "-db", "-bus", "-allowed-origins", "-grace-period", "1m0s", "agent add"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func TestBadSettingsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"--addr", "nonsense"}, {"--public-url", "ftp://x"}, {"--bus", "kafka://x"}, {"--access-ttl", "1h"}, {"--grace-period", "soon"}, {"--no-such-flag"}} {
		if _, stderr, code := kefu(t, nil, "", args...); code == 0 || stderr == "" {
			t.Errorf("kefu %v exited %d with %q; want an error", args, code, stderr)
		}
	}
}

func TestAgentCommands(t *testing.T) {
	data := t.TempDir()
	env := map[string]string{"KEFU_DATA": data}

	out, stderr, code := kefu(t, env, "a-password-from-stdin\n", "agent", "add", "--email", "Ann@Shop.Test", "--name", "Ann", "--max-chats", "3")
	if code != 0 || !strings.Contains(out, "added agent ann@shop.test") || strings.Contains(out, "password") {
		t.Fatalf("agent add: exit %d, out %q, err %q", code, out, stderr)
	}
	out, _, code = kefu(t, env, "", "agent", "add", "--email", "boss@shop.test", "--name", "Boss", "--role", "admin")
	if code != 0 || !strings.Contains(out, "password: ") {
		t.Fatalf("agent add with a generated password: exit %d, out %q", code, out)
	}
	if _, stderr, code := kefu(t, env, "yet-another-password\n", "agent", "add", "--email", "ann@shop.test", "--name", "Again"); code == 0 || !strings.Contains(stderr, "conflict") {
		t.Errorf("duplicate agent add: exit %d, %q", code, stderr)
	}
	if _, _, code := kefu(t, env, "short\n", "agent", "add", "--email", "s@shop.test", "--name", "S"); code == 0 {
		t.Error("agent add with a 5-byte password succeeded")
	}
	if _, _, code := kefu(t, env, "", "agent", "add", "--name", "No Mail"); code == 0 {
		t.Error("agent add without --email succeeded")
	}

	out, _, code = kefu(t, env, "", "agent", "list")
	if code != 0 || !strings.Contains(out, "ann@shop.test") || !strings.Contains(out, "boss@shop.test") || !strings.Contains(out, "admin") {
		t.Fatalf("agent list: exit %d, %q", code, out)
	}

	// The CLI works while a server runs on the same data folder, and its
	// changes reach the server's open sockets.
	srv := apptest.Start(t, apptest.Options{Data: data})
	token := loginAs(t, srv.URL, "ann@shop.test", "a-password-from-stdin")
	sock := dialAgent(t, srv, token)

	if out, stderr, code := kefu(t, env, "another-long-password\n", "agent", "set-password", "--email", "ann@shop.test"); code != 0 {
		t.Fatalf("set-password: exit %d, %q %q", code, out, stderr)
	}
	expectClose(t, sock, wire.CloseRevoked)
	token = loginAs(t, srv.URL, "ann@shop.test", "another-long-password")
	sock = dialAgent(t, srv, token)

	start := time.Now()
	if out, _, code := kefu(t, env, "", "agent", "disable", "--email", "ann@shop.test"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: exit %d, %q", code, out)
	}
	expectClose(t, sock, wire.CloseRevoked)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("disable reached the open socket after %s, want within 10s", d)
	}
	out, _, _ = kefu(t, env, "", "agent", "list")
	if !strings.Contains(out, "disabled") {
		t.Errorf("agent list after disable: %q", out)
	}
}

func loginAs(t *testing.T, base, email, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	resp, err := http.Post(base+"/api/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("login %s: HTTP %d", email, resp.StatusCode)
	}
	return out.AccessToken
}

func dialAgent(t *testing.T, srv *apptest.Server, token string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Origin": {srv.URL}, "Sec-WebSocket-Protocol": {"kefu.v1, bearer." + token}}
	c, _, err := websocket.DefaultDialer.Dial(srv.WSURL+"/ws/agent", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectClose reads until the server closes the socket, and checks the code.
func expectClose(t *testing.T, c *websocket.Conn, code int) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != code {
				t.Fatalf("socket ended with %v, want close %d", err, code)
			}
			return
		}
	}
}

func TestFirstStartCreatesAdminWithPrivatePasswordFile(t *testing.T) {
	data := t.TempDir()
	var logs bytes.Buffer
	cfg := testConfig(t, data)
	a, err := app.New(context.Background(), cfg, newLogger(cfg, &logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	path := filepath.Join(data, app.AdminPasswordFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", st.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	var password string
	for _, line := range strings.Split(string(text), "\n") {
		if p, ok := strings.CutPrefix(line, "password: "); ok {
			password = p
		}
	}
	if len(password) < 16 {
		t.Fatalf("no generated password in %q", text)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the log contains the admin password")
	}
	if !strings.Contains(logs.String(), path) {
		t.Errorf("the log does not say where the password is: %q", logs.String())
	}
	admins, _ := a.Store.CountAdmins(context.Background())
	if admins != 1 {
		t.Errorf("%d admins, want 1", admins)
	}
	a.Close()
	// A second start does not make another admin or a new password.
	b, err := app.New(context.Background(), cfg, newLogger(cfg, &logs), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	again, _ := os.ReadFile(path)
	if !bytes.Equal(again, text) {
		t.Error("restart rewrote the admin password file")
	}
	if all, _ := b.Store.Agents(context.Background()); len(all) != 1 || all[0].Role != models.RoleAdmin {
		t.Errorf("agents after restart: %d", len(all))
	}
}

// TestSIGTERMClosesSocketsAndExitsZero builds and runs the real binary.
func TestSIGTERMClosesSocketsAndExitsZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "kefu")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "KEFU_ADDR="+addr, "KEFU_DATA="+t.TempDir())
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kefu did not answer /healthz: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws/visitor", http.Header{"Origin": {base}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteJSON(wire.ClientFrame{Type: wire.TypeHello}); err != nil {
		t.Fatal(err)
	}
	var welcome wire.ServerFrame
	if err := c.ReadJSON(&welcome); err != nil || welcome.Type != wire.TypeWelcome {
		t.Fatalf("welcome: %v %+v", err, welcome)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectClose(t, c, websocket.CloseGoingAway)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kefu exited with %v after SIGTERM; log:\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kefu did not exit within 20s of SIGTERM")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting connections after exit")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
