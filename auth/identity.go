package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kefu-chat/kefu/models"
)

// Identity is what a shop vouches for about its logged-in customer.
type Identity struct {
	ID        string    // the shop's customer id
	Name      string    // may be empty
	Email     string    // may be empty
	ExpiresAt time.Time // the signature's expiry
}

const (
	identityVersion = "v1"
	identityContext = "kefu-identity-v1."
	// MaxIdentityLifetime is how far ahead an identity's exp may lie: a
	// leaked signature lets anyone chat as the customer until it expires.
	MaxIdentityLifetime = 24 * time.Hour
	// MinIdentitySecretBytes is the shortest identity secret accepted.
	MinIdentitySecretBytes = 16

	maxIdentityBytes = 4096
	maxIdentityID    = 200
	maxIdentityName  = 200
	maxIdentityEmail = 254
)

// identityPayload is the JSON a shop signs.
type identityPayload struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Exp   *int64 `json:"exp"`
}

// SignIdentity returns the signature string a shop would make for id with
// secret (see the package doc); for the demo shop and tests.
func SignIdentity(secret []byte, id Identity) string {
	exp := id.ExpiresAt.Unix()
	p, _ := json.Marshal(identityPayload{ID: id.ID, Name: id.Name, Email: id.Email, Exp: &exp})
	seg := base64.RawURLEncoding.EncodeToString(p)
	return identityVersion + "." + seg + "." + base64.RawURLEncoding.EncodeToString(identityMAC(secret, seg))
}

// VerifyIdentity checks a shop's signature string sig with secret and
// returns the identity it vouches for. A bad, expired or malformed
// signature is EUNAUTHORIZED; a secret shorter than MinIdentitySecretBytes
// is EINTERNAL (a misconfigured server, not the shopper's fault).
func VerifyIdentity(secret []byte, sig string, now time.Time) (Identity, error) {
	if len(secret) < MinIdentitySecretBytes {
		return Identity{}, models.Internal(fmt.Errorf("identity secret is %d bytes, need at least %d", len(secret), MinIdentitySecretBytes), "identity verification is misconfigured")
	}
	bad := func(cause string) (Identity, error) {
		return Identity{}, unauthorized("invalid identity signature", errors.New(cause))
	}
	if len(sig) > maxIdentityBytes {
		return bad("too long")
	}
	ver, rest, ok1 := strings.Cut(sig, ".")
	seg, macText, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || ver != identityVersion || seg == "" || !allBase64URL(seg) || !allBase64URL(macText) {
		return bad("malformed")
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(macText)
	if err != nil || !hmac.Equal(mac, identityMAC(secret, seg)) {
		return bad("signature mismatch")
	}
	// Signed by the shop from here on; still check it is well formed.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return bad("payload not base64url")
	}
	var p identityPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil || dec.More() {
		return bad("payload not one JSON object")
	}
	switch {
	case p.ID == "" || len(p.ID) > maxIdentityID || len(p.Name) > maxIdentityName || len(p.Email) > maxIdentityEmail:
		return bad("id missing, or a field too long")
	case !printable(p.ID) || !printable(p.Name) || !printable(p.Email):
		return bad("invalid characters")
	case p.Exp == nil:
		return bad("exp missing")
	}
	exp := time.Unix(*p.Exp, 0)
	switch {
	case !now.Before(exp.Add(Leeway)):
		return Identity{}, unauthorized("identity signature expired", nil)
	case exp.After(now.Add(MaxIdentityLifetime + Leeway)):
		return bad("exp too far ahead")
	}
	return Identity{ID: p.ID, Name: p.Name, Email: p.Email, ExpiresAt: exp}, nil
}

func identityMAC(secret []byte, seg string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(identityContext))
	m.Write([]byte(seg))
	return m.Sum(nil)
}

// printable reports whether s is valid UTF-8 without control characters,
// since it is shown to agents.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func allBase64URL(s string) bool {
	for j := 0; j < len(s); j++ {
		if !isBase64URL(s[j]) {
			return false
		}
	}
	return true
}

// Signer makes and checks expiring HMAC-SHA256 signatures over short
// payloads, such as attachment URLs. It is immutable and safe for
// concurrent use.
type Signer struct {
	key []byte
}

// NewSigner returns a Signer whose key is derived from master for purpose,
// so signatures made for one purpose never pass for another, nor for an
// access token. master must be at least MinKeyBytes.
func NewSigner(master []byte, purpose string) (*Signer, error) {
	if len(master) < MinKeyBytes {
		return nil, fmt.Errorf("auth: signer key is %d bytes, need at least %d", len(master), MinKeyBytes)
	}
	if purpose == "" {
		return nil, errors.New("auth: signer purpose is empty")
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte("kefu-signer-v1\x00" + purpose))
	return &Signer{key: m.Sum(nil)}, nil
}

// Sign returns a signature for payload valid until exp, as
// "<exp unix seconds>.<base64url mac>".
func (s *Signer) Sign(payload string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + base64.RawURLEncoding.EncodeToString(s.mac(e, payload))
}

// Verify reports whether sig was made by Sign for payload and has not
// expired at now (no leeway: the server checks its own signatures).
// Failures are EUNAUTHORIZED.
func (s *Signer) Verify(payload, sig string, now time.Time) error {
	e, macText, ok := strings.Cut(sig, ".")
	if !ok || len(e) == 0 || len(e) > 19 || !allBase64URL(macText) {
		return unauthorized("invalid signature", errors.New("malformed"))
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	// Only the form Sign writes: no sign, no leading zeros.
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != e {
		return unauthorized("invalid signature", errors.New("malformed expiry"))
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(macText)
	if err != nil || !hmac.Equal(mac, s.mac(e, payload)) {
		return unauthorized("invalid signature", errors.New("mismatch"))
	}
	if !now.Before(time.Unix(exp, 0)) {
		return unauthorized("signature expired", nil)
	}
	return nil
}

func (s *Signer) mac(exp, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(exp))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}
