package handlers

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/models"
)

// normalizeOrigin returns scheme://host[:port] with scheme and host in lower
// case and default ports dropped, so that origins compare exactly but not
// case-sensitively. It returns "" for anything that is not an http(s) origin.
func normalizeOrigin(o string) string {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || u.Host == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port
	}
	return scheme + "://" + host
}

// originAllowed reports whether a request's Origin header is in allowed. A
// request without Origin is not from a browser page, so no other site's page
// can be acting through it: it is allowed, and its credentials decide.
func originAllowed(c *fiber.Ctx, allowed func(string) bool) bool {
	o := c.Get(fiber.HeaderOrigin)
	if o == "" {
		return true
	}
	n := normalizeOrigin(o)
	return n != "" && allowed(n)
}

// checkStateChangeOrigin refuses state-changing API requests from pages of
// other origins: the refresh cookie is SameSite=Strict, and this is the
// second lock on the same door.
func (s *Server) checkStateChangeOrigin(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead || c.Method() == fiber.MethodOptions {
		return c.Next()
	}
	if !originAllowed(c, func(o string) bool { return o == s.ownOrigin }) {
		return models.Errorf(models.EFORBIDDEN, "requests from this origin are not allowed")
	}
	return c.Next()
}
