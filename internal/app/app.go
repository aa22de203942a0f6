// Package app wires Kefu's concrete parts together: it opens the store and
// the bus a Config names, builds the hub, the dispatcher, the chat service
// and the HTTP server, and runs and stops them in the right order. The
// binary (cmd/kefu), the integration and browser tests (internal/apptest)
// and the load tool all start Kefu through it, so what is tested is what
// ships.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/handlers"
	"github.com/kefu-chat/kefu/internal/metrics"
	"github.com/kefu-chat/kefu/internal/ratelimit/redislimit"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/blobfs"
	"github.com/kefu-chat/kefu/models/sqlstore"
	"github.com/kefu-chat/kefu/realtime"
	"github.com/kefu-chat/kefu/realtime/natsbus"
	"github.com/kefu-chat/kefu/realtime/redisbus"
	"github.com/kefu-chat/kefu/routing"
)

// App is one running Kefu instance.
type App struct {
	Config     config.Config
	Store      models.Store
	Bus        models.Bus
	Hub        *realtime.Hub
	Dispatcher *routing.Dispatcher
	Chat       *chat.Service
	Server     *handlers.Server
	// Presence shares agents' presence with other instances (cluster.go);
	// nil with the in-memory bus.
	Presence *routing.SharedPresence
	// Visitors shares shoppers' presence with other instances, for the
	// away mail (cluster.go); nil with the in-memory bus.
	Visitors *chat.VisitorTracker

	// Announcer sends announcements; Metrics collects /metrics (observe.go).
	Announcer  *chat.Announcer
	Metrics    *metrics.Metrics
	metricsLn  net.Listener
	metricsSrv *http.Server
	// limits holds the shared rate-limit counters' Redis connection (nil
	// when they are in memory; limits.go).
	limits *redislimit.Store

	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// serveMu orders Serve against Close: a Close that comes first makes
	// Serve return at once, and a Close that comes later closes the
	// listener Serve was given, whether or not Fiber has started on it.
	serveMu   sync.Mutex
	closing   bool
	listener  net.Listener
	closeOnce sync.Once
	closeErr  error
}

// BlobFolder is the folder, in the data folder, where attached files are
// kept.
const BlobFolder = "blobs"

// setAttachments turns on attachments, kept where cfg.Blobs says (the
// data folder, or the database every instance reaches), with links signed
// by a key derived from key.
func setAttachments(c *chat.Service, cfg config.Config, store *sqlstore.Store, key []byte) error {
	var blobs models.BlobStore = store.Blobs()
	if cfg.Blobs != config.BlobsDB {
		folder, err := blobfs.Open(filepath.Join(cfg.Data, BlobFolder))
		if err != nil {
			return err
		}
		blobs = folder
	}
	signer, err := auth.NewSigner(key, chat.SignerPurpose)
	if err != nil {
		return err
	}
	c.SetAttachments(chat.AttachmentOptions{Blobs: blobs, Signer: signer, BaseURL: cfg.PublicURL,
		MaxBytes: int64(cfg.MaxAttachmentBytes), Types: cfg.AttachmentTypes, URLTTL: cfg.AttachmentLinkTTL})
	return nil
}

// AdminPasswordFile is where the first admin's credentials are written, in
// the data folder, readable by the owner only.
const AdminPasswordFile = "admin-password.txt"

// FirstAdminEmail is the e-mail of the admin made on first start.
const FirstAdminEmail = "admin@kefu.local"

// OpenStore opens the database cfg names: PostgreSQL for a postgres:// URL,
// else SQLite (in the data folder unless cfg.DB names a file).
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*sqlstore.Store, error) {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("creating data folder: %w", err)
	}
	dsn := cfg.DB
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(cfg.Data, "kefu.db")
	}
	return sqlstore.Open(ctx, dsn, log)
}

// OpenBus opens the bus cfg names.
func OpenBus(ctx context.Context, cfg config.Config) (models.Bus, error) {
	switch {
	case cfg.Bus == "" || cfg.Bus == "memory":
		return realtime.NewMemoryBus(), nil
	case strings.HasPrefix(cfg.Bus, "redis://"):
		return redisbus.Open(ctx, cfg.Bus, busPrefix(cfg)+":")
	case strings.HasPrefix(cfg.Bus, "nats://"):
		return natsbus.Open(ctx, cfg.Bus, busPrefix(cfg)+".")
	}
	return nil, fmt.Errorf("bus %q: must be memory, redis://… or nats://…", cfg.Bus)
}

