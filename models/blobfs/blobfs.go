// Package blobfs is a models.BlobStore in a folder of the local file
// system: Kefu's default, in the data folder. Each blob is one file named
// after its key. A blob is written to a temporary file in the same folder,
// synced, and then hard-linked under its key, which is atomic and never
// replaces an existing file; so a crash or a failed upload leaves at worst
// a temporary file, which Open removes the next time once it is old.
//
// A Store is safe for concurrent use, and several processes may share one
// folder (the link is what makes two Puts of one key unable to both win).
package blobfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/models"
)

var _ models.BlobStore = (*Store)(nil)

// tmpPrefix marks temporary files. Keys cannot contain '.', so no key
// ever collides with one.
const tmpPrefix = ".tmp."

// staleTmp is how old a temporary file must be before Open removes it:
// old enough that no upload of another process sharing the folder is still
// writing it.
const staleTmp = time.Hour

// Store keeps blobs in one folder.
type Store struct {
	dir string
}

// Open returns a Store in dir, creating the folder (mode 0700) if needed,
// and removes temporary files left by crashed uploads.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, models.Errorf(models.EINVALID, "blob folder is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, models.Internal(err, "create blob folder")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, models.Internal(err, "read blob folder")
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTmp {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return &Store{dir: dir}, nil
}

// Dir returns the folder the blobs are in.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(key string) (string, error) {
	if !models.ValidBlobKey(key) {
		return "", models.Errorf(models.EINVALID, "invalid blob key")
	}
	return filepath.Join(s.dir, key), nil
}

// Put writes r to a temporary file, syncs it, and links it under key.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	final, err := s.path(key)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, models.Errorf(models.EUNAVAILABLE, "upload cancelled")
	}
	if _, err := os.Lstat(final); err == nil {
		return 0, models.Errorf(models.ECONFLICT, "a blob with this key exists")
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(s.dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, models.Internal(err, "create blob file")
	}
	// The temporary file goes whatever happens: on success it lives on
	// under its key, through the link.
	defer os.Remove(tmp)
	n, err := io.Copy(fileWriter{f}, ctxReader{ctx, r})
	if err != nil {
		f.Close()
		var me *models.Error
		if errors.As(err, &me) {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, models.Errorf(models.EUNAVAILABLE, "upload cancelled")
		}
		if errors.Is(err, errWrite) {
			return 0, models.Internal(err, "write blob")
		}
		return 0, err // the reader's own error, unchanged
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, models.Internal(err, "sync blob")
	}
	if err := f.Close(); err != nil {
		return 0, models.Internal(err, "close blob")
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, models.Errorf(models.ECONFLICT, "a blob with this key exists")
		}
		return 0, models.Internal(err, "store blob")
	}
	// Make the new name durable too: without syncing the folder a crash
	// could lose the link although Put returned nil.
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}

// errWrite marks a failure of the file rather than of the reader. io.Copy
// does not say which side failed, so the file is wrapped to tell.
var errWrite = errors.New("blobfs: write failed")

type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%w: %v", errWrite, err)
	}
	return n, err
}

// ctxReader stops reading once ctx is done, so a cancelled upload stops
// at the next read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open opens the blob's file.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, models.Errorf(models.ENOTFOUND, "no such blob")
	}
	if err != nil {
		return nil, models.Internal(err, "open blob")
	}
	return f, nil
}

// Delete removes the blob's file.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return models.Internal(err, "delete blob")
	}
	return nil
}
