package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// This file is the S3 path of the function: S3 event notifications and EventBridge "Object Created" events
// name objects, and each object is ingested whole by an ObjectIngester (package ingest/bulk implements it).
// The port is defined here, with its own Progress and Result types, so that this package never imports
// bulk: bulk imports ingest (for the Producer port) and names these types with aliases.

// ObjectProgress is where the ingestion of an object resumes. The zero value is the start of the object.
type ObjectProgress struct {
	// Offset is the byte offset (uncompressed) of the first event not yet ingested.
	Offset int64 `json:"offset"`
	// Index is the 0-based index of that event in the object.
	Index int `json:"index"`
	// Part is how many parts of the object have been ingested before: each call that stops at its deadline
	// ends a part, whose rejected lines go to their own errors object.
	Part int `json:"part"`
	// Line is the 1-based line the first event not yet ingested starts on (0 means unknown: line 1 at the
	// start of an object). It keeps line numbers right when an NDJSON object is read from Offset.
	Line int `json:"line,omitempty"`
}

// ObjectResult is what one call of ObjectIngester.Ingest did.
type ObjectResult struct {
	// Done is true when the object was read to its end; otherwise Next says where to resume.
	Done bool
	// Next is where the next call resumes, when Done is false.
	Next ObjectProgress
	// Events counts the events read in this call, valid or not; Events = Accepted + Rejected.
	Events, Accepted, Rejected int
	// Bytes counts the bytes of the object read in this call, as stored (compressed or not).
	Bytes int64
	// ErrorsKey is the key of the errors object written by this call, "" when no event was rejected.
	ErrorsKey string
}

// ObjectIngester ingests one object of a store: package bulk's Ingester. Ingest reads the object from from,
// writes its valid events to the stream and its rejected lines to an errors object, and returns when the
// object is done or, after a whole PutRecords call, once deadline has passed (a zero deadline: never). An
// error means the call stopped without finishing; the events ingested before it were written, and
// ingesting the object again from from is harmless (events are deduplicated by id downstream).
type ObjectIngester interface {
	Ingest(ctx context.Context, store objects.Store, key string, from ObjectProgress, deadline time.Time) (ObjectResult, error)
}

// ObjectStores returns the store of a bucket's objects: an S3 adapter in Lambda, a folder in tests.
type ObjectStores func(bucket string) (objects.Store, error)

// SelfInvoker sends a payload to this same function asynchronously (Lambda Invoke with InvocationType
// Event). It returns once Lambda has queued the invocation.
type SelfInvoker interface {
	InvokeAsync(ctx context.Context, payload []byte) error
}

// SelfInvokerFunc adapts a function to SelfInvoker.
type SelfInvokerFunc func(ctx context.Context, payload []byte) error

// InvokeAsync calls f.
func (f SelfInvokerFunc) InvokeAsync(ctx context.Context, payload []byte) error {
	return f(ctx, payload)
}

// Key prefixes the S3 path writes under and never ingests, so that its own objects never trigger it again.
const (
	// ErrorsPrefix holds the errors objects: errors/<key>.ndjson, errors/<key>.part-<n>.ndjson.
	ErrorsPrefix = "errors/"
	// ProgressPrefix holds the progress markers of objects ingested over several invocations:
	// progress/<key>.json.
	ProgressPrefix = "progress/"
)

// IgnoredKey reports whether key is one of the S3 path's own objects (under errors/ or progress/), which
// are never ingested.
func IgnoredKey(key string) bool {
	return strings.HasPrefix(key, ErrorsPrefix) || strings.HasPrefix(key, ProgressPrefix)
}

// ProgressKey returns the key of the progress marker of the object key: "progress/" + key + ".json".
func ProgressKey(key string) string { return ProgressPrefix + key + ".json" }

// Marker is the content of a progress marker: where the next invocation resumes the object whose ETag is
// ETag. A marker whose ETag differs from the object's is ignored (the object was replaced).
type Marker struct {
	ETag string `json:"etag"`
	ObjectProgress
	// Done is set once the object was finished, so that a late resume request does nothing.
	Done bool `json:"done,omitempty"`
}

