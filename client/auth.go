package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/wire"
)

// refreshCookie is the cookie in which Kefu hands out refresh tokens.
const refreshCookie = "kefu_refresh"

// Tokens is what a login or a refresh returns: a short-lived access token
// for REST calls and the agent socket, and a refresh token (one use each:
// refreshing rotates it) for getting the next one.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Agent        wire.AgentView
}

// Login logs an agent in over REST (POST /api/auth/login). A refusal is a
// *models.Error with the server's code (EUNAUTHORIZED for a wrong password,
// ERATELIMIT when logins from here are throttled).
func Login(ctx context.Context, baseURL, email, password string) (Tokens, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return tokenRequest(ctx, baseURL+"/api/auth/login", body, "")
}

// Refresh exchanges a refresh token for new Tokens (POST /api/auth/refresh).
// The old refresh token stops working: keep the new one. EUNAUTHORIZED
// means the session has ended and the agent must log in again.
func Refresh(ctx context.Context, baseURL, refreshToken string) (Tokens, error) {
	return tokenRequest(ctx, baseURL+"/api/auth/refresh", nil, refreshToken)
}

func tokenRequest(ctx context.Context, url string, body []byte, refresh string) (Tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/"), bytes.NewReader(body))
	if err != nil {
		return Tokens{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if refresh != "" {
		req.AddCookie(&http.Cookie{Name: refreshCookie, Value: refresh})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Tokens{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Tokens{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Tokens{}, apiError(resp.StatusCode, data)
	}
	var out struct {
		AccessToken string         `json:"access_token"`
		ExpiresAt   time.Time      `json:"expires_at"`
		Agent       wire.AgentView `json:"agent"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return Tokens{}, fmt.Errorf("kefu answered %q: %w", data, err)
	}
	t := Tokens{AccessToken: out.AccessToken, ExpiresAt: out.ExpiresAt, Agent: out.Agent}
	for _, c := range resp.Cookies() {
		if c.Name == refreshCookie {
			t.RefreshToken = c.Value
		}
	}
	return t, nil
}

// apiError turns Kefu's error body into a *models.Error.
func apiError(status int, data []byte) error {
	var e struct {
		Error struct {
			Code    models.Code `json:"code"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error.Code != "" {
		return &models.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	code := models.EINTERNAL
	switch status {
	case http.StatusUnauthorized:
		code = models.EUNAUTHORIZED
	case http.StatusForbidden:
		code = models.EFORBIDDEN
	case http.StatusTooManyRequests:
		code = models.ERATELIMIT
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		code = models.EUNAVAILABLE
	}
	return &models.Error{Code: code, Message: fmt.Sprintf("HTTP %d", status)}
}

// TokenSource returns an access token for the next agent connection. It is
// called before every dial, so it should cache: return the same token until
// it is about to expire.
type TokenSource func(ctx context.Context) (string, error)

// RefreshingTokens is a TokenSource over a login: it hands out the current
// access token and refreshes it over REST when it expires within a minute.
// Safe for concurrent use.
type RefreshingTokens struct {
	baseURL string
	mu      sync.Mutex
	t       Tokens
}

// NewRefreshingTokens starts from t, which Login returned.
func NewRefreshingTokens(baseURL string, t Tokens) *RefreshingTokens {
	return &RefreshingTokens{baseURL: baseURL, t: t}
}

// Token returns a valid access token, refreshing first if needed. Use
// r.Token as AgentOptions.TokenSource.
func (r *RefreshingTokens) Token(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Until(r.t.ExpiresAt) > time.Minute {
		return r.t.AccessToken, nil
	}
	t, err := Refresh(ctx, r.baseURL, r.t.RefreshToken)
	if err != nil {
		return "", err
	}
	r.t = t
	return t.AccessToken, nil
}

// Tokens returns the current tokens.
func (r *RefreshingTokens) Tokens() Tokens {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t
}
