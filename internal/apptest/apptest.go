// Package apptest starts a real Kefu for tests: the same wiring as the
// binary (internal/app), a SQLite file in a temporary folder, the memory bus
// unless told otherwise, the embedded front end, and a random port on
// 127.0.0.1. It is what integration, browser and delivery tests stand on.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/frontend"
	"github.com/kefu-chat/kefu/internal/app"
	"github.com/kefu-chat/kefu/models"
)

// Options tune the server. The zero value is a default Kefu.
type Options struct {
	// AllowedOrigins are shop origins allowed to open the widget socket.
	AllowedOrigins []string
	// Config, when set, may change any setting before start (Addr, Data
	// and PublicURL are already set; change them only knowingly).
	Config func(*config.Config)
	// Data is the data folder; default a fresh t.TempDir().
	Data string
	// Log, when true, writes the server's log to the test log.
	Log bool
	// LogTo, when set, receives the server's log at info level and above,
	// as an operator would see it by default.
	LogTo io.Writer
}

// The admin every test server starts with (so that the first-start admin,
// with its slow production-cost hash, is not made for every test).
const (
	AdminEmail    = "admin@kefu.local"
	AdminPassword = "apptest-admin-password"
)

// Server is a running Kefu.
type Server struct {
	URL    string // http://127.0.0.1:PORT
	WSURL  string // ws://127.0.0.1:PORT
	Addr   string
	Config config.Config
	// Store is the running instance's store, for checking what was
	// persisted. It changes on Restart.
	Store models.Store
	App   *app.App

	mu    sync.Mutex
	done  chan error
	logTo io.Writer
}

// Start starts a Kefu and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg := config.Default()
	cfg.Addr = ln.Addr().String()
	cfg.Data = o.Data
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	cfg.AllowedOrigins = o.AllowedOrigins
	cfg.RevalidateEvery = 500 * time.Millisecond
	if o.Config != nil {
		o.Config(&cfg)
	}
	cfg.Finish()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	s := &Server{URL: "http://" + cfg.Addr, WSURL: "ws://" + cfg.Addr, Addr: cfg.Addr, Config: cfg}
	seedAdmin(t, cfg)
	s.logTo = o.LogTo
	s.start(t, ln, o.Log)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

func (s *Server) start(t testing.TB, ln net.Listener, logToTest bool) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if s.logTo != nil {
		log = slog.New(slog.NewTextHandler(s.logTo, &slog.HandlerOptions{Level: slog.LevelInfo}))
	} else if logToTest || os.Getenv("KEFU_TEST_LOG") == "1" {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := app.New(context.Background(), s.Config, log, frontend.Files)
	if err != nil {
		ln.Close()
		t.Fatalf("starting kefu: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	s.mu.Lock()
	s.App, s.Store, s.done = a, a.Store, done
	s.mu.Unlock()
}

// Stop shuts the server down as SIGTERM would; safe to call twice.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	a, done := s.App, s.done
	s.App, s.done = nil, nil
	s.mu.Unlock()
	if a == nil {
		return
	}
	if err := a.Close(); err != nil {
		t.Errorf("closing kefu: %v", err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Errorf("kefu did not stop serving within 15s")
	}
}

// Restart stops the server and starts it again on the same address and
// data folder, as an operator's restart would.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listening again on %s: %v", s.Addr, err)
	}
	s.start(t, ln, false)
}

// CreateAgent stores an agent with the given password.
func (s *Server) CreateAgent(t testing.TB, email, name string, role models.Role, password string) *models.Agent {
	t.Helper()
	a := &models.Agent{Email: email, Name: name, Role: role, PasswordHash: FastHash(t, password)}
	if err := s.Store.CreateAgent(context.Background(), a); err != nil {
		t.Fatalf("creating agent %s: %v", email, err)
	}
	return a
}

// FastHash is a bcrypt hash at the lowest cost: it checks like any other,
// and keeps tests that log in many times from spending minutes under -race.
// Production hashes (auth.HashPassword) use cost 12.
func FastHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("hashing password: %v", err)
	}
	return string(h)
}

// seedAdmin stores the first admin, unless the data folder has one.
func seedAdmin(t testing.TB, cfg config.Config) {
	t.Helper()
	ctx := context.Background()
	store, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	defer store.Close()
	if n, err := store.CountAdmins(ctx); err != nil || n > 0 {
		return
	}
	a := &models.Agent{Email: AdminEmail, Name: "Admin", Role: models.RoleAdmin, PasswordHash: FastHash(t, AdminPassword)}
	if err := store.CreateAgent(ctx, a); err != nil {
		t.Fatalf("creating admin: %v", err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