// ResumeRequest is the payload the function sends to itself to continue an object:
// {"sdpResume":{"bucket":"...","key":"..."}}.
type ResumeRequest struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// DefaultObjectMargin bounds the time an invocation keeps for itself after an object's ingestion stops:
// writing the errors object and the progress marker and invoking itself. The margin is a fifth of the
// invocation's remaining time at the start, at least a second and at most DefaultObjectMargin.
const DefaultObjectMargin = 30 * time.Second

// objectPath is the S3 path's configuration of a Handler.
type objectPath struct {
	stores   ObjectStores
	ingester ObjectIngester
	self     SelfInvoker
	margin   time.Duration
}

// WithObjects turns on the S3 path: Invoke ingests the objects named by S3 event notifications and
// EventBridge "Object Created" events, each through ing with the store stores returns for its bucket.
// Without it, those events are refused with ErrUnsupportedEvent.
func WithObjects(stores ObjectStores, ing ObjectIngester) Option {
	return func(h *Handler) {
		if stores == nil || ing == nil {
			return
		}
		if h.objects == nil {
			h.objects = &objectPath{margin: DefaultObjectMargin}
		}
		h.objects.stores, h.objects.ingester = stores, ing
	}
}

// WithSelfInvoker sets how the function continues an object it could not finish within one invocation:
// it writes the object's progress marker and sends itself a ResumeRequest through inv. Without it, an
// unfinished object is an error of the invocation (Lambda's asynchronous retries then start it again). It
// applies only together with WithObjects.
func WithSelfInvoker(inv SelfInvoker) Option {
	return func(h *Handler) {
		if h.objects == nil {
			h.objects = &objectPath{margin: DefaultObjectMargin}
		}
		h.objects.self = inv
	}
}

// WithObjectMargin sets the most time kept back from an invocation's deadline for the work after an
// object's ingestion stops (DefaultObjectMargin).
func WithObjectMargin(d time.Duration) Option {
	return func(h *Handler) {
		if h.objects == nil {
			h.objects = &objectPath{}
		}
		h.objects.margin = max(d, 0)
	}
}

// ObjectsResponse is Invoke's answer to an S3 or EventBridge event, or to a ResumeRequest: one entry per
// object named.
type ObjectsResponse struct {
	Objects []ObjectOutcome `json:"objects"`
}

// Statuses of an ObjectOutcome.
const (
	// StatusDone: the object was read to its end.
	StatusDone = "done"
	// StatusContinued: the invocation ran out of time; a progress marker was written and the function
	// invoked itself to go on.
	StatusContinued = "continued"
	// StatusSkipped: the object is not ingested (see Reason).
	StatusSkipped = "skipped"
)

// ObjectOutcome is what an invocation did with one object.
type ObjectOutcome struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	Events    int    `json:"events"`
	Accepted  int    `json:"accepted"`
	Rejected  int    `json:"rejected"`
	Bytes     int64  `json:"bytes"`
	ErrorsKey string `json:"errorsKey,omitempty"`
}

// objectRef names one object an event refers to; resume is set for a ResumeRequest; skip says why an
// event's object is not ingested.
type objectRef struct {
	bucket, key string
	resume      bool
	skip        string
}

