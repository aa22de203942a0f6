package auth

import (
	"crypto/rand"

	"golang.org/x/crypto/bcrypt"

	"github.com/kefu-chat/kefu/models"
)

const (
	// PasswordCost is the bcrypt cost of stored passwords.
	PasswordCost = 12
	// MinPasswordBytes and MaxPasswordBytes bound a password's length in
	// bytes (UTF-8): bcrypt ignores everything past byte 72.
	MinPasswordBytes = 10
	MaxPasswordBytes = 72

	// passwordAlphabet leaves out characters that are easy to misread
	// (0 O o, 1 l I) in a password read off a terminal.
	passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	generatedLength  = 20

	// dummyHash is a cost-12 bcrypt hash of a password nobody uses.
	// DummyCheck compares against it so that a login naming an unknown
	// e-mail costs as much as one naming a known one.
	dummyHash = "$2a$12$79Tfml/DfBNTwZla/sGRCOCOGGJfqdNOvysxWEO73xgrD3XXrF.aC"
)

// HashPassword returns the bcrypt hash (cost PasswordCost) of pw. EINVALID
// if pw is shorter than MinPasswordBytes or longer than MaxPasswordBytes.
func HashPassword(pw string) (string, error) {
	return hashPassword(pw, PasswordCost)
}

func hashPassword(pw string, cost int) (string, error) {
	if err := checkPasswordLength(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", models.Internal(err, "hash password")
	}
	return string(h), nil
}

func checkPasswordLength(pw string) error {
	switch {
	case len(pw) < MinPasswordBytes:
		return models.Errorf(models.EINVALID, "password is too short: it needs at least %d characters", MinPasswordBytes)
	case len(pw) > MaxPasswordBytes:
		return models.Errorf(models.EINVALID, "password is too long: at most %d bytes (letters outside English count as 2 to 4 bytes each)", MaxPasswordBytes)
	}
	return nil
}

// CheckPassword reports whether pw matches hash, in time that does not
// depend on how much of it matches. Passwords over MaxPasswordBytes never
// match: HashPassword refuses them, and bcrypt would only compare a prefix.
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

// DummyCheck spends the time CheckPassword spends on a real hash, and
// always fails. Call it when a login names no known agent, so the answer's
// timing does not tell whether the e-mail exists.
func DummyCheck(pw string) {
	CheckPassword(dummyHash, pw)
}

// GeneratePassword returns a random 20-character password from an
// unambiguous alphabet of 56 characters (about 116 bits), for the first admin
// and for passwords an admin resets.
func GeneratePassword() string {
	out := make([]byte, 0, generatedLength)
	var buf [32]byte
	for len(out) < generatedLength {
		rand.Read(buf[:]) // never fails (Go ≥ 1.24 crashes the program instead)
		for _, b := range buf {
			// Rejection sampling keeps every character equally likely:
			// 224 is the largest multiple of 56 not above 256.
			if int(b) < 256-256%len(passwordAlphabet) && len(out) < generatedLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out)
}
