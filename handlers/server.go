package handlers

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/chat"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/realtime"
	"github.com/kefu-chat/kefu/routing"
)

// Deps are the parts the handlers call. All are required except Static.
type Deps struct {
	Config     config.Config
	Store      models.Store
	Bus        models.Bus
	Chat       *chat.Service
	Dispatcher *routing.Dispatcher
	Hub        *realtime.Hub
	Issuer     *auth.Issuer
	// Static is the front end (widget, console, demo shop), served at /.
	Static fs.FS
	Logger *slog.Logger
	// Limits are the per-IP and per-account counters; nil means in-memory
	// ones with Config's rates (see limits.go).
	Limits *Limits
	// Announcer sends announcements; required.
	Announcer *chat.Announcer
	// Metrics serves /metrics (checking the metrics token itself); nil for
	// none. It is routed only when Config.MetricsToken is set.
	Metrics http.Handler
	// Visitors tells whether a shopper is connected (to this instance or,
	// when shared, to any) and is told of shoppers' sockets here; nil
	// means this instance is alone and its hub knows (routing.go).
	Visitors *chat.VisitorTracker
}

// Server holds the Fiber app and what its handlers need.
type Server struct {
	Deps
	app       *fiber.App
	log       *slog.Logger
	publicURL *url.URL
	// ownOrigin is Kefu's own origin, the only one the console and the agent
	// socket accept; shopOrigins adds the shops allowed to embed the widget.
	ownOrigin   string
	shopOrigins map[string]bool
	secure      bool
	// trustedProxies and rateExempt come from KEFU_TRUSTED_PROXIES and
	// KEFU_RATE_LIMIT_EXEMPT (limits.go); identitySecrets from
	// KEFU_IDENTITY_SECRET(_PREVIOUS), current first.
	trustedProxies, rateExempt []*net.IPNet
	identitySecrets            [][]byte

	visitorFrames map[string]visitorFrameHandler
	agentFrames   map[string]agentFrameHandler

	// hellos runs the work of shoppers' hellos (workpool.go).
	hellos *workPool
	// writeBuffers are the websocket write buffers, shared by every
	// socket's writes (see wsConfig).
	writeBuffers sync.Pool
}

// helloWorkers is how many shoppers' hellos run at once. A hello is a few
// store round trips, so this keeps PostgreSQL busy at thousands of
// connects per second; SQLite serializes the inserts anyway.
const helloWorkers = 32

// New builds the app with every route.
func New(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	pu, err := url.Parse(d.Config.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("public URL: %w", err)
	}
	s := &Server{Deps: d, log: d.Logger, publicURL: pu, ownOrigin: normalizeOrigin(d.Config.PublicURL),
		shopOrigins: map[string]bool{}, secure: pu.Scheme == "https", hellos: newWorkPool(helloWorkers)}
	s.shopOrigins[s.ownOrigin] = true
	s.initLimits()
	if s.Visitors == nil {
		if s.Visitors, err = chat.NewVisitorTracker(d.Hub, chat.VisitorTrackerOptions{}); err != nil {
			return nil, err
		}
	}
	for _, o := range d.Config.AllowedOrigins {
		s.shopOrigins[normalizeOrigin(o)] = true
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "kefu",
		ErrorHandler:          errorHandler(d.Logger),
		BodyLimit:             bodyLimit(d.Config), // uploads; limitBody holds other routes to MaxBodyBytes
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		// Kefu's only concern with the client IP is rate limiting, which
		// reads it through clientIP (issue #7 adds trusted proxies).
		EnableTrustedProxyCheck: false,
	})
	s.registerFrames()
	s.routes()
	return s, nil
}

// App returns the Fiber app, for Listen and Shutdown.
func (s *Server) App() *fiber.App { return s.app }

// Close stops the goroutines the server keeps for its handlers; call it
// after the app has shut down. Handlers still running afterwards do that
// work on their own goroutines. Safe to call more than once.
func (s *Server) Close() { s.hellos.close() }

