package objects

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"slices"
	"strings"
)

// Folder is the local adapter of Store: the objects are the regular files under a directory, their keys
// the slash-separated paths below it. Every operation goes through an os.Root of the directory, so no key,
// symbolic link or ".." leads outside it. Put writes a temporary file beside the object and renames it, so a
// reader sees the old object or the new one, never a part; the temporary files' names hold TempMarker, and
// List skips them. ETags are derived from a file's size and modification time, not its content. Folder is
// safe for concurrent use.
type Folder struct {
	dir string
}

var _ Store = (*Folder)(nil)

// TempMarker is part of the names of Put's temporary files; a key with a segment containing it is refused.
const TempMarker = ".sdp-put-"

// NewFolder returns the store of the objects under dir. It does no I/O: dir must exist when it is used.
func NewFolder(dir string) *Folder { return &Folder{dir: dir} }

// Dir returns the folder's directory.
func (f *Folder) Dir() string { return f.dir }

// open opens the folder's root.
func (f *Folder) open() (*os.Root, error) {
	r, err := os.OpenRoot(f.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("objects: folder %s: %w: %w", f.dir, ErrNotFound, err)
		}
		return nil, fmt.Errorf("objects: folder %s: %w", f.dir, err)
	}
	return r, nil
}

// checkKey validates key for the folder: ValidateKey, and no temporary file's name.
func checkKey(key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if strings.Contains(key, TempMarker) {
		return fmt.Errorf("%w: %q holds %q, reserved for temporary files", ErrInvalidKey, key, TempMarker)
	}
	return nil
}

// errorf wraps err with the operation, the folder and the key, adding ErrNotFound to a missing file.
func (f *Folder) errorf(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("objects: %s %q in folder %s: %w: %w", op, key, f.dir, ErrNotFound, err)
	}
	return fmt.Errorf("objects: %s %q in folder %s: %w", op, key, f.dir, err)
}

// object returns the metadata of a file.
func object(key string, fi fs.FileInfo) Object {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:], uint64(fi.Size()))
	binary.BigEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	sum := sha256.Sum256(b[:])
	return Object{Key: key, Size: fi.Size(), ETag: `"` + hex.EncodeToString(sum[:16]) + `"`, LastModified: fi.ModTime().UTC()}
}

// Stat returns a file's metadata; a directory or a missing file is ErrNotFound.
func (f *Folder) Stat(ctx context.Context, key string) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, f.errorf("stat", key, err)
	}
	if err := checkKey(key); err != nil {
		return Object{}, f.errorf("stat", key, err)
	}
	r, err := f.open()
	if err != nil {
		return Object{}, err
	}
	defer r.Close()
	fi, err := r.Stat(key)
	if err != nil {
		return Object{}, f.errorf("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return Object{}, f.errorf("stat", key, fmt.Errorf("%w: not a regular file", ErrNotFound))
	}
	return object(key, fi), nil
}

// Open opens a file for reading.
func (f *Folder) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	file, _, err := f.openFile(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	return file, nil
}

// openFile opens the regular file of key and returns it with its size.
func (f *Folder) openFile(ctx context.Context, op, key string) (*os.File, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, f.errorf(op, key, err)
	}
	if err := checkKey(key); err != nil {
		return nil, 0, f.errorf(op, key, err)
	}
	r, err := f.open()
	if err != nil {
		return nil, 0, err
	}
	defer r.Close()
	file, err := r.Open(key)
	if err != nil {
		return nil, 0, f.errorf(op, key, err)
	}
	fi, err := file.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrNotFound)
	}
	if err != nil {
		file.Close()
		return nil, 0, f.errorf(op, key, err)
	}
	return file, fi.Size(), nil
}

// OpenRange opens a file and reads length bytes of it from offset.
func (f *Folder) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	file, size, err := f.openFile(ctx, "open range of", key)
	if err != nil {
		return nil, err
	}
	n, err := CheckRange(size, offset, length)
	if err != nil {
		file.Close()
		return nil, f.errorf("open range of", key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(file, offset, n), file}, nil
}

// Put writes a file through a temporary file in the same directory, creating the directories of the key.
func (f *Folder) Put(ctx context.Context, key string, body io.ReadSeeker) (Object, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, f.errorf("put", key, err)
	}
	if err := checkKey(key); err != nil {
		return Object{}, f.errorf("put", key, err)
	}
	r, err := f.open()
	if err != nil {
		return Object{}, err
	}
	defer r.Close()
	if dir := path.Dir(key); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return Object{}, f.errorf("put", key, err)
		}
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return Object{}, f.errorf("put", key, err)
	}
	tmp := path.Join(path.Dir(key), "."+path.Base(key)+TempMarker+hex.EncodeToString(suffix[:]))
	file, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Object{}, f.errorf("put", key, err)
	}
	_, err = io.Copy(file, &ctxReader{ctx: ctx, r: body})
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = r.Rename(tmp, key)
	}
	if err != nil {
		_ = r.Remove(tmp)
		return Object{}, f.errorf("put", key, err)
	}
	fi, err := r.Stat(key)
	if err != nil {
		return Object{}, f.errorf("put", key, err)
	}
	return object(key, fi), nil
}

// ctxReader is a reader that stops when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads from the underlying reader unless the context ended.
func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// List walks the folder under the prefix's directory and yields the regular files whose keys start with
// prefix, sorted by key as S3 sorts them (bytes, not path segments). It reads the directory tree below the
// prefix's directory before yielding the first object. Symbolic links are not followed.
func (f *Folder) List(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		objs, err := f.list(ctx, prefix)
		if err != nil {
			yield(Object{}, err)
			return
		}
		for _, o := range objs {
			if err := ctx.Err(); err != nil {
				yield(Object{}, f.errorf("list", prefix, err))
				return
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

// list returns the sorted objects under prefix.
func (f *Folder) list(ctx context.Context, prefix string) ([]Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, f.errorf("list", prefix, err)
	}
	// The walk starts at the deepest directory the prefix names in full; a prefix that is not a key's
	// beginning lists nothing rather than failing.
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = prefix[:i]
		if ValidateKey(start) != nil {
			return nil, nil
		}
	}
	r, err := f.open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Object
	err = fs.WalkDir(r.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			// A directory whose path cannot lead to the prefix is not entered.
			if p != "." && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) || strings.Contains(p, TempMarker) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the directory was read
		}
		if err != nil {
			return err
		}
		out = append(out, object(p, fi))
		return nil
	})
	if err != nil {
		return nil, f.errorf("list", prefix, err)
	}
	slices.SortFunc(out, func(a, b Object) int { return bytes.Compare([]byte(a.Key), []byte(b.Key)) })
	return out, nil
}
