package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kefu-chat/kefu/models"
)

const (
	// Audience is the aud claim of every access token.
	Audience = "kefu-console"
	// MaxAccessTTL is the longest an access token may live. Revocation
	// reaches open sockets through TokenVersion checks, but a stolen token
	// used over plain HTTP is only stopped by its expiry.
	MaxAccessTTL = 15 * time.Minute
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway = 30 * time.Second
	// MinKeyBytes is the shortest HMAC key NewIssuer accepts.
	MinKeyBytes = 32

	typeAccess = "access"
	// maxTokenBytes bounds what VerifyAccess will parse; real tokens are
	// about 350 bytes.
	maxTokenBytes = 2048
)

// Issuer makes and checks access tokens. It is immutable and safe for
// concurrent use.
type Issuer struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	clock    func() time.Time
	parser   *jwt.Parser
	newJTI   func() string // randomID; fixed in fuzz tests, whose worker processes must issue the same tokens
}

// Claims is what a verified access token says. It is only as current as the
// token: call CheckAgent against the stored agent before trusting it.
type Claims struct {
	AgentID      string
	Role         models.Role
	TokenVersion int
	ExpiresAt    time.Time
}

// accessClaims is the token's JSON payload.
type accessClaims struct {
	jwt.RegisteredClaims
	Type    string      `json:"typ"`
	Version int         `json:"ver"`
	Role    models.Role `json:"role"`
}

// NewIssuer returns an Issuer that signs with key (at least MinKeyBytes),
// names publicURL as iss, and issues tokens living ttl (0 means
// MaxAccessTTL; more is refused). now is the clock; nil means time.Now.
func NewIssuer(key []byte, publicURL string, ttl time.Duration, now func() time.Time) (*Issuer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("auth: access token key is %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	if publicURL == "" {
		return nil, errors.New("auth: public URL (token issuer) is empty")
	}
	if ttl == 0 {
		ttl = MaxAccessTTL
	}
	if ttl < time.Second || ttl > MaxAccessTTL {
		return nil, fmt.Errorf("auth: access token lifetime %v is not between 1s and %v", ttl, MaxAccessTTL)
	}
	if now == nil {
		now = time.Now
	}
	i := &Issuer{
		key:      append([]byte(nil), key...),
		issuer:   publicURL,
		audience: Audience,
		ttl:      ttl,
		clock:    now,
		newJTI:   randomID,
	}
	i.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(i.audience),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(i.clock),
		jwt.WithStrictDecoding(),
	)
	return i, nil
}

// IssueAccess returns a signed access token for a and when it expires. It
// refuses (EUNAUTHORIZED) a disabled agent, and (EINVALID) an agent without
// an id or with an unknown role.
func (i *Issuer) IssueAccess(a *models.Agent) (token string, expiresAt time.Time, err error) {
	if a == nil || a.ID == "" || !a.Role.Valid() {
		return "", time.Time{}, models.Errorf(models.EINVALID, "cannot issue a token for an agent without id or role")
	}
	if a.Disabled {
		return "", time.Time{}, models.Errorf(models.EUNAUTHORIZED, "account disabled")
	}
	// The token carries whole seconds; report the expiry it really has.
	now := i.clock().Truncate(time.Second)
	expiresAt = now.Add(i.ttl)
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   a.ID,
			Audience:  jwt.ClaimStrings{i.audience},
			ExpiresAt: jwt.NewNumericDate(expiresAt),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        i.newJTI(),
		},
		Type:    typeAccess,
		Version: a.TokenVersion,
		Role:    a.Role,
	}
	token, err = jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.key)
	if err != nil {
		return "", time.Time{}, models.Internal(err, "sign access token")
	}
	return token, expiresAt, nil
}

// VerifyAccess checks token's signature, algorithm, type, issuer, audience
// and times, and returns its claims. Any failure is an EUNAUTHORIZED error
// with a short reason; the cause is in Err for logs.
func (i *Issuer) VerifyAccess(token string) (Claims, error) {
	if token == "" {
		return Claims{}, unauthorized("missing access token", nil)
	}
	if !canonicalJWTShape(token) {
		return Claims{}, unauthorized("malformed access token", nil)
	}
	var c accessClaims
	_, err := i.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// WithValidMethods already refuses other algorithms; this makes
		// sure the key can only ever be used as an HS256 key.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return i.key, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, unauthorized("access token expired", err)
	case err != nil:
		return Claims{}, unauthorized("invalid access token", err)
	}
	switch {
	case c.Type != typeAccess:
		return Claims{}, unauthorized("not an access token", fmt.Errorf("typ %q", c.Type))
	case c.Subject == "":
		return Claims{}, unauthorized("invalid access token", errors.New("no sub"))
	case !c.Role.Valid():
		return Claims{}, unauthorized("invalid access token", fmt.Errorf("role %q", c.Role))
	case c.IssuedAt == nil || c.NotBefore == nil:
		return Claims{}, unauthorized("invalid access token", errors.New("no iat or nbf"))
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxAccessTTL:
		return Claims{}, unauthorized("invalid access token", errors.New("lifetime over the maximum"))
	case c.ID == "":
		return Claims{}, unauthorized("invalid access token", errors.New("no jti"))
	}
	return Claims{
		AgentID:      c.Subject,
		Role:         c.Role,
		TokenVersion: c.Version,
		ExpiresAt:    c.ExpiresAt.Time,
	}, nil
}

// CheckAgent reports whether the stored agent a still stands behind claims
// c: it exists, is the token's subject, is not disabled, has not had its
// tokens revoked since (TokenVersion), and still has the role the token
// names, so a demotion takes effect at once. Failures are EUNAUTHORIZED: the
// client should refresh or sign in again.
func CheckAgent(c Claims, a *models.Agent) error {
	switch {
	case a == nil || a.ID == "" || a.ID != c.AgentID:
		return unauthorized("unknown agent", nil)
	case a.Disabled:
		return unauthorized("account disabled", nil)
	case a.TokenVersion != c.TokenVersion:
		return unauthorized("token revoked", nil)
	case a.Role != c.Role:
		return unauthorized("role changed; sign in again", nil)
	}
	return nil
}

func unauthorized(msg string, cause error) error {
	return &models.Error{Code: models.EUNAUTHORIZED, Message: msg, Err: cause}
}

// canonicalJWTShape reports whether token is three non-empty base64url
// segments and nothing else. The base64 decoder skips '\r' and '\n', which
// would let many strings stand for one token; refusing them here keeps a
// verified token exactly the string that was issued.
func canonicalJWTShape(token string) bool {
	if len(token) > maxTokenBytes {
		return false
	}
	dots, segLen := 0, 0
	for j := 0; j < len(token); j++ {
		ch := token[j]
		switch {
		case ch == '.':
			if segLen == 0 {
				return false
			}
			dots++
			segLen = 0
		case isBase64URL(ch):
			segLen++
		default:
			return false
		}
	}
	return dots == 2 && segLen > 0
}

func isBase64URL(ch byte) bool {
	return ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_'
}

// randomID returns 128 random bits in base64url, for jti.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (Go ≥ 1.24 crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
