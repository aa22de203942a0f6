package auth

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	t.Run("creates folder and key", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data", "nested")
		key, err := LoadOrCreateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != 64 {
			t.Errorf("len(key) = %d, want 64", len(key))
		}
		st, err := os.Stat(filepath.Join(dir, KeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("key file mode %v, want 0600", got)
		}
		dst, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := dst.Mode().Perm(); got != 0o700 {
			t.Errorf("folder mode %v, want 0700", got)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("folder holds %d entries, want only %s (temp file left behind?)", len(entries), KeyFile)
		}
		again, err := LoadOrCreateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(key, again) {
			t.Errorf("second call returned a different key")
		}
		if _, err := NewIssuer(key, testURL, 0, nil); err != nil {
			t.Errorf("the key does not make an Issuer: %v", err)
		}
	})

	t.Run("reuses an existing key", func(t *testing.T) {
		dir := t.TempDir()
		want := testKey(7)[:48]
		if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("  "+b64(want)+"\n\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadOrCreateKey(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("key = %x, want %x", got, want)
		}
	})

	t.Run("never replaces a bad key", func(t *testing.T) {
		for name, content := range map[string]string{
			"not base64": "this is not base64!",
			"too short":  b64(testKey(1)[:31]),
			"empty":      "",
		} {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, KeyFile)
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				if key, err := LoadOrCreateKey(dir); err == nil {
					t.Fatalf("LoadOrCreateKey = %x, want an error", key)
				}
				if b, _ := os.ReadFile(path); string(b) != content {
					t.Errorf("the key file was changed to %q", b)
				}
			})
		}
	})

	t.Run("concurrent callers get the same key", func(t *testing.T) {
		for round := 0; round < 20; round++ {
			dir := filepath.Join(t.TempDir(), "data")
			const n = 8
			keys := make([][]byte, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					keys[i], errs[i] = LoadOrCreateKey(dir)
				}()
			}
			close(start)
			wg.Wait()
			for i := 0; i < n; i++ {
				if errs[i] != nil {
					t.Fatalf("round %d caller %d: %v", round, i, errs[i])
				}
				if !bytes.Equal(keys[i], keys[0]) {
					t.Fatalf("round %d: caller %d got another key than caller 0", round, i)
				}
			}
			onDisk, err := LoadOrCreateKey(dir)
			if err != nil || !bytes.Equal(onDisk, keys[0]) {
				t.Fatalf("round %d: the key on disk is not the one the callers got", round)
			}
		}
	})

}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
