package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes of the opaque secrets. They make a leaked secret recognisable
// (and greppable by secret scanners) and keep the kinds apart.
const (
	VisitorPrefix = "kv_"
	RefreshPrefix = "kr_"
)

const (
	secretBytes = 32
	// secretChars is the length of secretBytes in unpadded base64.
	secretChars = (secretBytes*8 + 5) / 6
)

// NewSecret returns a new secret, prefix followed by 32 random bytes in
// base64url, and the hash to store for it (see HashSecret).
func NewSecret(prefix string) (token string, hash string) {
	var b [secretBytes]byte
	rand.Read(b[:]) // never fails (Go ≥ 1.24 crashes the program instead)
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashSecret(token)
}

// HashSecret returns the hex SHA-256 of token, the form in which secrets
// are stored and looked up. A fast hash is enough: the secret carries 256
// random bits, so there is nothing to guess.
func HashSecret(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidSecretFormat reports whether token has the shape NewSecret(prefix)
// gives: the prefix, then exactly 43 base64url characters that are the
// canonical encoding of 32 bytes. It is a cheap check to run before any
// database lookup; it says nothing about whether the secret is known.
func ValidSecretFormat(prefix, token string) bool {
	if prefix == "" || len(token) != len(prefix)+secretChars || !strings.HasPrefix(token, prefix) {
		return false
	}
	body := token[len(prefix):]
	for j := 0; j < len(body); j++ {
		if !isBase64URL(body[j]) {
			return false
		}
	}
	// 43 characters carry 258 bits; NewSecret leaves the 2 bits past the
	// 256th zero, so a string with them set was not made by it.
	return strings.IndexByte(base64URLAlphabet, body[len(body)-1])%4 == 0
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
