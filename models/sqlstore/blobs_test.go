package sqlstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"path/filepath"
	"testing"

	"github.com/kefu-chat/kefu/internal/testenv"
	"github.com/kefu-chat/kefu/models"
	"github.com/kefu-chat/kefu/models/blobtest"
	"github.com/kefu-chat/kefu/models/sqlstore"
)

func openSQLiteFile(t *testing.T, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteBlobContract(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) models.BlobStore {
		return openSQLiteFile(t, filepath.Join(t.TempDir(), "kefu.db")).Blobs()
	})
}

func TestPostgresBlobContract(t *testing.T) {
	t.Parallel()
	testenv.Postgres(t)
	blobtest.Run(t, func(t *testing.T) models.BlobStore { return openPostgres(t).Blobs() })
}

// TestBlobsAcrossHandles: what one handle on the database stores (one Kefu
// instance), another reads and deletes; on one SQLite file, and on one
// PostgreSQL schema when there is one.
func TestBlobsAcrossHandles(t *testing.T) {
	t.Parallel()
	pairs := map[string]func(t *testing.T) (a, b *sqlstore.Store){
		"sqlite": func(t *testing.T) (a, b *sqlstore.Store) {
			path := filepath.Join(t.TempDir(), "kefu.db")
			return openSQLiteFile(t, path), openSQLiteFile(t, path)
		},
		"postgres": func(t *testing.T) (a, b *sqlstore.Store) {
			dsn := freshSchema(t)
			open := func() *sqlstore.Store {
				s, err := sqlstore.Open(t.Context(), dsn, nil)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(), open()
		},
	}
	for name, pair := range pairs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := pair(t)
			data := make([]byte, 2*sqlstore.BlobChunkSize+5)
			rand.Read(data)
			blobtest.MustPut(t, a.Blobs(), "shared", data)
			if got := blobtest.MustRead(t, b.Blobs(), "shared"); !bytes.Equal(got, data) {
				t.Fatalf("the other handle read %d bytes, not the %d stored", len(got), len(data))
			}
			_, err := b.Blobs().Put(t.Context(), "shared", bytes.NewReader([]byte("other")))
			if models.ErrorCode(err) != models.ECONFLICT {
				t.Errorf("Put of a key the other handle stored: %v, want conflict", err)
			}
			if err := b.Blobs().Delete(t.Context(), "shared"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Blobs().Open(t.Context(), "shared"); models.ErrorCode(err) != models.ENOTFOUND {
				t.Errorf("Open after the other handle deleted: %v, want not found", err)
			}
		})
	}
}

// TestBlobReaderNeverMixesBlobs: a blob deleted and stored again under its
// key while a reader of the old one is open: the reader fails rather than
// hand out the new blob's bytes as the rest of the old one.
func TestBlobReaderNeverMixesBlobs(t *testing.T) {
	t.Parallel()
	s := openSQLiteFile(t, filepath.Join(t.TempDir(), "kefu.db")).Blobs()
	old := bytes.Repeat([]byte("o"), 3*sqlstore.BlobChunkSize)
	blobtest.MustPut(t, s, "k", old)
	r, err := s.Open(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := make([]byte, 10)
	if _, err := io.ReadFull(r, first); err != nil || string(first) != "oooooooooo" {
		t.Fatalf("first bytes %q, %v", first, err)
	}
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	blobtest.MustPut(t, s, "k", bytes.Repeat([]byte("n"), 3*sqlstore.BlobChunkSize))
	rest, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("the old reader read on after its blob was deleted (%d more bytes)", len(rest))
	}
	if bytes.Contains(rest, []byte("n")) {
		t.Fatal("the old reader returned bytes of the new blob")
	}
}
