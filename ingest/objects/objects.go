// Package objects is the raw-object port of ingest: the bucket that bulk backfill reads NDJSON or JSON array
// objects from, and writes error objects beside them (errors/<key>.ndjson). Folder is its local adapter, a
// directory whose files are the objects; package objects/s3 is its S3 adapter.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
	"unicode/utf8"
)

// Store is one bucket of objects. Every method does I/O, blocks until its call completes and honours ctx;
// keys are checked with ValidateKey first. Implementations are safe for concurrent use.
type Store interface {
	// List yields the objects whose keys start with prefix ("" for all), in ascending byte order of their
	// keys, fetching further pages as the iteration goes on. An error is yielded once, as the last pair.
	List(ctx context.Context, prefix string) iter.Seq2[Object, error]
	// Stat returns the object's metadata, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)
	// Open returns a stream of the object's content; the caller closes it. A missing object fails with
	// ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// OpenRange returns a stream of length bytes of the object from offset (length < 0: to the end); a
	// range that runs past the end is cut at the end. An offset at or past the end, a negative offset and a
	// length of 0 fail with ErrInvalidRange, as S3 does (so does any range of an empty object).
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Put writes the object, replacing any object of the key, and returns its metadata. The body is read
	// from its current position to its end; being seekable lets S3 sign and retry it.
	Put(ctx context.Context, key string, body io.ReadSeeker) (Object, error)
}

// Object is an object's metadata.
type Object struct {
	// Key is the object's key, slash-separated.
	Key string
	// Size is its length in bytes.
	Size int64
	// ETag identifies the object's content, quoted as S3 writes it. It is opaque: compare ETags only for
	// equality (the same object unchanged), never compute them.
	ETag string
	// LastModified is when the object was last written (S3 keeps whole seconds).
	LastModified time.Time
}

// Errors of the port. Adapters wrap them (errors.Is finds them) together with the service's own error.
var (
	// ErrNotFound marks an object (or a bucket) that does not exist.
	ErrNotFound = errors.New("objects: not found")
	// ErrInvalidRange marks a range that starts at or past the end of the object.
	ErrInvalidRange = errors.New("objects: invalid range")
	// ErrInvalidKey marks a key ValidateKey refuses.
	ErrInvalidKey = errors.New("objects: invalid key")
)

// MaxKeyLen is the longest key, in bytes, as S3 allows.
const MaxKeyLen = 1024

// ValidateKey checks a key against the rules every adapter applies: 1 to MaxKeyLen bytes of valid UTF-8
// without control characters, slash-separated segments none of which is empty, "." or ".." (so a key never
// leaves its bucket's folder, and means the same in S3 and on disk), and no backslash.
func ValidateKey(key string) error {
	switch {
	case key == "" || len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %q must have 1 to %d bytes", ErrInvalidKey, key, MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidKey, key)
	case strings.ContainsRune(key, '\\'):
		return fmt.Errorf("%w: %q holds a backslash", ErrInvalidKey, key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q holds a control character", ErrInvalidKey, key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// CheckRange validates a range request against an object of size bytes and returns the length actually
// readable: ErrInvalidRange for a negative offset, one at or past the end, or a length of 0; a negative
// length or one past the end is cut at the end.
func CheckRange(size, offset, length int64) (int64, error) {
	if offset < 0 || offset >= size || length == 0 {
		return 0, fmt.Errorf("%w: %d bytes from offset %d of an object of %d bytes", ErrInvalidRange, length, offset, size)
	}
	if length < 0 || length > size-offset {
		length = size - offset
	}
	return length, nil
}

// ErrorKey returns the key of the error object of a source object: "errors/" + key + ".ndjson".
func ErrorKey(key string) string { return "errors/" + key + ".ndjson" }
