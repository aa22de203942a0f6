package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kefu-chat/kefu/models"
)

// cutReader yields n bytes, then fails.
type cutReader struct{ n int }

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), c.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	c.n -= k
	return k, nil
}

// TestFailedBlobPutLeavesNoRows checks the tables themselves: a cut
// upload, a cancelled one, and one refused for its key leave no row and no
// chunk behind, however many chunks were read before.
func TestFailedBlobPutLeavesNoRows(t *testing.T) {
	s, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "kefu.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b := s.Blobs()
	if _, err := b.Put(t.Context(), "cut", &cutReader{n: 3*BlobChunkSize + 1}); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Put(ctx, "cancelled", strings.NewReader("bytes")); models.ErrorCode(err) != models.EUNAVAILABLE {
		t.Fatalf("cancelled Put: %v", err)
	}
	if _, err := b.Put(t.Context(), "bad key", strings.NewReader("bytes")); models.ErrorCode(err) != models.EINVALID {
		t.Fatalf("Put with a bad key: %v", err)
	}
	for _, table := range []string{"blobs", "blob_chunks"} {
		var n int64
		if err := s.db.Table(table).Count(&n).Error; err != nil || n != 0 {
			t.Errorf("%s holds %d rows (%v) after failed Puts, want none", table, n, err)
		}
	}
}
