package sqlstore

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kefu-chat/kefu/models"
)

// BlobChunkSize is the most bytes one row of blob_chunks holds. A 10 MiB
// attachment is ten rows: small enough for any driver's buffers, few
// enough that a download is a handful of queries.
const BlobChunkSize = 1 << 20

// blobRow is one stored blob. Its chunks hang from ID, not from Key: a
// blob deleted and stored again under the same key gets a new ID, so a
// reader of the old one can never be handed the new one's chunks.
type blobRow struct {
	Key       string    `gorm:"column:blob_key;primaryKey;size:128"`
	ID        string    `gorm:"size:36;not null;uniqueIndex"`
	Size      int64     `gorm:"not null"`
	Chunks    int       `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (blobRow) TableName() string { return "blobs" }

// blobChunk is bytes [Idx×BlobChunkSize, …) of the blob BlobID.
type blobChunk struct {
	BlobID string `gorm:"primaryKey;size:36"`
	Idx    int    `gorm:"primaryKey;autoIncrement:false"`
	Data   []byte `gorm:"not null"`
}

func (blobChunk) TableName() string { return "blob_chunks" }

// blobTables are the tables of the database blob store; they are migrated
// with the others whether or not KEFU_BLOBS=db, and stay empty if not.
func blobTables() []any { return []any{&blobRow{}, &blobChunk{}} }

// Blobs is a models.BlobStore in the database: what several instances use
// when they share no folder (KEFU_BLOBS=db). A Put reads the whole blob
// first (attachments are at most KEFU_MAX_ATTACHMENT_BYTES, and the HTTP
// body is in memory already), then stores the blob's row and its chunks in
// one transaction: a failed or cancelled upload stores nothing, and the
// unique key makes two Puts of one key unable to both win, on one instance
// or several. Open reads the row and the first chunk at once and the others
// as the reader asks for them. It is safe for concurrent use.
type Blobs struct{ s *Store }

var _ models.BlobStore = (*Blobs)(nil)

// Blobs returns the blob store on s's database.
func (s *Store) Blobs() *Blobs { return &Blobs{s: s} }

func checkBlobKey(key string) error {
	if !models.ValidBlobKey(key) {
		return models.Errorf(models.EINVALID, "invalid blob key")
	}
	return nil
}

// Put implements models.BlobStore.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkBlobKey(key); err != nil {
		return 0, err
	}
	if ctx.Err() != nil {
		return 0, models.Errorf(models.EUNAVAILABLE, "upload cancelled")
	}
	var exists int64
	if err := b.s.db.WithContext(ctx).Model(&blobRow{}).Where("blob_key = ?", key).Count(&exists).Error; err != nil {
		return 0, b.s.mapErr(err, "store blob")
	}
	if exists > 0 {
		return 0, models.Errorf(models.ECONFLICT, "a blob with this key exists")
	}
	chunks, size, err := readChunks(ctx, r)
	if err != nil {
		return 0, err
	}
	row := blobRow{Key: key, ID: uuid.NewString(), Size: size, Chunks: len(chunks), CreatedAt: time.Now().UTC()}
	err = b.s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		for i, data := range chunks {
			if err := tx.Create(&blobChunk{BlobID: row.ID, Idx: i, Data: data}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return 0, models.Errorf(models.EUNAVAILABLE, "upload cancelled")
		}
		if isUnique(err) {
			return 0, models.Errorf(models.ECONFLICT, "a blob with this key exists")
		}
		return 0, b.s.mapErr(err, "store blob")
	}
	return size, nil
}

// readChunks reads r to its end in chunks of BlobChunkSize. A failing
// reader's error comes back unchanged (an *models.Error keeps its code);
// a cancelled ctx stops the reading with EUNAVAILABLE.
func readChunks(ctx context.Context, r io.Reader) ([][]byte, int64, error) {
	var chunks [][]byte
	var size int64
	for eof := false; !eof; {
		buf := make([]byte, BlobChunkSize)
		n := 0
		for n < len(buf) {
			if ctx.Err() != nil {
				return nil, 0, models.Errorf(models.EUNAVAILABLE, "upload cancelled")
			}
			m, err := r.Read(buf[n:])
			n += m
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return nil, 0, err
			}
		}
		if n > 0 {
			if n < len(buf)/2 {
				buf = append([]byte(nil), buf[:n]...) // do not hold a mostly empty MiB
			}
			chunks = append(chunks, buf[:n:n])
			size += int64(n)
		}
	}
	return chunks, size, nil
}

// Open implements models.BlobStore.
func (b *Blobs) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkBlobKey(key); err != nil {
		return nil, err
	}
	var row blobRow
	if err := b.s.db.WithContext(ctx).Where("blob_key = ?", key).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, models.Errorf(models.ENOTFOUND, "no such blob")
		}
		return nil, b.s.mapErr(err, "open blob")
	}
	// The reader outlives the request that opened it (the HTTP response
	// is streamed after the handler returns), so its later reads get a
	// context of their own.
	br := &blobReader{b: b, row: row, ctx: context.WithoutCancel(ctx)}
	if row.Chunks > 0 {
		if err := br.load(ctx); err != nil {
			return nil, err
		}
	}
	return br, nil
}

// blobReadTimeout bounds reading one chunk after Open.
const blobReadTimeout = 30 * time.Second

// blobReader reads a blob's chunks in order, one query per chunk.
type blobReader struct {
	b    *Blobs
	row  blobRow
	ctx  context.Context
	next int    // the next chunk to load
	buf  []byte // what is left of the loaded chunk
}

func (r *blobReader) load(ctx context.Context) error {
	var c blobChunk
	err := r.b.s.db.WithContext(ctx).Where("blob_id = ? AND idx = ?", r.row.ID, r.next).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		// Deleted while being read: the bytes are gone.
		return models.Errorf(models.ENOTFOUND, "the blob was deleted while being read")
	}
	if err != nil {
		return r.b.s.mapErr(err, "read blob")
	}
	r.buf = c.Data
	r.next++
	return nil
}

func (r *blobReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next >= r.row.Chunks {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(r.ctx, blobReadTimeout)
		err := r.load(ctx)
		cancel()
		if err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *blobReader) Close() error {
	r.buf, r.next = nil, r.row.Chunks
	return nil
}

// Delete implements models.BlobStore.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	if err := checkBlobKey(key); err != nil {
		return err
	}
	err := b.s.tx(ctx, func(tx *gorm.DB) error {
		var row blobRow
		err := b.s.forUpdate(tx).Where("blob_key = ?", key).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := tx.Where("blob_id = ?", row.ID).Delete(&blobChunk{}).Error; err != nil {
			return err
		}
		return tx.Where("blob_key = ?", key).Delete(&blobRow{}).Error
	})
	return b.s.mapErr(err, "delete blob")
}
