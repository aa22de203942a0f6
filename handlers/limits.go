package handlers

import (
	"context"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/config"
	"github.com/kefu-chat/kefu/internal/ratelimit"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// Login backoff per account: after LoginFailuresFree failures each further
// failure locks the account's logins for loginBackoffBase, doubling up to
// loginBackoffMax. Failures are forgotten loginWindow after the last.
const (
	loginBackoffBase = time.Second
	loginBackoffMax  = 15 * time.Minute
	loginWindow      = time.Hour
)

// localClientIP is the Locals key for the client IP the upgrade middleware
// found, for the websocket handler (which no longer has the request).
const localClientIP = "kefu.ip"

// Limits are the per-IP and per-account counters the handlers consult
// (docs/security.md lists what each defends). The in-memory ones are per
// instance; internal/app builds Redis-backed ones (NewLimits) to share the
// counts between instances.
type Limits struct {
	Connections   ratelimit.Limiter // new websocket connections per IP
	Conversations ratelimit.Limiter // new conversations per IP
	LoginIP       ratelimit.Limiter // login attempts per IP
	LoginAccount  ratelimit.Backoff // failed logins per account (lower-cased e-mail)
}

// Names of the counters, for implementations that keep them in one
// namespace (Redis keys).
const (
	LimitConnections   = "conn"
	LimitConversations = "conv"
	LimitLoginIP       = "loginip"
	LimitLoginAccount  = "login"
)

// NewLimits returns Limits with cfg's rates, made by limiter and backoff
// (each called once per counter with its name).
func NewLimits(cfg config.Config, limiter func(name string, r ratelimit.Rate) ratelimit.Limiter,
	backoff func(name string, p ratelimit.BackoffPolicy) ratelimit.Backoff) *Limits {
	return &Limits{
		Connections:   limiter(LimitConnections, ratelimit.Rate{N: cfg.ConnectionsPerMinute, Per: time.Minute}),
		Conversations: limiter(LimitConversations, ratelimit.Rate{N: cfg.ConversationsPerHour, Per: time.Hour}),
		LoginIP:       limiter(LimitLoginIP, ratelimit.Rate{N: cfg.LoginAttemptsPerIP, Per: 15 * time.Minute}),
		LoginAccount: backoff(LimitLoginAccount, ratelimit.BackoffPolicy{Free: cfg.LoginFailuresFree,
			Base: backoffBase(cfg.LoginFailuresFree), Max: loginBackoffMax, Window: loginWindow}),
	}
}

// NewMemoryLimits returns in-memory Limits with cfg's rates.
func NewMemoryLimits(cfg config.Config) *Limits {
	return NewLimits(cfg,
		func(_ string, r ratelimit.Rate) ratelimit.Limiter { return ratelimit.NewMemory(r, nil) },
		func(_ string, p ratelimit.BackoffPolicy) ratelimit.Backoff { return ratelimit.NewMemoryBackoff(p, nil) })
}

func backoffBase(free int) time.Duration {
	if free <= 0 {
		return 0 // off
	}
	return loginBackoffBase
}

// ipNets parses IPs and CIDRs (validated by config) into networks.
func ipNets(list []string) []*net.IPNet {
	var out []*net.IPNet
	for _, e := range list {
		if ip := net.ParseIP(e); ip != nil {
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
		} else if _, n, err := net.ParseCIDR(e); err == nil {
			out = append(out, n)
		}
	}
	return out
}

func inNets(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address: the socket's peer, unless the peer
// is a trusted proxy, in which case X-Forwarded-For is walked from the right
// (each proxy appends the address it saw), skipping trusted hops, and the
// first untrusted address is the client. An unparseable entry stops the
// walk at the last trusted hop, which is then taken as the client: it was
// written by someone untrusted. Several X-Forwarded-For lines are one list
// in order, as RFC 9110 says of repeated header fields.
func ClientIP(remote net.IP, xff []string, trusted []*net.IPNet) net.IP {
	if len(trusted) == 0 || !inNets(remote, trusted) {
		return remote
	}
	var hops []string
	for _, line := range xff {
		hops = append(hops, strings.Split(line, ",")...)
	}
	client := remote
	for i := len(hops) - 1; i >= 0; i-- {
		ip := parseHop(hops[i])
		if ip == nil {
			return client
		}
		client = ip
		if !inNets(ip, trusted) {
			return ip
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an IP, possibly with a port or
// in brackets, as some proxies write it.
func parseHop(h string) net.IP {
	h = strings.TrimSpace(h)
	if ip := net.ParseIP(h); ip != nil {
		return ip
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		return net.ParseIP(host)
	}
	return net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// clientIP is ClientIP for a request.
func (s *Server) clientIP(c *fiber.Ctx) net.IP {
	var xff []string
	if len(s.trustedProxies) > 0 {
		c.Request().Header.VisitAll(func(k, v []byte) {
			if strings.EqualFold(string(k), fiber.HeaderXForwardedFor) {
				xff = append(xff, string(v))
			}
		})
	}
	return ClientIP(c.Context().RemoteIP(), xff, s.trustedProxies)
}

// limitIP counts one event for ip in l; over the limit it returns
// ERATELIMIT and the seconds to wait. Exempt addresses are not counted; a
// failing limiter (a remote store) lets the event through.
func (s *Server) limitIP(ctx context.Context, l ratelimit.Limiter, ip net.IP, what string) (time.Duration, error) {
	if l == nil || ip == nil || inNets(ip, s.rateExempt) {
		return 0, nil
	}
	ok, wait, err := l.Allow(ctx, ip.String())
	if err != nil {
		s.log.Warn("rate limiter unavailable; allowing", "what", what, "err", err)
		return 0, nil
	}
	if !ok {
		return wait, models.Errorf(models.ERATELIMIT, "too many %s from your address; try again in %s s", what, seconds(wait))
	}
	return 0, nil
}

// retryAfter sets the Retry-After header (whole seconds, at least 1) and
// returns err.
func retryAfter(c *fiber.Ctx, wait time.Duration, err error) error {
	if err != nil {
		c.Set(fiber.HeaderRetryAfter, seconds(wait))
	}
	return err
}

func seconds(d time.Duration) string {
	n := int64(math.Ceil(d.Seconds()))
	if n < 1 {
		n = 1
	}
	return strconv.FormatInt(n, 10)
}

// limitConnection refuses a websocket upgrade over the per-IP connection
// rate (429 before the upgrade) and keeps the client IP for the handler.
func (s *Server) limitConnection(c *fiber.Ctx) error {
	ip := s.clientIP(c)
	c.Locals(localClientIP, ip)
	wait, err := s.limitIP(c.UserContext(), s.Limits.Connections, ip, "connections")
	return retryAfter(c, wait, err)
}

// loginAllowed checks both login limits before any password is hashed:
// attempts per IP (counted here) and the account's failure backoff.
func (s *Server) loginAllowed(c *fiber.Ctx, account string) error {
	wait, err := s.limitIP(c.UserContext(), s.Limits.LoginIP, s.clientIP(c), "login attempts")
	if err != nil {
		return retryAfter(c, wait, err)
	}
	if s.Limits.LoginAccount == nil {
		return nil
	}
	left, err := s.Limits.LoginAccount.Check(c.UserContext(), account)
	if err != nil {
		s.log.Warn("login backoff unavailable; allowing", "err", err)
		return nil
	}
	if left > 0 {
		return retryAfter(c, left, models.Errorf(models.ERATELIMIT, "too many failed logins for this account; try again in %s s", seconds(left)))
	}
	return nil
}

// loginFailed records a failed login for account.
func (s *Server) loginFailed(c *fiber.Ctx, account string) {
	if s.Limits.LoginAccount != nil {
		if _, err := s.Limits.LoginAccount.Fail(c.UserContext(), account); err != nil {
			s.log.Warn("login backoff unavailable", "err", err)
		}
	}
}

// loginSucceeded forgets account's failures.
func (s *Server) loginSucceeded(c *fiber.Ctx, account string) {
	if s.Limits.LoginAccount != nil {
		_ = s.Limits.LoginAccount.Reset(c.UserContext(), account)
	}
}

// accountKey is the key of an account's login backoff: the e-mail as typed,
// trimmed and lower-cased, whether or not such an agent exists (so the
// answer does not tell which e-mails are agents').
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// initLimits fills what limits.go and identity checks need from Config.
func (s *Server) initLimits() {
	if s.Limits == nil {
		s.Limits = NewMemoryLimits(s.Config)
	}
	s.trustedProxies = ipNets(s.Config.TrustedProxies)
	s.rateExempt = ipNets(s.Config.RateLimitExempt)
	for _, k := range []string{s.Config.IdentitySecret, s.Config.IdentitySecretPrevious} {
		if k != "" {
			s.identitySecrets = append(s.identitySecrets, []byte(k))
		}
	}
}

// limitNewConversation counts f against the per-IP conversation limit when
// it is a message that would open a new conversation (one without a
// conversation id from a visitor with none open).
func (s *Server) limitNewConversation(ctx context.Context, vs *visitorSocket, f wire.ClientFrame) error {
	if f.Type != wire.TypeSend || f.ConversationID != "" {
		return nil
	}
	ip, _ := vs.ws.Locals(localClientIP).(net.IP)
	if ip == nil || inNets(ip, s.rateExempt) {
		return nil
	}
	if _, err := s.Store.OpenConversationOf(ctx, vs.visitor.ID); models.ErrorCode(err) != models.ENOTFOUND {
		return nil // one is open (or the store failed, and the send will say so)
	}
	_, err := s.limitIP(ctx, s.Limits.Conversations, ip, "new conversations")
	return err
}

// verifyIdentity checks a hello's signed identity against the current and
// the previous secret. It returns nil when there is none, when no secret
// is configured, or when it does not verify: unverified claims are ignored,
// never stored as verified.
func (s *Server) verifyIdentity(sig string) *auth.Identity {
	if sig == "" {
		return nil
	}
	now := time.Now()
	for _, key := range s.identitySecrets {
		if id, err := auth.VerifyIdentity(key, sig, now); err == nil {
			return &id
		}
	}
	s.log.Debug("ignored an identity that did not verify", "configured", len(s.identitySecrets) > 0)
	return nil
}
