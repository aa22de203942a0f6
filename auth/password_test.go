package auth

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/kefu-chat/kefu/models"
)

func TestHashPassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"9 bytes", strings.Repeat("a", 9), false},
		{"empty", "", false},
		{"10 bytes", strings.Repeat("a", 10), true},
		{"72 bytes", strings.Repeat("a", 72), true},
		{"73 bytes", strings.Repeat("a", 73), false},
		{"4 CJK characters, 12 bytes", "密码密码", true},
		{"3 CJK characters, 9 bytes", "密码密", false},
		{"24 CJK characters, 72 bytes", strings.Repeat("密", 24), true},
		{"24 CJK characters and one letter, 73 bytes", strings.Repeat("密", 24) + "a", false},
		{"5 two-byte letters, 10 bytes", "ééééé", true},
		{"18 emoji, 72 bytes", strings.Repeat("🔑", 18), true},
		{"19 emoji, 76 bytes", strings.Repeat("🔑", 19), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The lowest cost keeps the table fast; TestPasswordCost
			// checks the real one.
			h, err := hashPassword(tt.pw, bcrypt.MinCost)
			if !tt.ok {
				if got := models.ErrorCode(err); got != models.EINVALID {
					t.Fatalf("hashPassword(%d bytes) = %q, %v; want %s", len(tt.pw), h, err, models.EINVALID)
				}
				if msg := models.ErrorMessage(err); !strings.Contains(msg, "password is too") {
					t.Errorf("message %q does not say what is wrong", msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("hashPassword(%d bytes): %v", len(tt.pw), err)
			}
			if !CheckPassword(h, tt.pw) {
				t.Errorf("CheckPassword(hash of pw, pw) = false")
			}
			if CheckPassword(h, tt.pw+"x") || CheckPassword(h, tt.pw[:len(tt.pw)-1]) {
				t.Errorf("CheckPassword accepted a different password")
			}
		})
	}
}

func TestCheckPasswordOver72(t *testing.T) {
	pw72 := strings.Repeat("k", 72)
	h, err := bcrypt.GenerateFromPassword([]byte(pw72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	pw73 := pw72 + "!"
	// bcrypt itself compares only the first 72 bytes; this is what
	// CheckPassword must not let through.
	if bcrypt.CompareHashAndPassword(h, []byte(pw73)) != nil {
		t.Fatalf("premise: bcrypt no longer truncates; this test needs rethinking")
	}
	if CheckPassword(string(h), pw73) {
		t.Errorf("CheckPassword accepted a 73-byte password whose first 72 bytes match")
	}
	if !CheckPassword(string(h), pw72) {
		t.Errorf("CheckPassword refused the 72-byte password")
	}
	if CheckPassword("not a hash", pw72) || CheckPassword("", pw72) {
		t.Errorf("CheckPassword accepted a malformed hash")
	}
}

func TestPasswordCost(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for name, hash := range map[string]string{"HashPassword": h, "DummyCheck's hash": dummyHash} {
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != PasswordCost {
			// DummyCheck matches a real check's time only while both
			// hashes have the same cost.
			t.Errorf("%s: cost %d, %v; want %d", name, cost, err, PasswordCost)
		}
	}
	if _, err := HashPassword("short"); models.ErrorCode(err) != models.EINVALID {
		t.Errorf("HashPassword(short) = %v, want %s", err, models.EINVALID)
	}
	DummyCheck("correct horse battery") // must not panic; it has no result to check
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := 0; i < 500; i++ {
		pw := GeneratePassword()
		if len(pw) != 20 {
			t.Fatalf("len(%q) = %d, want 20", pw, len(pw))
		}
		for _, r := range pw {
			if !strings.ContainsRune(passwordAlphabet, r) || strings.ContainsRune("0O1lIo", r) {
				t.Fatalf("%q has %q, outside the unambiguous alphabet", pw, r)
			}
			counts[r]++
		}
		if seen[pw] {
			t.Fatalf("GeneratePassword repeated %q", pw)
		}
		seen[pw] = true
		if err := checkPasswordLength(pw); err != nil {
			t.Fatalf("a generated password is refused: %v", err)
		}
	}
	// 10,000 draws from 56 characters: each expected ~179 times. A
	// character never drawn means part of the alphabet is unreachable.
	if len(counts) != len(passwordAlphabet) {
		t.Errorf("%d of %d characters ever drawn", len(counts), len(passwordAlphabet))
	}
}