func (s *Server) routes() {
	app := s.app
	app.Use(recover.New(recover.Config{EnableStackTrace: true, StackTraceHandler: func(c *fiber.Ctx, e any) {
		s.log.Error("panic in handler", "path", c.Path(), "panic", e, "stack", string(debug.Stack()))
	}}))
	app.Use(s.securityHeaders)
	app.Use(s.limitBody)

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	s.metricsRoute()

	api := app.Group("/api")
	api.Use(s.checkStateChangeOrigin)
	api.Post("/auth/login", s.login)
	api.Post("/auth/refresh", s.refresh)
	api.Post("/auth/logout", s.logout)

	s.publicRoutingRoutes(api)
	authed := api.Group("", s.requireAgent)
	authed.Get("/me", s.me)
	authed.Post("/me/password", s.changePassword)
	authed.Get("/conversations", s.listConversations)
	authed.Get("/conversations/:id", s.getConversation)
	authed.Get("/conversations/:id/messages", s.listMessages)
	authed.Post("/conversations/:id/resolve", s.resolveConversation)
	authed.Get("/queue", s.queue)

	admin := authed.Group("/agents", s.requireAdmin)
	admin.Get("", s.listAgents)
	admin.Post("", s.createAgent)
	admin.Patch("/:id", s.updateAgent)
	admin.Post("/:id/reset-password", s.resetPassword)
	anns := authed.Group("/announcements", s.requireAdmin)
	anns.Get("", s.listAnnouncements)
	anns.Post("", s.createAnnouncement)
	anns.Post("/:id/withdraw", s.withdrawAnnouncement)
	s.routingRoutes(authed)
	s.hoursRoutes(authed)
	api.Use(func(c *fiber.Ctx) error { return models.Errorf(models.ENOTFOUND, "no such API endpoint") })

	app.Get("/ws/visitor", s.visitorUpgrade, s.serveVisitor())
	app.Get("/ws/agent", s.agentUpgrade, s.serveAgent())

	s.attachmentRoutes()

	if s.Static != nil {
		// Fiber's non-strict routing matches "/console/" here too: redirect
		// only the bare path, or the redirect loops.
		app.Get("/console", func(c *fiber.Ctx) error {
			if c.Path() != "/console" {
				return c.Next()
			}
			return c.Redirect("/console/", http.StatusMovedPermanently)
		})
		app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(s.Static), Index: "index.html", MaxAge: 0}))
	}
}

// securityHeaders sets the headers every response carries. Pages of Kefu's
// own (console, demo shop) may only run Kefu's scripts and may not be
// framed; widget.js itself is a script other sites load.
func (s *Server) securityHeaders(c *fiber.Ctx) error {
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	p := c.Path()
	if !strings.HasPrefix(p, "/api/") && !strings.HasPrefix(p, "/ws/") && !strings.HasSuffix(p, ".js") && !strings.HasSuffix(p, ".css") {
		c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' "+s.wsOrigin()+"; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		c.Set("X-Frame-Options", "DENY")
	}
	return c.Next()
}

// wsOrigin is Kefu's own origin with the websocket scheme, which CSP's
// 'self' does not cover in every browser.
func (s *Server) wsOrigin() string {
	if s.secure {
		return "wss://" + s.publicURL.Host
	}
	return "ws://" + s.publicURL.Host
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	body := fiber.Map{"status": "ok", "database": "ok", "bus": "ok"}
	status := http.StatusOK
	if err := s.Store.Ping(ctx); err != nil {
		body["database"], body["status"], status = "unreachable", "unavailable", http.StatusServiceUnavailable
	}
	if err := s.Bus.Ping(ctx); err != nil {
		body["bus"], body["status"], status = "unreachable", "unavailable", http.StatusServiceUnavailable
	}
	return c.Status(status).JSON(body)
}
