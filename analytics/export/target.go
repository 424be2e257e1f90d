package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Target is where an Exporter writes: objects by key, slash-separated. Implementations are safe for
// concurrent use.
type Target interface {
	// Put stores body under key, replacing the object there, and returns once it is durable: a reader
	// sees the whole old object or the whole new one, never a part. It does not retry beyond what its
	// client does, and stops with ctx.
	Put(ctx context.Context, key string, body []byte) error
	// Get returns the object under key, or an error wrapping ErrNotExist when there is none.
	Get(ctx context.Context, key string) ([]byte, error)
}

// ErrNotExist is wrapped by the errors of Target.Get about a key that holds no object.
var ErrNotExist = errors.New("object does not exist")

// Folder is the Target of a local directory: a key is a path below it. It is the export of `sdp up`.
type Folder struct {
	dir string
}

var _ Target = (*Folder)(nil)

// NewFolder returns the Target of the directory dir, which Put creates when missing. It does no I/O.
func NewFolder(dir string) *Folder { return &Folder{dir: dir} }

// Dir returns the folder's directory.
func (f *Folder) Dir() string { return f.dir }

// path returns the file of key, refusing a key that would leave the folder.
func (f *Folder) path(key string) (string, error) {
	local, err := filepath.Localize(key)
	if err != nil {
		return "", fmt.Errorf("export: key %q is not a path inside the folder: %w", key, err)
	}
	return filepath.Join(f.dir, local), nil
}

// Put implements Target: it writes a temporary file beside the object, syncs it and renames it over the
// object, so that the replacement is atomic.
func (f *Folder) Put(ctx context.Context, key string, body []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	name, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(body); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("export: put %s: %w", key, err)
	}
	return nil
}

// Get implements Target.
func (f *Folder) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("export: get %s: %w", key, err)
	}
	name, err := f.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("export: get %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("export: get %s: %w", key, err)
	}
	return b, nil
}

// S3API is the part of the S3 client a Bucket uses. *s3.Client satisfies it.
type S3API interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// Bucket is the Target of an S3 bucket: a key is an object key. Objects are written with the bucket's
// default encryption; reading a missing key needs s3:ListBucket on the bucket, without which S3 answers
// 403 rather than 404.
type Bucket struct {
	api  S3API
	name string
}

var _ Target = (*Bucket)(nil)

// NewBucket returns the Target of the bucket name reached through api. It does no I/O.
func NewBucket(api S3API, name string) *Bucket { return &Bucket{api: api, name: name} }

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// contentType is the media type of an exported key. A gzip object is typed as such, with no
// Content-Encoding, so that clients hand Athena and others the compressed bytes the .gz name promises.
func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".gz"):
		return "application/gzip"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// Put implements Target with one PutObject (S3 replaces an object atomically).
func (b *Bucket) Put(ctx context.Context, key string, body []byte) error {
	_, err := b.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(b.name), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String(contentType(key)),
	})
	if err != nil {
		return fmt.Errorf("export: put s3://%s/%s: %w", b.name, key, err)
	}
	return nil
}

// Get implements Target with one GetObject.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := b.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		var re *smithyhttp.ResponseError
		if errors.As(err, &nsk) || (errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound) {
			return nil, fmt.Errorf("export: get s3://%s/%s: %w", b.name, key, ErrNotExist)
		}
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
			return nil, fmt.Errorf("export: get s3://%s/%s: access denied; a missing object also reads as "+
				"denied without s3:ListBucket on the bucket, so grant s3:GetObject on the prefix and "+
				"s3:ListBucket on the bucket: %w", b.name, key, err)
		}
		return nil, fmt.Errorf("export: get s3://%s/%s: %w", b.name, key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("export: get s3://%s/%s: reading the body: %w", b.name, key, err)
	}
	return body, nil
}
