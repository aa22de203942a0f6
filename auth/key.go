package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name of the access-token key inside the data folder.
const KeyFile = "jwt.key"

const generatedKeyBytes = 64

// LoadOrCreateKey returns the access-token key kept in dataDir/jwt.key (64
// random bytes, base64), making the folder (0700) and the key (0600) the
// first time. Creation is atomic and never replaces a key: callers racing
// to create it, in this process or others, all end up with the one key that
// landed first. A file that exists but does not hold at least MinKeyBytes of
// base64 is an error, never silently replaced — every signed-in agent would
// be logged out.
func LoadOrCreateKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: create data folder: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, ".jwt.key.*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("auth: create key: %w", err)
	}
	defer os.Remove(tmp.Name())
	var b [generatedKeyBytes]byte
	rand.Read(b[:]) // never fails (Go ≥ 1.24 crashes the program instead)
	_, werr := tmp.WriteString(base64.StdEncoding.EncodeToString(b[:]) + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("auth: write key: %w", werr)
	}
	// A hard link, unlike rename, fails when the target exists, so a key
	// another caller put there first is kept and read back below. The file
	// appears complete or not at all.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		// No hard links on this file system: fall back to rename, which is
		// still atomic but may replace a key created at the same instant.
		if _, serr := os.Stat(path); !errors.Is(serr, fs.ErrNotExist) {
			return readKey(path)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("auth: install key: %w", err)
		}
	}
	if d, err := os.Open(dataDir); err == nil {
		d.Sync() // make the new name durable; best effort
		d.Close()
	}
	return readKey(path)
}

func readKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("auth: %s is not base64: %w", path, err)
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("auth: %s holds %d bytes, need at least %d", path, len(key), MinKeyBytes)
	}
	return key, nil
}
