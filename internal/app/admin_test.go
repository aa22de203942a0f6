package app_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
)

// TestConcurrentFirstStarts: instances starting together on one empty
// database (here: one data folder) make exactly one admin, all start, and
// the password file matches the stored admin.
func TestConcurrentFirstStarts(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Finish()
	ctx := context.Background()
	var stores []interface{ Close() error }
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		s, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = app.EnsureAdmin(ctx, s, cfg.Data, slog.New(slog.DiscardHandler))
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	s, _ := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	defer s.Close()
	for _, st := range stores {
		st.Close()
	}
	agents, _ := s.Agents(ctx)
	if len(agents) != 1 {
		t.Fatalf("%d agents, want exactly one admin", len(agents))
	}
	text, err := os.ReadFile(filepath.Join(cfg.Data, app.AdminPasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	_, pw, _ := strings.Cut(string(text), "password: ")
	if !auth.CheckPassword(agents[0].PasswordHash, strings.TrimSpace(pw)) {
		t.Error("the password file does not match the stored admin")
	}
}
