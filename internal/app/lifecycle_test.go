package app_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/app"
)

// TestCloseBeforeOrWhileServing: whichever of Serve and Close runs first,
// Serve returns promptly and the port is released.
func TestCloseBeforeOrWhileServing(t *testing.T) {
	for _, closeFirst := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := config.Default()
		cfg.Addr, cfg.Data = ln.Addr().String(), t.TempDir()
		cfg.Finish()
		a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		if closeFirst {
			a.Close()
			go func() { served <- a.Serve(ln) }()
		} else {
			go func() { served <- a.Serve(ln) }()
			a.Close()
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("closeFirst=%v: Serve returned %v, want nil", closeFirst, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("closeFirst=%v: Serve still running 15s after Close", closeFirst)
		}
		again, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			t.Errorf("closeFirst=%v: port not released: %v", closeFirst, err)
		} else {
			again.Close()
		}
	}
}

// TestCloseWithAnIdleNewConnection: a browser's preconnected socket that
// never sends a request must not make Close fail or hang.
func TestCloseWithAnIdleNewConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Addr, cfg.Data = ln.Addr().String(), t.TempDir()
	cfg.Finish()
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	var c net.Conn
	for i := 0; i < 50; i++ {
		if c, err = net.Dial("tcp", cfg.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond) // let the server accept it
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Errorf("Close with a silent connection open: %v", err)
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("Close took %s", d)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
