package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kefu-chat/kefu/models"
)

const testURL = "https://chat.shop.example"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testClock is a clock the test moves by hand.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func testKey(b byte) []byte {
	k := make([]byte, 64)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// MustIssuer returns an Issuer with key, testURL and a 15-minute lifetime on
// clock.
func MustIssuer(tb testing.TB, key []byte, url string, clock func() time.Time) *Issuer {
	tb.Helper()
	i, err := NewIssuer(key, url, 15*time.Minute, clock)
	if err != nil {
		tb.Fatalf("NewIssuer: %v", err)
	}
	return i
}

func testAgent() *models.Agent {
	return &models.Agent{ID: "3b8f0c56-1c1e-4b55-9d7e-2f0ad0a2b001", Email: "ann@shop.example", Name: "Ann", Role: models.RoleAgent, TokenVersion: 3}
}

// goodClaims are the claims IssueAccess would write at t0; attack rows
// change one thing each.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  testURL,
		"aud":  []string{Audience},
		"sub":  testAgent().ID,
		"role": "agent",
		"ver":  3,
		"typ":  "access",
		"jti":  "abc",
		"iat":  t0.Unix(),
		"nbf":  t0.Unix(),
		"exp":  t0.Add(15 * time.Minute).Unix(),
	}
}

func with(edit func(jwt.MapClaims)) jwt.MapClaims {
	c := goodClaims()
	edit(c)
	return c
}

func MustSign(tb testing.TB, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

// hmacWithHeader signs claims with HMAC-SHA256 under key but writes header
// as given, for algorithm-confusion attempts.
func hmacWithHeader(tb testing.TB, header map[string]any, key []byte, c jwt.MapClaims) string {
	tb.Helper()
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// flipTrailingBits changes the unused low bits of the last base64
// character, which a lenient decoder would ignore.
func flipTrailingBits(tok string) string {
	last := tok[len(tok)-1]
	idx := strings.IndexByte(base64URLAlphabet, last)
	return tok[:len(tok)-1] + string(base64URLAlphabet[idx^1])
}

func TestVerifyAccess(t *testing.T) {
	key := testKey(1)
	clock := &testClock{now: t0}
	iss := MustIssuer(t, key, testURL, clock.Now)
	issued, exp, err := iss.IssueAccess(testAgent())
	if err != nil {
		t.Fatalf("IssueAccess: %v", err)
	}
	visitor, _ := NewSecret(VisitorPrefix)
	refresh, _ := NewSecret(RefreshPrefix)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherURL, _, err := MustIssuer(t, key, "https://evil.example", clock.Now).IssueAccess(testAgent())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		token string
		at    time.Time // zero: t0
		ok    bool
	}{
		{name: "issued", token: issued, ok: true},
		{name: "hand-made with good claims", token: MustSign(t, jwt.SigningMethodHS256, key, goodClaims()), ok: true},
		{name: "within leeway after exp", token: issued, at: exp.Add(29 * time.Second), ok: true},
		{name: "nbf within leeway", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) {
			c["nbf"] = t0.Add(29 * time.Second).Unix()
		})), ok: true},
		{name: "just before expiry", token: issued, at: exp.Add(-time.Second), ok: true},

		{name: "alg none", token: MustSign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims())},
		{name: "alg none, signature of the right key kept", token: func() string {
			parts := strings.Split(MustSign(t, jwt.SigningMethodHS256, key, goodClaims()), ".")
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			return h + "." + parts[1] + "." + parts[2]
		}()},
		{name: "HS256 with another key", token: MustSign(t, jwt.SigningMethodHS256, testKey(2), goodClaims())},
		{name: "HS384 with the right key", token: MustSign(t, jwt.SigningMethodHS384, key, goodClaims())},
		{name: "HS512 with the right key", token: MustSign(t, jwt.SigningMethodHS512, key, goodClaims())},
		{name: "RS256 header, HMAC signature", token: hmacWithHeader(t, map[string]any{"alg": "RS256", "typ": "JWT"}, key, goodClaims())},
		{name: "HS256 header spelled differently", token: hmacWithHeader(t, map[string]any{"alg": "hs256", "typ": "JWT"}, key, goodClaims())},
		{name: "real RS256", token: MustSign(t, jwt.SigningMethodRS256, rsaKey, goodClaims())},
		{name: "missing exp", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{name: "expired beyond leeway", token: issued, at: exp.Add(31 * time.Second)},
		{name: "long expired", token: issued, at: exp.Add(24 * time.Hour)},
		{name: "nbf beyond leeway", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) {
			c["nbf"] = t0.Add(31 * time.Second).Unix()
		}))},
		{name: "used before nbf", token: issued, at: t0.Add(-time.Minute)},
		{name: "iat in the future", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) {
			c["iat"] = t0.Add(5 * time.Minute).Unix()
		}))},
		{name: "missing iat", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "iat") }))},
		{name: "missing nbf", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "nbf") }))},
		{name: "lifetime over 15 minutes", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) {
			c["exp"] = t0.Add(16 * time.Minute).Unix()
		}))},
		{name: "wrong iss", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{name: "missing iss", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{name: "wrong aud", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["aud"] = []string{"kefu-widget"} }))},
		{name: "missing aud", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{name: "typ missing", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "typ") }))},
		{name: "typ refresh", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["typ"] = "refresh" }))},
		{name: "typ visitor", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["typ"] = "visitor" }))},
		{name: "sub missing", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "sub") }))},
		{name: "role unknown", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["role"] = "root" }))},
		{name: "ver not a number", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { c["ver"] = "3" }))},
		{name: "jti missing", token: MustSign(t, jwt.SigningMethodHS256, key, with(func(c jwt.MapClaims) { delete(c, "jti") }))},
		{name: "visitor secret", token: visitor},
		{name: "refresh secret", token: refresh},
		{name: "truncated", token: issued[:len(issued)-1]},
		{name: "truncated at a dot", token: issued[:strings.LastIndexByte(issued, '.')+1]},
		{name: "two segments", token: issued[:strings.LastIndexByte(issued, '.')]},
		{name: "trailing bits changed", token: flipTrailingBits(issued)},
		// The base64 decoder skips CR and LF; inside the signature they are
		// not covered by the MAC.
		{name: "newline in the signature", token: issued[:len(issued)-5] + "\n" + issued[len(issued)-5:]},
		{name: "CR in the signature", token: issued[:len(issued)-5] + "\r" + issued[len(issued)-5:]},
		{name: "padding added", token: issued + "="},
		{name: "Bearer prefix kept", token: "Bearer " + issued},
		{name: "garbage", token: "not.a.token"},
		{name: "dots only", token: ".."},
		{name: "empty", token: ""},
		{name: "huge", token: issued + strings.Repeat("A", 4096)},
		{name: "issuer with another public URL", token: otherURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.now = t0
			if !tt.at.IsZero() {
				clock.now = tt.at
			}
			c, err := iss.VerifyAccess(tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("VerifyAccess: %v, want success", err)
				}
				if c.AgentID != testAgent().ID || c.Role != models.RoleAgent || c.TokenVersion != 3 {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if got := models.ErrorCode(err); got != models.EUNAUTHORIZED {
				t.Fatalf("VerifyAccess = %+v, %v; want %s", c, err, models.EUNAUTHORIZED)
			}
			if models.ErrorMessage(err) == "" {
				t.Errorf("no reason given")
			}
		})
	}
}

