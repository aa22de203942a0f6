// Command kefu runs the Kefu live-chat helpdesk and manages its agents.
//
//	kefu [serve] [flags]                 run the server (the default)
//	kefu agent add --email E --name N    add an agent (password from stdin, or generated)
//	kefu agent list                      list agents
//	kefu agent disable --email E         disable an agent and end their sessions
//	kefu agent set-password --email E    set a password (from stdin, or generated)
//
// Every setting is a flag and a KEFU_* environment variable; `kefu --help`
// lists them. main only parses, wires (through internal/app) and runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/frontend"
	"github.com/kefu-chat/kefu/internal/app"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "serve" || args[0] == "agent") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "agent":
		err = agentCommand(args, stdin, stdout, stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "kefu:", err)
		return 1
	}
	return 0
}

func usage(fs *flag.FlagSet, out io.Writer, synopsis string) {
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: %s\n\nSettings (each also a KEFU_* environment variable; flags win):\n", synopsis)
		fs.PrintDefaults()
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs Kefu until SIGINT or SIGTERM, then closes every websocket with
// 1001, finishes what is in flight and returns nil (exit 0).
func serve(args []string, stderr io.Writer) error {
	cfg := config.Default()
	if err := cfg.ApplyEnv(os.Getenv); err != nil {
		return err
	}
	fs := cfg.FlagSet("kefu")
	usage(fs, stderr, "kefu [serve] [flags]\n       kefu agent add|list|disable|set-password [flags]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Finish()
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, log, frontend.Files)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = a.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ln) }()
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		_ = a.Close()
		return err
	}
	if err := a.Close(); err != nil {
		log.Warn("shutdown", "err", err)
	}
	<-served
	log.Info("stopped")
	return nil
}