// New opens everything cfg names and builds the instance; static is the
// front end to serve (nil for none). Call Serve, then Close.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, static fs.FS) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &App{Config: cfg, log: log}
	store, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.Store = store
	fail := func(err error) (*App, error) {
		_ = a.Close()
		return nil, err
	}
	if err := EnsureAdmin(ctx, store, cfg.Data, log); err != nil {
		return fail(err)
	}
	if a.Bus, err = OpenBus(ctx, cfg); err != nil {
		return fail(err)
	}
	a.Metrics = metrics.New(metrics.Sources{
		Connections:       func() (int, int) { return a.Hub.Counts() },
		AnnouncementsSent: func() int64 { return a.Announcer.SentCount() },
	})
	a.Bus = a.Metrics.Bus(a.Bus)
	key := []byte(cfg.JWTKey)
	if len(key) == 0 {
		if key, err = auth.LoadOrCreateKey(cfg.Data); err != nil {
			return fail(err)
		}
	}
	issuer, err := auth.NewIssuer(key, cfg.PublicURL, cfg.AccessTTL, nil)
	if err != nil {
		return fail(err)
	}
	a.Hub = realtime.NewHub(realtime.Options{SendQueue: cfg.SendQueue, WriteTimeout: cfg.WriteTimeout,
		PingInterval: cfg.PingInterval, Logger: log, OnDeliver: a.onDeliver, OnSlowClient: a.onSlowClient})
	a.Chat = chat.New(store, a.Bus, chat.Options{MaxMessageBytes: cfg.MaxMessageBytes, Logger: log})
	notifier := chat.NewRoutingNotifier(a.Chat)
	a.Dispatcher = routing.New(store, a.Metrics.Notifier(notifier), routing.Options{DefaultMaxChats: cfg.DefaultMaxChats,
		GracePeriod: cfg.GracePeriod, UnansweredAfter: cfg.UnansweredAfter, Logger: log})
	a.Chat.SetKicker(a.Dispatcher)
	if err := a.sharePresence(); err != nil {
		return fail(err)
	}
	a.Announcer = chat.NewAnnouncer(store, a.Bus, chat.AnnouncerOptions{Logger: log})
	if err := a.listenMetrics(); err != nil {
		return fail(err)
	}
	notifier.SetWaits(a.Dispatcher)
	if err := setAttachments(a.Chat, cfg, store, key); err != nil {
		return fail(err)
	}
	limits, err := a.openLimits(ctx)
	if err != nil {
		return fail(err)
	}
	a.Server, err = handlers.New(handlers.Deps{Config: cfg, Store: store, Bus: a.Bus, Chat: a.Chat,
		Dispatcher: a.Dispatcher, Hub: a.Hub, Issuer: issuer, Static: static, Logger: log,
		Announcer: a.Announcer, Metrics: a.metricsHandler(), Limits: limits, Visitors: a.Visitors})
	if err != nil {
		return fail(err)
	}
	return a, nil
}