func TestIssueAccess(t *testing.T) {
	clock := &testClock{now: t0.Add(700 * time.Millisecond)}
	iss, err := NewIssuer(testKey(1), testURL, 10*time.Minute, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	a := testAgent()
	a.Role = models.RoleAdmin
	tok, exp, err := iss.IssueAccess(a)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(10 * time.Minute); !exp.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	c, err := iss.VerifyAccess(tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{AgentID: a.ID, Role: models.RoleAdmin, TokenVersion: 3, ExpiresAt: exp}
	if c.AgentID != want.AgentID || c.Role != want.Role || c.TokenVersion != want.TokenVersion || !c.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
	if err := CheckAgent(c, a); err != nil {
		t.Errorf("CheckAgent on the agent it was issued to: %v", err)
	}

	t.Run("jti differs", func(t *testing.T) {
		tok2, _, _ := iss.IssueAccess(a)
		if tok2 == tok {
			t.Errorf("two tokens issued at the same instant are equal")
		}
	})
	t.Run("refuses", func(t *testing.T) {
		for _, a := range []*models.Agent{nil, {Role: models.RoleAgent}, {ID: "x", Role: "root"}, {ID: "x", Role: models.RoleAgent, Disabled: true}} {
			if _, _, err := iss.IssueAccess(a); err == nil {
				t.Errorf("IssueAccess(%+v) succeeded", a)
			}
		}
	})
}

func TestNewIssuer(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		url  string
		ttl  time.Duration
		ok   bool
	}{
		{"ok", testKey(1), testURL, 15 * time.Minute, true},
		{"zero ttl means default", testKey(1), testURL, 0, true},
		{"32-byte key", testKey(1)[:32], testURL, time.Minute, true},
		{"31-byte key", testKey(1)[:31], testURL, time.Minute, false},
		{"no key", nil, testURL, time.Minute, false},
		{"no url", testKey(1), "", time.Minute, false},
		{"ttl over 15 minutes", testKey(1), testURL, 15*time.Minute + time.Second, false},
		{"negative ttl", testKey(1), testURL, -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewIssuer(tt.key, tt.url, tt.ttl, nil)
			if (err == nil) != tt.ok {
				t.Errorf("NewIssuer: err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestIssuerCopiesKey(t *testing.T) {
	key := testKey(1)
	clock := &testClock{now: t0}
	iss := MustIssuer(t, key, testURL, clock.Now)
	tok, _, err := iss.IssueAccess(testAgent())
	if err != nil {
		t.Fatal(err)
	}
	key[0] ^= 0xff // the caller reusing its buffer must not change the issuer's key
	if _, err := iss.VerifyAccess(tok); err != nil {
		t.Errorf("VerifyAccess after the caller changed its key slice: %v", err)
	}
}

func TestCheckAgent(t *testing.T) {
	claims := Claims{AgentID: testAgent().ID, Role: models.RoleAgent, TokenVersion: 3, ExpiresAt: t0.Add(time.Minute)}
	tests := []struct {
		name  string
		agent func(a *models.Agent) *models.Agent
		ok    bool
	}{
		{"same agent", func(a *models.Agent) *models.Agent { return a }, true},
		{"no agent", func(a *models.Agent) *models.Agent { return nil }, false},
		{"other agent", func(a *models.Agent) *models.Agent { a.ID = "other"; return a }, false},
		{"disabled", func(a *models.Agent) *models.Agent { a.Disabled = true; return a }, false},
		{"token version raised (logout, password change)", func(a *models.Agent) *models.Agent { a.TokenVersion++; return a }, false},
		{"token version lower", func(a *models.Agent) *models.Agent { a.TokenVersion--; return a }, false},
		{"promoted to admin", func(a *models.Agent) *models.Agent { a.Role = models.RoleAdmin; return a }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckAgent(claims, tt.agent(testAgent()))
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckAgent: %v", err)
				}
				return
			}
			if got := models.ErrorCode(err); got != models.EUNAUTHORIZED {
				t.Fatalf("CheckAgent = %v, want %s", err, models.EUNAUTHORIZED)
			}
		})
	}

	t.Run("admin demoted", func(t *testing.T) {
		c := claims
		c.Role = models.RoleAdmin
		if got := models.ErrorCode(CheckAgent(c, testAgent())); got != models.EUNAUTHORIZED {
			t.Fatalf("CheckAgent for an admin token of a demoted agent: code %q, want %s", got, models.EUNAUTHORIZED)
		}
	})
}

func FuzzVerifyAccess(f *testing.F) {
	key := testKey(1)
	iss := MustIssuer(f, key, testURL, func() time.Time { return t0 })
	// Fuzzing runs this setup again in each worker process: the tokens
	// must come out the same there as in the seeds.
	iss.newJTI = func() string { return "fuzz" }
	issued := map[string]bool{}
	for _, a := range []*models.Agent{testAgent(), {ID: "b", Role: models.RoleAdmin, TokenVersion: 1}} {
		tok, _, err := iss.IssueAccess(a)
		if err != nil {
			f.Fatal(err)
		}
		issued[tok] = true
		f.Add(tok)
		f.Add(flipTrailingBits(tok))
		f.Add(tok[:len(tok)-2])
	}
	f.Add(MustSign(f, jwt.SigningMethodHS384, key, goodClaims()))
	f.Add(MustSign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims()))
	f.Add(hmacWithHeader(f, map[string]any{"alg": "RS256"}, key, goodClaims()))
	f.Add("")
	f.Add("..")
	f.Add("kv_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := iss.VerifyAccess(s)
		if err == nil {
			if !issued[s] {
				t.Fatalf("VerifyAccess accepted a token it did not issue: %q -> %+v", s, c)
			}
			return
		}
		if got := models.ErrorCode(err); got != models.EUNAUTHORIZED {
			t.Fatalf("VerifyAccess(%q) code %q, want %s", s, got, models.EUNAUTHORIZED)
		}
	})
}
