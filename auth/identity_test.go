package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
)

var identitySecret = []byte("shop-identity-secret-0123456789")

// shopSign does what the package doc tells a shop to do, by hand, over a
// payload the shop wrote itself (any key order, any spacing).
func shopSign(secret []byte, payloadJSON string) string {
	p := base64.RawURLEncoding.EncodeToString([]byte(payloadJSON))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kefu-identity-v1." + p))
	return "v1." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyIdentity(t *testing.T) {
	exp := t0.Add(time.Hour)
	good := SignIdentity(identitySecret, Identity{ID: "cust-42", Name: "Zoë 王", Email: "zoe@example.com", ExpiresAt: exp})
	expS := func(d time.Duration) string { return itoa(t0.Add(d).Unix()) }
	tests := []struct {
		name string
		sig  string
		at   time.Time // zero: t0
		want Identity  // zero: an EUNAUTHORIZED error
	}{
		{name: "SignIdentity", sig: good, want: Identity{ID: "cust-42", Name: "Zoë 王", Email: "zoe@example.com", ExpiresAt: exp}},
		{name: "shop's own JSON", sig: shopSign(identitySecret, `{ "exp": `+expS(time.Hour)+`, "email":"a@b.c", "id": "7" }`),
			want: Identity{ID: "7", Email: "a@b.c", ExpiresAt: exp}},
		{name: "within leeway after exp", sig: good, at: exp.Add(29 * time.Second), want: Identity{ID: "cust-42", Name: "Zoë 王", Email: "zoe@example.com", ExpiresAt: exp}},
		{name: "24 hours ahead", sig: shopSign(identitySecret, `{"id":"7","exp":`+expS(24*time.Hour)+`}`), want: Identity{ID: "7", ExpiresAt: t0.Add(24 * time.Hour)}},

		{name: "expired beyond leeway", sig: good, at: exp.Add(31 * time.Second)},
		{name: "another secret", sig: SignIdentity([]byte("another-secret-0123456789abcdef"), Identity{ID: "cust-42", ExpiresAt: exp})},
		{name: "payload swapped", sig: func() string {
			other := SignIdentity(identitySecret, Identity{ID: "admin", ExpiresAt: exp})
			return "v1." + strings.Split(other, ".")[1] + "." + strings.Split(good, ".")[2]
		}()},
		{name: "signature trailing bits changed", sig: flipTrailingBits(good)},
		{name: "newline in the signature", sig: good[:len(good)-4] + "\n" + good[len(good)-4:]},
		{name: "more than 24 hours ahead", sig: shopSign(identitySecret, `{"id":"7","exp":`+expS(25*time.Hour)+`}`)},
		{name: "exp missing", sig: shopSign(identitySecret, `{"id":"7"}`)},
		{name: "exp a string", sig: shopSign(identitySecret, `{"id":"7","exp":"`+expS(time.Hour)+`"}`)},
		{name: "exp fractional", sig: shopSign(identitySecret, `{"id":"7","exp":`+expS(time.Hour)+`.5}`)},
		{name: "id missing", sig: shopSign(identitySecret, `{"name":"x","exp":`+expS(time.Hour)+`}`)},
		{name: "id too long", sig: shopSign(identitySecret, `{"id":"`+strings.Repeat("x", 201)+`","exp":`+expS(time.Hour)+`}`)},
		{name: "control character in name", sig: shopSign(identitySecret, `{"id":"7","name":"a\u0007b","exp":`+expS(time.Hour)+`}`)},
		{name: "two JSON values", sig: shopSign(identitySecret, `{"id":"7","exp":`+expS(time.Hour)+`} {}`)},
		{name: "not JSON", sig: shopSign(identitySecret, `id=7`)},
		{name: "version v2", sig: "v2" + good[2:]},
		{name: "extra segment", sig: good + ".x"},
		{name: "no signature", sig: good[:strings.LastIndexByte(good, '.')]},
		{name: "access-token shaped", sig: "eyJhbGciOiJIUzI1NiJ9.e30.abc"},
		{name: "too long", sig: shopSign(identitySecret, `{"id":"7","exp":`+expS(time.Hour)+`,"pad":"`+strings.Repeat("x", 4000)+`"}`)},
		{name: "empty", sig: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := t0
			if !tt.at.IsZero() {
				at = tt.at
			}
			got, err := VerifyIdentity(identitySecret, tt.sig, at)
			if tt.want.ID == "" {
				if code := models.ErrorCode(err); code != models.EUNAUTHORIZED {
					t.Fatalf("VerifyIdentity = %+v, %v; want %s", got, err, models.EUNAUTHORIZED)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyIdentity: %v", err)
			}
			if got.ID != tt.want.ID || got.Name != tt.want.Name || got.Email != tt.want.Email || !got.ExpiresAt.Equal(tt.want.ExpiresAt) {
				t.Errorf("VerifyIdentity = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("short secret is a server error", func(t *testing.T) {
		_, err := VerifyIdentity([]byte("short"), good, t0)
		if code := models.ErrorCode(err); code != models.EINTERNAL {
			t.Errorf("code %q, want %s", code, models.EINTERNAL)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func FuzzVerifyIdentity(f *testing.F) {
	signed := map[string]bool{}
	for _, id := range []Identity{
		{ID: "cust-42", Name: "Zoë", Email: "zoe@example.com", ExpiresAt: t0.Add(time.Hour)},
		{ID: "7", ExpiresAt: t0.Add(time.Minute)},
	} {
		s := SignIdentity(identitySecret, id)
		signed[s] = true
		f.Add(s)
		f.Add(flipTrailingBits(s))
	}
	f.Add("")
	f.Add("v1..")
	f.Add("v1.e30.")
	f.Fuzz(func(t *testing.T, sig string) {
		id, err := VerifyIdentity(identitySecret, sig, t0)
		if err == nil {
			if !signed[sig] {
				t.Fatalf("VerifyIdentity accepted %q, which was never signed -> %+v", sig, id)
			}
			return
		}
		if code := models.ErrorCode(err); code != models.EUNAUTHORIZED {
			t.Fatalf("VerifyIdentity(%q) code %q, want %s", sig, code, models.EUNAUTHORIZED)
		}
	})
}

func TestSigner(t *testing.T) {
	master := testKey(3)
	s, err := NewSigner(master, "attachment")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSigner(master, "something-else")
	if err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour)
	sig := s.Sign("/files/abc.png", exp)
	tests := []struct {
		name    string
		signer  *Signer
		payload string
		sig     string
		at      time.Time
		ok      bool
	}{
		{"good", s, "/files/abc.png", sig, t0, true},
		{"last second", s, "/files/abc.png", sig, exp.Add(-time.Second), true},
		{"expired", s, "/files/abc.png", sig, exp, false},
		{"other payload", s, "/files/abd.png", sig, t0, false},
		{"other purpose", other, "/files/abc.png", sig, t0, false},
		{"exp moved later", s, "/files/abc.png", itoa(exp.Add(time.Hour).Unix()) + sig[strings.IndexByte(sig, '.'):], t0, false},
		{"exp with a leading zero", s, "/files/abc.png", "0" + sig, t0, false},
		{"trailing bits changed", s, "/files/abc.png", flipTrailingBits(sig), t0, false},
		{"no dot", s, "/files/abc.png", strings.ReplaceAll(sig, ".", ""), t0, false},
		{"empty", s, "/files/abc.png", "", t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.signer.Verify(tt.payload, tt.sig, tt.at)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if code := models.ErrorCode(err); code != models.EUNAUTHORIZED {
				t.Fatalf("Verify = %v, want %s", err, models.EUNAUTHORIZED)
			}
		})
	}
	if _, err := NewSigner(master[:31], "x"); err == nil {
		t.Errorf("NewSigner accepted a 31-byte key")
	}
	if _, err := NewSigner(master, ""); err == nil {
		t.Errorf("NewSigner accepted an empty purpose")
	}
}
