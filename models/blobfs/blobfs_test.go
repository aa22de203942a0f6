package blobfs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/blobfs"
	"github.com/kefu-chat/kefu/models/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) models.BlobStore {
		s, err := blobfs.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestFailedPutLeavesNoFile checks the folder itself: a failed upload
// leaves no file at all, not even a temporary one.
func TestFailedPutLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s, err := blobfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &failing{data: bytes.Repeat([]byte("x"), 100<<10)}
	if _, err := s.Put(context.Background(), "k", r); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("folder holds %d entries after a failed Put, want 0 (first %q)", len(entries), entries[0].Name())
	}
}

type failing struct{ data []byte }

func (f *failing) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("cut")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestOpenRemovesStaleTemporaries: what a crash mid-upload left is cleaned
// up once old, and a fresh one (maybe another process's live upload) kept.
func TestOpenRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".tmp.stale")
	fresh := filepath.Join(dir, ".tmp.fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := blobfs.Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

func TestKeysCannotEscapeTheFolder(t *testing.T) {
	parent := t.TempDir()
	s, err := blobfs.Open(filepath.Join(parent, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(context.Background(), "../outside", strings.NewReader("x"))
	if models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("Put(../outside) = %v, want EINVALID", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "outside")); !os.IsNotExist(err) {
		t.Fatal("a file was written outside the blob folder")
	}
}
