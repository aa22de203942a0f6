package auth

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewSecret(t *testing.T) {
	for _, prefix := range []string{VisitorPrefix, RefreshPrefix} {
		t.Run(prefix, func(t *testing.T) {
			seen := map[string]bool{}
			for i := 0; i < 1000; i++ {
				tok, hash := NewSecret(prefix)
				if !ValidSecretFormat(prefix, tok) {
					t.Fatalf("NewSecret(%q) = %q, not ValidSecretFormat", prefix, tok)
				}
				if got, want := len(tok), len(prefix)+43; got != want {
					t.Fatalf("len = %d, want %d", got, want)
				}
				raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, prefix))
				if err != nil || len(raw) != 32 {
					t.Fatalf("body of %q: %d bytes, %v; want 32", tok, len(raw), err)
				}
				if hash != HashSecret(tok) {
					t.Fatalf("hash %q != HashSecret %q", hash, HashSecret(tok))
				}
				if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 || strings.ToLower(hash) != hash {
					t.Fatalf("hash %q is not 64 lower-case hex digits", hash)
				}
				if seen[tok] {
					t.Fatalf("NewSecret repeated %q", tok)
				}
				seen[tok] = true
			}
		})
	}
	t.Run("kinds are apart", func(t *testing.T) {
		v, _ := NewSecret(VisitorPrefix)
		r, _ := NewSecret(RefreshPrefix)
		if ValidSecretFormat(RefreshPrefix, v) || ValidSecretFormat(VisitorPrefix, r) {
			t.Errorf("a secret passed for the other kind")
		}
	})
	t.Run("hash is of the whole token", func(t *testing.T) {
		// Known answer: SHA-256("kv_abc").
		if got, want := HashSecret("kv_abc"), "8eabca433984085efa5f20e658d718e6c2fa34efc6174e19b26b78edc6715a4f"; got != want {
			t.Fatalf("HashSecret = %s, want %s", got, want)
		}
		if HashSecret("kv_abc") == HashSecret("kr_abc") {
			t.Errorf("prefix not hashed")
		}
	})
}

func TestValidSecretFormat(t *testing.T) {
	good, _ := NewSecret(VisitorPrefix)
	body := good[3:]
	tests := []struct {
		name   string
		prefix string
		token  string
		want   bool
	}{
		{"fresh", VisitorPrefix, good, true},
		{"all A", VisitorPrefix, "kv_" + strings.Repeat("A", 43), true},
		{"last char with low bits set", VisitorPrefix, "kv_" + strings.Repeat("A", 42) + "B", false},
		{"wrong prefix", RefreshPrefix, good, false},
		{"no prefix", VisitorPrefix, body, false},
		{"empty prefix asked", "", body, false},
		{"short", VisitorPrefix, good[:len(good)-1], false},
		{"long", VisitorPrefix, good + "A", false},
		{"plus", VisitorPrefix, "kv_+" + body[1:], false},
		{"slash", VisitorPrefix, "kv_/" + body[1:], false},
		{"padding", VisitorPrefix, "kv_" + body[1:] + "=", false},
		{"newline", VisitorPrefix, "kv_\n" + body[1:], false},
		{"non-ASCII", VisitorPrefix, "kv_é" + body[2:], false},
		{"access token shape", VisitorPrefix, "kv_" + body[:20] + "." + body[21:], false},
		{"empty", VisitorPrefix, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidSecretFormat(tt.prefix, tt.token); got != tt.want {
				t.Errorf("ValidSecretFormat(%q, %q) = %v, want %v", tt.prefix, tt.token, got, tt.want)
			}
		})
	}
}

// canonicalSecret is ValidSecretFormat written the slow, obvious way: the
// oracle the fuzz target compares against.
func canonicalSecret(prefix, token string) bool {
	if prefix == "" || !strings.HasPrefix(token, prefix) {
		return false
	}
	body := token[len(prefix):]
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	return err == nil && len(raw) == 32 && base64.RawURLEncoding.EncodeToString(raw) == body
}

func FuzzValidSecretFormat(f *testing.F) {
	v, _ := NewSecret(VisitorPrefix)
	r, _ := NewSecret(RefreshPrefix)
	for _, s := range []string{v, r, "", "kv_", "kv_" + strings.Repeat("A", 42) + "B", v[:20] + "\n" + v[20:], v + "=", "eyJ.eyJ.sig"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, prefix := range []string{VisitorPrefix, RefreshPrefix} {
			if got, want := ValidSecretFormat(prefix, s), canonicalSecret(prefix, s); got != want {
				t.Fatalf("ValidSecretFormat(%q, %q) = %v, want %v", prefix, s, got, want)
			}
		}
	})
}
