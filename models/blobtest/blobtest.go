// Package blobtest is the contract suite of models.BlobStore: Run checks
// every promise of its doc comment against any implementation (blobfs, the
// folder; sqlstore.Blobs, the database, on SQLite and PostgreSQL), which
// runs it unchanged.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-chat/kefu/models"
)

// Run checks the stores open returns. Every subtest gets a fresh, empty
// store. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) models.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s models.BlobStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"InvalidKeys", testInvalidKeys},
		{"NotFound", testNotFound},
		{"NoOverwrite", testNoOverwrite},
		{"ConcurrentPutsOneKey", testConcurrentPuts},
		{"FailedReaderStoresNothing", testFailedReader},
		{"CancelledStoresNothing", testCancelled},
		{"Delete", testDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// MustPut stores data under key.
func MustPut(tb testing.TB, s models.BlobStore, key string, data []byte) {
	tb.Helper()
	n, err := s.Put(context.Background(), key, bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("Put(%s): %v", key, err)
	}
	if n != int64(len(data)) {
		tb.Fatalf("Put(%s) = %d bytes, want %d", key, n, len(data))
	}
}

// MustRead returns the blob under key.
func MustRead(tb testing.TB, s models.BlobStore, key string) []byte {
	tb.Helper()
	r, err := s.Open(context.Background(), key)
	if err != nil {
		tb.Fatalf("Open(%s): %v", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		tb.Fatalf("reading %s: %v", key, err)
	}
	return data
}

func wantCode(tb testing.TB, what string, err error, want models.Code) {
	tb.Helper()
	if got := models.ErrorCode(err); got != want {
		tb.Errorf("%s: error code %q (%v), want %q", what, got, err, want)
	}
}

func wantMissing(tb testing.TB, s models.BlobStore, key string) {
	tb.Helper()
	r, err := s.Open(context.Background(), key)
	if err == nil {
		r.Close()
		tb.Fatalf("Open(%s) found a blob, want none", key)
	}
	wantCode(tb, "Open of a missing blob", err, models.ENOTFOUND)
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func testRoundTrip(t *testing.T, s models.BlobStore) {
	for _, tc := range []struct {
		name, key string
		size      int
	}{
		{"empty", "empty", 0},
		{"small", "a-Small_key-1", 10},
		{"large", strings.Repeat("k", 128), 3<<20 + 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := random(tc.size)
			MustPut(t, s, tc.key, data)
			if got := MustRead(t, s, tc.key); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, differ from the %d stored", len(got), len(data))
			}
		})
	}
}

func testInvalidKeys(t *testing.T, s models.BlobStore) {
	ctx := context.Background()
	for _, key := range []string{"", "../escape", "a/b", `a\b`, "dot.dot", "sp ace", "nul\x00", strings.Repeat("k", 129), "ünï"} {
		_, err := s.Put(ctx, key, strings.NewReader("x"))
		wantCode(t, fmt.Sprintf("Put(%q)", key), err, models.EINVALID)
		_, err = s.Open(ctx, key)
		wantCode(t, fmt.Sprintf("Open(%q)", key), err, models.EINVALID)
		wantCode(t, fmt.Sprintf("Delete(%q)", key), s.Delete(ctx, key), models.EINVALID)
	}
}

func testNotFound(t *testing.T, s models.BlobStore) {
	wantMissing(t, s, "never-stored")
}

func testNoOverwrite(t *testing.T, s models.BlobStore) {
	MustPut(t, s, "once", []byte("first"))
	_, err := s.Put(context.Background(), "once", strings.NewReader("second"))
	wantCode(t, "second Put of a key", err, models.ECONFLICT)
	if got := string(MustRead(t, s, "once")); got != "first" {
		t.Fatalf("after refused overwrite: %q, want %q", got, "first")
	}
}

func testConcurrentPuts(t *testing.T, s models.BlobStore) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	datas := make([][]byte, n)
	for i := range n {
		datas[i] = random(64 << 10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Put(context.Background(), "contended", bytes.NewReader(datas[i]))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch models.ErrorCode(err) {
		case "":
			if won >= 0 {
				t.Fatalf("Puts %d and %d of one key both succeeded", won, i)
			}
			won = i
		case models.ECONFLICT:
		default:
			t.Errorf("Put %d: %v, want success or conflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no Put of the key succeeded")
	}
	if got := MustRead(t, s, "contended"); !bytes.Equal(got, datas[won]) {
		t.Fatal("stored bytes are not those of the Put that succeeded")
	}
}

// failingReader yields some bytes, then fails with err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testFailedReader(t *testing.T, s models.BlobStore) {
	t.Run("plain error comes back unchanged", func(t *testing.T) {
		cause := errors.New("network cut mid-upload")
		_, err := s.Put(context.Background(), "cut", &failingReader{random(100 << 10), cause})
		if !errors.Is(err, cause) {
			t.Fatalf("Put = %v, want the reader's error", err)
		}
		wantMissing(t, s, "cut")
	})
	t.Run("coded error keeps its code", func(t *testing.T) {
		_, err := s.Put(context.Background(), "toolarge", &failingReader{random(10), models.Errorf(models.ETOOLARGE, "over the limit")})
		wantCode(t, "Put with a limiting reader", err, models.ETOOLARGE)
		wantMissing(t, s, "toolarge")
	})
	t.Run("the key is free again", func(t *testing.T) {
		MustPut(t, s, "cut", []byte("retried"))
		if got := string(MustRead(t, s, "cut")); got != "retried" {
			t.Fatalf("after retry: %q", got)
		}
	})
}

// cancelReader cancels the upload's context after its data, and goes on
// yielding bytes, as a client would.
type cancelReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.cancel() // cancelled mid-stream; the reader itself keeps going
		return copy(p, "more"), nil
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

func testCancelled(t *testing.T, s models.BlobStore) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := s.Put(ctx, "cancelled", &cancelReader{data: random(10 << 10), cancel: cancel})
	if err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	wantMissing(t, s, "cancelled")
}

func testDelete(t *testing.T, s models.BlobStore) {
	ctx := context.Background()
	MustPut(t, s, "doomed", []byte("bytes"))
	if err := s.Delete(ctx, "doomed"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, "doomed")
	if err := s.Delete(ctx, "doomed"); err != nil {
		t.Fatalf("second Delete: %v, want nil", err)
	}
	MustPut(t, s, "doomed", []byte("again"))
	if got := string(MustRead(t, s, "doomed")); got != "again" {
		t.Fatalf("after delete and put: %q", got)
	}
}
