// Package s3 is the S3 adapter of the raw-object port (objects.Store): one bucket, reached through a
// consumer-owned subset of the S3 client (API).
//
// Each call is one S3 call (List pages through ListObjectsV2), retried by the SDK client's own retryer; a
// throttled or failed call that the SDK gave up on is retried here with exponential backoff and jitter,
// except Put of a body that cannot be rewound and streams already handed to the caller. Errors name the
// operation, the bucket and the key, wrap the SDK's error, and wrap objects.ErrNotFound or
// objects.ErrInvalidRange where S3's error code means one.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// API is the part of the S3 client a Bucket uses. *s3.Client satisfies it.
type API interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ API = (*s3.Client)(nil)

// Bucket is a bucket of objects in S3. It is safe for concurrent use.
type Bucket struct {
	api        API
	name       string
	pageSize   int32
	newBackOff func() backoff.BackOff
}

var _ objects.Store = (*Bucket)(nil)

// Option configures a Bucket.
type Option func(*Bucket)

// WithPageSize sets how many keys one ListObjectsV2 call asks for (1 to 1000; S3's default is 1000).
func WithPageSize(n int) Option {
	return func(b *Bucket) {
		if n > 0 && n <= 1000 {
			b.pageSize = int32(n)
		}
	}
}

// WithBackOff sets the policy of the Bucket's own retries; each call gets a fresh policy. The default is
// exponential with jitter, 100 ms to 2 s between tries, for at most 10 s, and ends with ctx.
func WithBackOff(newBackOff func() backoff.BackOff) Option {
	return func(b *Bucket) {
		if newBackOff != nil {
			b.newBackOff = newBackOff
		}
	}
}

// UsePathStyle is the client option that addresses buckets in the path (http://host/bucket/key) rather than
// the host name, as emulators need: s3.NewFromConfig(cfg, s3adapter.UsePathStyle).
func UsePathStyle(o *s3.Options) { o.UsePathStyle = true }

// New returns the bucket name reached through api. It does no I/O.
func New(api API, name string, opts ...Option) *Bucket {
	b := &Bucket{api: api, name: name, newBackOff: defaultBackOff}
	for _, o := range opts {
		o(b)
	}
	return b
}

// defaultBackOff is exponential with jitter, bounded to 10 s.
func defaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.MaxElapsedTime = 10 * time.Second
	return b
}

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// errorf wraps err with the operation, the bucket and the key, adding the port's sentinel that S3's error
// means, if any.
func (b *Bucket) errorf(op, key string, err error) error {
	if s := sentinel(err); s != nil && !errors.Is(err, s) {
		return fmt.Errorf("s3: %s s3://%s/%s: %w: %w", op, b.name, key, s, err)
	}
	return fmt.Errorf("s3: %s s3://%s/%s: %w", op, b.name, key, err)
}

// sentinel returns the port's error that S3's error in err means, or nil.
func sentinel(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return objects.ErrNotFound
		case "InvalidRange":
			return objects.ErrInvalidRange
		}
	}
	// HEAD answers have no body, hence no code: the status says it.
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return objects.ErrNotFound
		case http.StatusRequestedRangeNotSatisfiable:
			return objects.ErrInvalidRange
		}
	}
	return nil
}

// retry calls op until it succeeds, fails for a reason retrying cannot change, the backoff gives up or ctx
// ends.
func (b *Bucket) retry(ctx context.Context, op func() error) error {
	return backoff.Retry(func() error {
		err := op()
		if err == nil || sentinel(err) != nil || ctx.Err() != nil || !transient(err) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b.newBackOff(), ctx))
}

// transient reports whether err is worth another try: throttling and S3's own faults.
func transient(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if ae.ErrorFault() == smithy.FaultServer {
			return true
		}
		switch ae.ErrorCode() {
		case "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
}

// Stat returns an object's metadata (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (objects.Object, error) {
	if err := objects.ValidateKey(key); err != nil {
		return objects.Object{}, b.errorf("stat", key, err)
	}
	var out *s3.HeadObjectOutput
	err := b.retry(ctx, func() error {
		var err error
		out, err = b.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)})
		return err
	})
	if err != nil {
		return objects.Object{}, b.errorf("stat", key, err)
	}
	return objects.Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag), LastModified: aws.ToTime(out.LastModified).UTC()}, nil
}