// objectRefs returns the objects inv names and true when inv is an S3 notification, an EventBridge S3 event
// or a ResumeRequest; false for any other payload. An S3 notification's keys are URL-encoded with '+' for
// a space; EventBridge's are not.
func (inv *invocation) objectRefs() ([]objectRef, bool, error) {
	switch {
	case inv.Resume != nil:
		return []objectRef{{bucket: inv.Resume.Bucket, key: inv.Resume.Key, resume: true}}, true, nil
	case len(inv.Records) > 0 && inv.Records[0].EventSource == "aws:s3":
		refs := make([]objectRef, 0, len(inv.Records))
		for i, r := range inv.Records {
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, true, fmt.Errorf("%w: record %d: the object key %q is not URL-encoded as S3 sends it: %v",
					ErrUnsupportedEvent, i, r.S3.Object.Key, err)
			}
			ref := objectRef{bucket: r.S3.Bucket.Name, key: key}
			switch {
			case r.EventSource != "aws:s3":
				ref.skip = fmt.Sprintf("not an S3 record (%q)", r.EventSource)
			case !strings.HasPrefix(r.EventName, "ObjectCreated:"):
				ref.skip = fmt.Sprintf("%s is not an ObjectCreated event", r.EventName)
			}
			refs = append(refs, ref)
		}
		return refs, true, nil
	case inv.Source == "aws.s3" && inv.DetailType != "":
		ref := objectRef{bucket: inv.Detail.Bucket.Name, key: inv.Detail.Object.Key}
		if inv.DetailType != "Object Created" {
			ref.skip = fmt.Sprintf("EventBridge %q is not an Object Created event", inv.DetailType)
		}
		return []objectRef{ref}, true, nil
	}
	return nil, false, nil
}

// invokeObjects ingests the objects a payload names. It returns false when the S3 path is off or the
// payload names no object.
func (h *Handler) invokeObjects(ctx context.Context, inv *invocation) ([]byte, bool, error) {
	if h.objects == nil || h.objects.ingester == nil {
		return nil, false, nil
	}
	refs, ok, err := inv.objectRefs()
	if !ok {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("ingest: invoke: %w", err)
	}
	deadline := h.objects.deadline(ctx)
	resp := ObjectsResponse{Objects: make([]ObjectOutcome, 0, len(refs))}
	var errs []error
	for i, ref := range refs {
		// The first object always makes progress; the others are handed on once the time is up.
		out, err := h.ingestObject(ctx, ref, deadline, i > 0)
		if err != nil {
			errs = append(errs, err)
		}
		resp.Objects = append(resp.Objects, out)
	}
	if err := errors.Join(errs...); err != nil {
		// Lambda retries an asynchronous invocation that failed; the objects already done are ingested
		// again then, which is harmless.
		return nil, true, err
	}
	b, err := segjson.Marshal(resp)
	if err != nil {
		return nil, true, fmt.Errorf("ingest: encoding the answer: %w", err)
	}
	return b, true, nil
}

// deadline is when the ingestion of objects stops: ctx's deadline less the margin, or zero when ctx has
// none.
func (o *objectPath) deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Time{}
	}
	margin := min(max(time.Until(d)/5, time.Second), o.margin)
	return d.Add(-margin)
}

