package handlers

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/kefu-chat/kefu/auth"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

const refreshCookie = "kefu_refresh"

// Locals keys.
const (
	localAgent  = "kefu.agent"
	localClaims = "kefu.claims"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type tokenResponse struct {
	AccessToken string         `json:"access_token"`
	TokenType   string         `json:"token_type"`
	ExpiresAt   time.Time      `json:"expires_at"`
	Agent       wire.AgentView `json:"agent"`
}

// parseJSON decodes the request body into v; a malformed body is EINVALID.
func parseJSON(c *fiber.Ctx, v any) error {
	if len(c.Body()) == 0 {
		return models.Errorf(models.EINVALID, "a JSON body is required")
	}
	if err := json.Unmarshal(c.Body(), v); err != nil {
		return models.Errorf(models.EINVALID, "malformed JSON body")
	}
	return nil
}

func (s *Server) login(c *fiber.Ctx) error {
	var req loginRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Email) == "" || req.Password == "" {
		return models.Errorf(models.EINVALID, "email and password are required")
	}
	// Both limits are checked before any password is hashed: guessing is
	// slowed per address and per account, and bcrypt cannot be used to
	// burn the server's CPU.
	account := accountKey(req.Email)
	if err := s.loginAllowed(c, account); err != nil {
		return err
	}
	wrong := models.Errorf(models.EUNAUTHORIZED, "wrong e-mail or password")
	a, err := s.Store.AgentByEmail(c.UserContext(), req.Email)
	if models.ErrorCode(err) == models.ENOTFOUND {
		auth.DummyCheck(req.Password) // answer as slowly as for a real account
		s.loginFailed(c, account)
		return wrong
	} else if err != nil {
		return err
	}
	if !auth.CheckPassword(a.PasswordHash, req.Password) {
		s.loginFailed(c, account)
		return wrong
	}
	if a.Disabled {
		return models.Errorf(models.EUNAUTHORIZED, "this account is disabled")
	}
	s.loginSucceeded(c, account)
	return s.startSession(c, a)
}

// startSession issues an access token and a refresh token that starts a new
// family, and renders the login body.
func (s *Server) startSession(c *fiber.Ctx, a *models.Agent) error {
	token, hash := auth.NewSecret(auth.RefreshPrefix)
	now := time.Now().UTC()
	rt := &models.RefreshToken{AgentID: a.ID, TokenHash: hash, TokenVersion: a.TokenVersion, ExpiresAt: now.Add(s.Config.RefreshTTL)}
	if err := s.Store.CreateRefreshToken(c.UserContext(), rt); err != nil {
		return err
	}
	return s.renderTokens(c, a, token, rt.ExpiresAt)
}

func (s *Server) renderTokens(c *fiber.Ctx, a *models.Agent, refresh string, refreshExpires time.Time) error {
	access, exp, err := s.Issuer.IssueAccess(a)
	if err != nil {
		return models.Internal(err, "issuing access token")
	}
	c.Cookie(&fiber.Cookie{Name: refreshCookie, Value: refresh, Path: "/api/auth", Expires: refreshExpires,
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteStrictMode})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresAt: exp, Agent: wire.NewAgentView(a)})
}

func (s *Server) clearRefreshCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: refreshCookie, Value: "", Path: "/api/auth", Expires: time.Unix(0, 0),
		HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteStrictMode})
}

func (s *Server) refresh(c *fiber.Ctx) error {
	old := c.Cookies(refreshCookie)
	if !auth.ValidSecretFormat(auth.RefreshPrefix, old) {
		return models.Errorf(models.EUNAUTHORIZED, "no valid refresh token")
	}
	ctx := c.UserContext()
	token, hash := auth.NewSecret(auth.RefreshPrefix)
	now := time.Now().UTC()
	next := &models.RefreshToken{TokenHash: hash, ExpiresAt: now.Add(s.Config.RefreshTTL)}
	used, err := s.Store.RotateRefreshToken(ctx, auth.HashSecret(old), next, now)
	if err != nil {
		s.clearRefreshCookie(c)
		return err
	}
	a, err := s.Store.Agent(ctx, used.AgentID)
	if err != nil {
		return err
	}
	if a.Disabled || a.TokenVersion != used.TokenVersion || next.TokenVersion != used.TokenVersion {
		_ = s.Store.RevokeRefreshFamily(ctx, hash, now)
		s.clearRefreshCookie(c)
		return models.Errorf(models.EUNAUTHORIZED, "this session has ended; log in again")
	}
	return s.renderTokens(c, a, token, next.ExpiresAt)
}

