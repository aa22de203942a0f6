package handlers

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// metricsRoute serves /metrics on the main listener, but only when a
// metrics token is configured (Deps.Metrics then checks it): metrics are
// not for the internet. Without a token they are served only on
// KEFU_METRICS_ADDR, by internal/app, or not at all.
func (s *Server) metricsRoute() {
	if s.Metrics == nil || s.Config.MetricsToken == "" {
		return
	}
	s.app.Get("/metrics", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Next()
	}, adaptor.HTTPHandler(s.Metrics))
}