// Open streams an object (GetObject).
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.get(ctx, "open", key, "")
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// get calls GetObject, with the Range header when rng is set.
func (b *Bucket) get(ctx context.Context, op, key, rng string) (*s3.GetObjectOutput, error) {
	if err := objects.ValidateKey(key); err != nil {
		return nil, b.errorf(op, key, err)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	var out *s3.GetObjectOutput
	err := b.retry(ctx, func() error {
		var err error
		out, err = b.api.GetObject(ctx, in)
		return err
	})
	if err != nil {
		return nil, b.errorf(op, key, err)
	}
	return out, nil
}

// OpenRange streams part of an object (GetObject with a Range header). The range is checked before the
// call where the port's rules are stricter than HTTP's (a negative offset, a length of 0); S3 itself
// answers 416 InvalidRange to an offset at or past the end.
func (b *Bucket) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length == 0 {
		return nil, b.errorf("open range of", key, fmt.Errorf("%w: %d bytes from offset %d", objects.ErrInvalidRange, length, offset))
	}
	rng := "bytes=" + strconv.FormatInt(offset, 10) + "-"
	if length > 0 {
		rng += strconv.FormatInt(offset+length-1, 10)
	}
	out, err := b.get(ctx, "open range of", key, rng)
	if err != nil {
		return nil, err
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		// S3 refuses any range of an empty object; an emulator that answers "bytes 0--1/0" is held to it.
		if strings.HasSuffix(cr, "/0") {
			out.Body.Close()
			return nil, b.errorf("open range of", key, fmt.Errorf("%w: %s of an empty object", objects.ErrInvalidRange, rng))
		}
		return out.Body, nil
	}
	// An answer without Content-Range is the whole object: the server ignored the Range header, as some
	// emulators do. The range is then applied here, with S3's rules.
	n, err := objects.CheckRange(aws.ToInt64(out.ContentLength), offset, length)
	if err != nil {
		out.Body.Close()
		return nil, b.errorf("open range of", key, err)
	}
	if _, err := io.CopyN(io.Discard, out.Body, offset); err != nil {
		out.Body.Close()
		return nil, b.errorf("open range of", key, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(out.Body, n), out.Body}, nil
}

// Put writes an object (PutObject). The body is rewound to where it was before each retry, so the SDK can
// sign it and retry it over plain HTTP as well as TLS.
func (b *Bucket) Put(ctx context.Context, key string, body io.ReadSeeker) (objects.Object, error) {
	if err := objects.ValidateKey(key); err != nil {
		return objects.Object{}, b.errorf("put", key, err)
	}
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return objects.Object{}, b.errorf("put", key, err)
	}
	end, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return objects.Object{}, b.errorf("put", key, err)
	}
	err = b.retry(ctx, func() error {
		if _, err := body.Seek(start, io.SeekStart); err != nil {
			return backoff.Permanent(err)
		}
		_, err := b.api.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(b.name), Key: aws.String(key), Body: body, ContentLength: aws.Int64(end - start),
		})
		return err
	})
	if err != nil {
		return objects.Object{}, b.errorf("put", key, err)
	}
	// PutObject tells the ETag but not the modification time; HeadObject tells both.
	return b.Stat(ctx, key)
}

// List pages through ListObjectsV2 with the prefix, yielding each object as its page arrives.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[objects.Object, error] {
	return func(yield func(objects.Object, error) bool) {
		in := &s3.ListObjectsV2Input{Bucket: aws.String(b.name)}
		if prefix != "" {
			in.Prefix = aws.String(prefix)
		}
		if b.pageSize > 0 {
			in.MaxKeys = aws.Int32(b.pageSize)
		}
		p := s3.NewListObjectsV2Paginator(b.api, in)
		for p.HasMorePages() {
			var page *s3.ListObjectsV2Output
			err := b.retry(ctx, func() error {
				var err error
				page, err = p.NextPage(ctx)
				return err
			})
			if err != nil {
				yield(objects.Object{}, b.errorf("list", prefix+"*", err))
				return
			}
			for _, o := range page.Contents {
				obj := objects.Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag), LastModified: aws.ToTime(o.LastModified).UTC()}
				if !yield(obj, nil) {
					return
				}
			}
		}
	}
}