// logout ends every session of the agent: tokens on all devices stop
// working and open sockets close. It works with either credential so that a
// console whose access token lapsed can still log out.
func (s *Server) logout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	agentID := ""
	if a, _, err := s.authenticate(c); err == nil {
		agentID = a.ID
	}
	if rt := c.Cookies(refreshCookie); auth.ValidSecretFormat(auth.RefreshPrefix, rt) {
		if err := s.Store.RevokeRefreshFamily(ctx, auth.HashSecret(rt), time.Now().UTC()); err != nil {
			return err
		}
	}
	s.clearRefreshCookie(c)
	if agentID != "" {
		if _, err := s.Store.UpdateAgent(ctx, agentID, models.AgentUpdate{RevokeTokens: true}); err != nil {
			return err
		}
		s.Chat.Revoke(ctx, agentID)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// authenticate checks the bearer token and that its agent may still use it.
func (s *Server) authenticate(c *fiber.Ctx) (*models.Agent, auth.Claims, error) {
	h := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return nil, auth.Claims{}, models.Errorf(models.EUNAUTHORIZED, "an Authorization: Bearer token is required")
	}
	return s.verifyAgentToken(c, token)
}

func (s *Server) verifyAgentToken(c *fiber.Ctx, token string) (*models.Agent, auth.Claims, error) {
	claims, err := s.Issuer.VerifyAccess(token)
	if err != nil {
		return nil, claims, err
	}
	a, err := s.Store.Agent(c.UserContext(), claims.AgentID)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return nil, claims, models.Errorf(models.EUNAUTHORIZED, "unknown agent")
	} else if err != nil {
		return nil, claims, err
	}
	if err := auth.CheckAgent(claims, a); err != nil {
		return nil, claims, err
	}
	return a, claims, nil
}

func (s *Server) requireAgent(c *fiber.Ctx) error {
	a, claims, err := s.authenticate(c)
	if err != nil {
		return err
	}
	c.Locals(localAgent, a)
	c.Locals(localClaims, claims)
	return c.Next()
}

func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if currentAgent(c).Role != models.RoleAdmin {
		return models.Errorf(models.EFORBIDDEN, "only admins may do this")
	}
	return c.Next()
}

func currentAgent(c *fiber.Ctx) *models.Agent { return c.Locals(localAgent).(*models.Agent) }

func (s *Server) me(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"agent": wire.NewAgentView(currentAgent(c))})
}

type passwordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (s *Server) changePassword(c *fiber.Ctx) error {
	var req passwordRequest
	if err := parseJSON(c, &req); err != nil {
		return err
	}
	a := currentAgent(c)
	// A stolen access token must not become a way to guess the password.
	if err := s.loginAllowed(c, accountKey(a.Email)); err != nil {
		return err
	}
	if !auth.CheckPassword(a.PasswordHash, req.CurrentPassword) {
		s.loginFailed(c, accountKey(a.Email))
		return models.Errorf(models.EUNAUTHORIZED, "the current password is wrong")
	}
	hash, err := auth.HashPassword(req.NewPassword)
	if err != nil {
		return err
	}
	no := false
	updated, err := s.Store.UpdateAgent(c.UserContext(), a.ID, models.AgentUpdate{PasswordHash: &hash, MustChangePassword: &no})
	if err != nil {
		return err
	}
	s.Chat.Revoke(c.UserContext(), a.ID)
	return s.startSession(c, updated)
}