// EnsureAdmin creates the first admin when there is none, with a random
// password written to AdminPasswordFile (mode 0600) in dataDir. The log
// names the file, never the password.
func EnsureAdmin(ctx context.Context, store models.Store, dataDir string, log *slog.Logger) error {
	n, err := store.CountAdmins(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := auth.GeneratePassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	existing, err := store.AgentByEmail(ctx, FirstAdminEmail)
	switch models.ErrorCode(err) {
	case "":
		if existing.Role == models.RoleAdmin && !existing.Disabled {
			log.Info("another instance created the first admin", "email", FirstAdminEmail)
			return nil
		}
		// An earlier first admin was disabled or demoted: bring it back.
		role, no := models.RoleAdmin, false
		_, err = store.UpdateAgent(ctx, existing.ID, models.AgentUpdate{Role: &role, Disabled: &no, PasswordHash: &hash, MustChangePassword: &no})
	case models.ENOTFOUND:
		err = store.CreateAgent(ctx, &models.Agent{Email: FirstAdminEmail, Name: "Admin", Role: models.RoleAdmin, PasswordHash: hash})
		if models.ErrorCode(err) == models.ECONFLICT {
			// Another instance starting on the same empty database made
			// the first admin a moment ago; its password file (or its
			// log) is the one that counts.
			log.Info("another instance created the first admin", "email", FirstAdminEmail)
			return nil
		}
	}
	if err != nil {
		return err
	}
	// Written only once the admin is stored, so that an instance that lost
	// the race never overwrites the winner's file in a shared data folder.
	// If writing fails, `kefu agent set-password` recovers the account.
	path := filepath.Join(dataDir, AdminPasswordFile)
	text := fmt.Sprintf("Kefu's first admin. Log in at /console/ and change this password.\nemail: %s\npassword: %s\n", FirstAdminEmail, password)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("writing first admin's password (reset it with kefu agent set-password): %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	log.Info("created the first admin; the password is in the file", "email", FirstAdminEmail, "file", path)
	return nil
}

// Serve runs the instance on ln until Close. It returns when the listener
// stops.
func (a *App) Serve(ln net.Listener) error {
	a.serveMu.Lock()
	if a.closing || a.cancel != nil {
		a.serveMu.Unlock()
		ln.Close()
		if a.closing {
			return nil
		}
		return errors.New("app: Serve called twice")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.listener = cancel, ln
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		if err := a.Hub.Run(ctx, a.Bus); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("hub stopped", "err", err)
		}
	}()
	go func() {
		defer a.wg.Done()
		if err := a.Dispatcher.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("dispatcher stopped", "err", err)
		}
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Chat.RunInactivity(ctx, a.Config.InactivityTimeout)
	}()
	a.startBackground(ctx)
	a.startPresence(ctx)
	a.serveMu.Unlock()
	a.log.Info("kefu is serving", "addr", ln.Addr().String(), "public_url", a.Config.PublicURL,
		"console", a.Config.PublicURL+"/console/")
	err := a.Server.App().Listener(ln)
	a.serveMu.Lock()
	closing := a.closing
	a.serveMu.Unlock()
	if closing {
		return nil // the listener was closed on purpose
	}
	return err
}

// httpDrainTime bounds how long Close waits for HTTP connections to finish.
// fasthttp waits for every connection that is not idle, including ones a
// browser opened ahead of time and never sent a request on; those have
// nothing to finish and would hold shutdown for the whole read timeout.
const httpDrainTime = 5 * time.Second

// shutdownHTTP stops accepting and waits for requests in flight. Running
// out of time is logged, not returned: whatever still holds a connection
// then has sent no complete request, so no write of ours is cut short.
func (a *App) shutdownHTTP() error {
	ctx, cancel := context.WithTimeout(context.Background(), httpDrainTime)
	defer cancel()
	err := a.Server.App().ShutdownWithContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown: HTTP connections without a request were still open; leaving them to the read timeout")
		return nil
	}
	return err
}

// Close stops the instance: the hub closes every websocket with 1001 (Fiber
// does not close hijacked connections itself), the server stops accepting
// and finishes its requests, then the dispatcher, the bus and the store
// close. It is safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		a.serveMu.Lock()
		a.closing = true
		ln, stop := a.listener, a.cancel
		a.serveMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var errs []error
		if a.Hub != nil {
			errs = append(errs, a.Hub.Shutdown(ctx))
		}
		if a.Server != nil {
			errs = append(errs, a.shutdownHTTP())
			a.Server.Close()
		}
		if ln != nil {
			_ = ln.Close() // in case Fiber had not started on it yet
		}
		errs = append(errs, a.closeMetrics(ctx))
		if stop != nil {
			stop()
		}
		if a.Dispatcher != nil {
			errs = append(errs, a.Dispatcher.Close())
		}
		a.wg.Wait()
		errs = append(errs, a.leavePresence())
		if a.Bus != nil {
			errs = append(errs, a.Bus.Close())
		}
		errs = append(errs, a.closeLimits())
		if a.Store != nil {
			errs = append(errs, a.Store.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