// ingestObject ingests one object from the start, or from its progress marker for a resume request. When
// mayHandOn is set and deadline has passed, it hands the object to a new invocation without reading it.
func (h *Handler) ingestObject(ctx context.Context, ref objectRef, deadline time.Time, mayHandOn bool) (ObjectOutcome, error) {
	out := ObjectOutcome{Bucket: ref.bucket, Key: ref.key}
	where := "s3://" + ref.bucket + "/" + ref.key
	switch {
	case ref.skip != "":
		out.Status, out.Reason = StatusSkipped, ref.skip
		return out, nil
	case ref.bucket == "" || ref.key == "":
		return out, fmt.Errorf("ingest: the event names no object (bucket %q, key %q)", ref.bucket, ref.key)
	case IgnoredKey(ref.key):
		out.Status, out.Reason = StatusSkipped, "the key is under errors/ or progress/, where ingest writes its own objects"
		return out, nil
	}
	store, err := h.objects.stores(ref.bucket)
	if err != nil {
		return out, fmt.Errorf("ingest: the store of bucket %q: %w", ref.bucket, err)
	}
	if mayHandOn && !deadline.IsZero() && !time.Now().Before(deadline) {
		// No time is left for this object: hand it to a new invocation.
		return h.continueObject(ctx, store, ref, Marker{}, out, where)
	}
	obj, err := store.Stat(ctx, ref.key)
	if errors.Is(err, objects.ErrNotFound) {
		out.Status, out.Reason = StatusSkipped, "the object no longer exists"
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("ingest: %s: %w", where, err)
	}
	var from ObjectProgress
	if ref.resume {
		m, found, err := readMarker(ctx, store, ref.key)
		if err != nil {
			return out, fmt.Errorf("ingest: %s: %w", where, err)
		}
		switch {
		case found && m.ETag == obj.ETag && m.Done:
			out.Status, out.Reason = StatusSkipped, "the object was already ingested"
			return out, nil
		case found && m.ETag == obj.ETag:
			from = m.ObjectProgress
		case found:
			h.log.LogAttrs(ctx, slog.LevelInfo, "ingest: the object changed since its progress marker; starting over",
				slog.String("object", where), slog.String("etag", obj.ETag), slog.String("markerETag", m.ETag))
		}
	}
	res, err := h.objects.ingester.Ingest(ctx, store, ref.key, from, deadline)
	out.Events, out.Accepted, out.Rejected, out.Bytes, out.ErrorsKey = res.Events, res.Accepted, res.Rejected, res.Bytes, res.ErrorsKey
	if err != nil {
		return out, fmt.Errorf("ingest: %s: %w", where, err)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "ingest: object read", slog.String("object", where), slog.Bool("done", res.Done),
		slog.Int("events", res.Events), slog.Int("accepted", res.Accepted), slog.Int("rejected", res.Rejected))
	if res.Done {
		out.Status = StatusDone
		if ref.resume || from != (ObjectProgress{}) {
			// Close the chain: a duplicate resume request for this object does nothing.
			if err := writeMarker(ctx, store, ref.key, Marker{ETag: obj.ETag, ObjectProgress: res.Next, Done: true}); err != nil {
				return out, fmt.Errorf("ingest: %s: %w", where, err)
			}
		}
		return out, nil
	}
	return h.continueObject(ctx, store, ref, Marker{ETag: obj.ETag, ObjectProgress: res.Next}, out, where)
}

// continueObject writes the object's progress marker m (none when m has no ETag: the object was not
// started) and sends the function a ResumeRequest for it.
func (h *Handler) continueObject(ctx context.Context, store objects.Store, ref objectRef, m Marker, out ObjectOutcome, where string) (ObjectOutcome, error) {
	if h.objects.self == nil {
		return out, fmt.Errorf("ingest: %s is not finished at the invocation's deadline (next event %d) and the function cannot invoke itself to go on; raise its timeout or configure the self-invocation",
			where, m.Index)
	}
	if m.ETag != "" {
		if err := writeMarker(ctx, store, ref.key, m); err != nil {
			return out, fmt.Errorf("ingest: %s: %w", where, err)
		}
	}
	payload, err := segjson.Marshal(struct {
		Resume ResumeRequest `json:"sdpResume"`
	}{ResumeRequest{Bucket: ref.bucket, Key: ref.key}})
	if err != nil {
		return out, fmt.Errorf("ingest: encoding the resume request of %s: %w", where, err)
	}
	if err := h.objects.self.InvokeAsync(ctx, payload); err != nil {
		return out, fmt.Errorf("ingest: %s: invoking the function to continue the object: %w", where, err)
	}
	out.Status = StatusContinued
	return out, nil
}

// maxMarkerBytes bounds the progress marker read back.
const maxMarkerBytes = 64 << 10

// readMarker reads the progress marker of key; found is false when there is none.
func readMarker(ctx context.Context, store objects.Store, key string) (m Marker, found bool, err error) {
	rc, err := store.Open(ctx, ProgressKey(key))
	if errors.Is(err, objects.ErrNotFound) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("reading the progress marker: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxMarkerBytes))
	if err != nil {
		return Marker{}, false, fmt.Errorf("reading the progress marker: %w", err)
	}
	if err := segjson.Unmarshal(b, &m); err != nil {
		return Marker{}, false, fmt.Errorf("the progress marker %s is not valid: %w", ProgressKey(key), err)
	}
	return m, true, nil
}

// writeMarker writes the progress marker of key.
func writeMarker(ctx context.Context, store objects.Store, key string, m Marker) error {
	b, err := segjson.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding the progress marker: %w", err)
	}
	if _, err := store.Put(ctx, ProgressKey(key), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("writing the progress marker %s: %w", ProgressKey(key), err)
	}
	return nil
}
