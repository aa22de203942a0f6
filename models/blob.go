package models

import (
	"context"
	"io"
)

// BlobStore keeps the bytes of attachments, each under a key its caller
// chooses. It knows nothing of conversations or permissions: the
// Attachment row says whose a blob is, and the chat service decides who may
// read it. Blobs are immutable: once stored, a key's bytes never change.
//
// Contract (checked by blobtest.Run): Put is all or nothing — whatever
// fails (the reader, the disk, the context), nothing stays under key and
// no partial blob is ever visible to Open; once Put returns nil the blob
// survives a crash of the process. Implementations are safe for concurrent
// use, also by several processes sharing the same storage.
//
// Every method returns an *Error: EINVALID for a key that is empty, longer
// than 128 bytes, or has a byte outside [A-Za-z0-9_-]; the codes named
// below; EUNAVAILABLE or EINTERNAL when the storage fails.
type BlobStore interface {
	// Put stores everything r yields under key and returns its size.
	// ECONFLICT if key already holds a blob (of many concurrent Puts of one
	// key at most one succeeds). If r fails, Put returns r's error as it is
	// (so an *Error from a size-limiting reader keeps its code), and
	// nothing is stored.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open returns a reader of the blob's bytes, which the caller closes.
	// ENOTFOUND if there is no blob under key.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the blob; deleting a key that holds none is not an
	// error. A reader opened before may still read the old bytes.
	Delete(ctx context.Context, key string) error
}

// ValidBlobKey reports whether key may name a blob: 1 to 128 bytes of
// [A-Za-z0-9_-], so that every implementation can use it as a file name or
// a column value unescaped.
func ValidBlobKey(key string) bool {
	if len(key) == 0 || len(key) > 128 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
