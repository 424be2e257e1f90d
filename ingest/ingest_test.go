package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// fakeProducer is a Producer whose answers the test chooses. It records every call and the ids of the
// events it took.
type fakeProducer struct {
	// put answers call number n (from 0); nil takes every record.
	put func(n int, recs []event.Record) ([]event.PutResult, error)

	mu    sync.Mutex
	calls [][]event.Record
	taken []string
}

func (p *fakeProducer) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	p.mu.Lock()
	n := len(p.calls)
	p.calls = append(p.calls, slices.Clone(recs))
	p.mu.Unlock()
	put := p.put
	if put == nil {
		put = takeAll
	}
	results, err := put(n, recs)
	if err != nil || len(results) != len(recs) {
		return results, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range results {
		if r.SequenceNumber != "" {
			p.taken = append(p.taken, event.ReadID(recs[i].Data))
		}
	}
	return results, err
}

// takenIDs returns the ids of the events the stream took, in the order it took them.
func (p *fakeProducer) takenIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.taken)
}

// callSizes returns the number of records of each call.
func (p *fakeProducer) callSizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n []int
	for _, c := range p.calls {
		n = append(n, len(c))
	}
	return n
}

// takeAll takes every record.
func takeAll(_ int, recs []event.Record) ([]event.PutResult, error) {
	out := make([]event.PutResult, len(recs))
	for i := range recs {
		out[i] = event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: strconv.Itoa(i + 1)}
	}
	return out, nil
}

// refuse takes every record except the events whose ids are listed, which get code.
func refuse(code string, ids ...string) func(int, []event.Record) ([]event.PutResult, error) {
	return func(n int, recs []event.Record) ([]event.PutResult, error) {
		out, _ := takeAll(n, recs)
		for i, r := range recs {
			if slices.Contains(ids, event.ReadID(r.Data)) {
				out[i] = event.PutResult{ErrorCode: code, ErrorMessage: "Rate exceeded for shard shardId-000000000000"}
			}
		}
		return out, nil
	}
}

// apiError is an error with an AWS error code, as the SDK's API errors have.
type apiError struct{ code string }

func (e apiError) Error() string     { return "api error " + e.code + ": refused" }
func (e apiError) ErrorCode() string { return e.code }

// newHandler returns a Handler on the embedded schemas.
func newHandler(t testing.TB, p Producer, opts ...Option) *Handler {
	t.Helper()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return New(reg, p, opts...)
}

// pageView is a valid page_view event with the id; extra is spliced into its data.
func pageView(id, extra string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"https://shop.example.com/web","type":"page_view",` +
		`"time":"2026-11-26T09:15:02Z","subject":"visitor-5521","data":{"url":"https://shop.example.com/",` +
		`"session_id":"s-7f3a91"` + extra + `}}`
}

// valid is a valid event with the id (one of the three types, by the id's length).
func valid(id string) string {
	switch len(id) % 3 {
	case 0:
		return pageView(id, `,"country":"DE","duration_ms":48210`)
	case 1:
		return `{"specversion":"1.0","id":"` + id + `","source":"https://shop.example.com/checkout","type":"purchase",` +
			`"time":"2026-11-26T09:16:11.5Z","subject":"customer-88213","data":{"order_id":"ord-1","currency":"EUR",` +
			`"amount":189.9,"items":[{"sku":"TR2-42-BLU","quantity":1,"unit_price":189.9}]}}`
	default:
		return `{"specversion":"1.0","id":"` + id + `","source":"urn:sdp:plant:hamburg:line-3","type":"sensor_reading",` +
			`"time":"2026-11-26T09:16:30Z","data":{"device_id":"device-ht-0042","metric":"temperature","value":21.7,"unit":"celsius"}}`
	}
}

func batch(evs ...string) []byte  { return []byte("[" + strings.Join(evs, ",") + "]") }
func ndjson(evs ...string) []byte { return []byte(strings.Join(evs, "\n") + "\n") }

// gzipped compresses the body; with pad > 0 it appends pad spaces, written without holding them.
func gzipped(t testing.TB, body []byte, pad int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	for pad > 0 {
		n := min(pad, len(chunk))
		if _, err := zw.Write(chunk[:n]); err != nil {
			t.Fatal(err)
		}
		pad -= n
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestIngestBadInput has one case for each kind of bad input of DESIGN.md §6. Each case checks the status,
// the reason given (for the body or for the bad event's index) and that the stream took exactly the valid
// neighbours.
func TestIngestBadInput(t *testing.T) {
	t.Parallel()
	a, b, c := valid("ev-a"), valid("ev-bb"), valid("ev-ccc")
	deep := pageView("ev-deep", `,"title":"x","x":`+strings.Repeat(`{"a":`, 40)+`1`+strings.Repeat(`}`, 40))
	huge := pageView("ev-huge", `,"title":"`+strings.Repeat("x", 1<<20)+`"`)
	tests := []struct {
		name        string
		contentType string
		encoding    string
		body        []byte
		wantStatus  int
		// wantErr is the sentinel of a body refused as a whole; wantBody are substrings of its message.
		wantErr  error
		wantBody []string
		// wantRejected maps the index of each rejected event to substrings of its reason; wantIDs are
		// the ids reported for them, when known.
		wantRejected map[int][]string
		wantIDs      map[int]string
		// wantTaken are the ids of the events the stream must have received.
		wantTaken []string
	}{
		// A broken array cannot be split into events: the whole body is refused.
		{
			name: "malformed JSON array", body: []byte("[" + a + `,{"id":`),
			wantStatus: 400, wantErr: event.ErrMalformed, wantBody: []string{"malformed body", "event 1"},
		},
		// A broken line is one bad event: the lines around it still go through.
		{
			name: "malformed NDJSON line", contentType: event.ContentTypeNDJSON, body: ndjson(a, `{"id":"ev-x",`, c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"malformed JSON", "(json)"}},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// Only the CloudEvents, JSON and NDJSON media types are read.
		{
			name: "wrong content type", contentType: "text/plain", body: batch(a),
			wantStatus: 415, wantErr: event.ErrUnsupportedMediaType, wantBody: []string{`"text/plain"`, event.ContentTypeBatch},
		},
		// Events are UTF-8; another declared charset is refused before reading.
		{
			name: "wrong charset", contentType: "application/json; charset=iso-8859-1", body: batch(a),
			wantStatus: 415, wantErr: event.ErrUnsupportedMediaType, wantBody: []string{"charset", "UTF-8"},
		},
		// Only identity and gzip are decoded.
		{
			name: "unsupported encoding", encoding: "br", body: batch(a),
			wantStatus: 415, wantErr: event.ErrUnsupportedEncoding, wantBody: []string{`"br"`, "gzip"},
		},
		// A body announced as gzip that is not gzip is malformed.
		{
			name: "gzip that is not gzip", encoding: "gzip", body: batch(a),
			wantStatus: 400, wantErr: event.ErrMalformed, wantBody: []string{"gzip"},
		},
		// One byte over MaxBodyBytes (6 MiB) is refused before any parsing.
		{
			name: "oversized body", body: append(batch(a), bytes.Repeat([]byte(" "), event.DefaultLimits.MaxBodyBytes)...),
			wantStatus: 413, wantErr: event.ErrTooLarge, wantBody: []string{"the limit is 6291456"},
		},
		// An event over 1 MiB inside a batch is rejected on its own.
		{
			name: "oversized event in a batch", contentType: event.ContentTypeBatch, body: batch(a, huge, c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"1048576", "(maxEventBytes)"}},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// A single-event body over 1 MiB is the body over the limit.
		{
			name: "oversized single event", contentType: event.ContentTypeSingle, body: []byte(huge),
			wantStatus: 413, wantErr: event.ErrTooLarge, wantBody: []string{"the limit is 1048576"},
		},
		// A few KB of gzip that decode past MaxDecodedBytes are cut off at the limit.
		{
			name: "gzip bomb", encoding: "gzip", body: nil, // built below: a few KB that expand past 32 MiB
			wantStatus: 413, wantErr: event.ErrTooLarge, wantBody: []string{"more than 33554432 bytes"},
		},
		// A million nested arrays must not exhaust the stack: the scanner does not recurse.
		{
			name: "nesting bomb", encoding: "gzip", body: nil, // built below: a million '[' in a few KB
			wantStatus: 400, wantErr: event.ErrMalformed, wantBody: []string{"unexpected end of input"},
		},
		// An event nested past MaxDepth (32) is rejected on its own.
		{
			name: "deep nesting", body: batch(a, deep, c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"deeper than 32", "(maxDepth)"}},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// Bytes that are not UTF-8 inside a string: the id is still reported.
		{
			name: "invalid UTF-8", contentType: event.ContentTypeNDJSON,
			body:       ndjson(a, pageView("ev-utf8", `,"title":"caf`+"\xff\xfe"+`"`), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"UTF-8", "(utf8)"}}, wantIDs: map[int]string{1: "ev-utf8"},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// A required attribute is missing: the id cannot be reported.
		{
			name:       "missing id",
			body:       batch(a, strings.Replace(valid("ev-noid"), `"id":"ev-noid",`, "", 1), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"'id'", "(required)"}},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// A required attribute is missing.
		{
			name:       "missing time",
			body:       batch(a, strings.Replace(pageView("ev-notime", ""), `"time":"2026-11-26T09:15:02Z",`, "", 1), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"'time'", "(required)"}}, wantIDs: map[int]string{1: "ev-notime"},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// The time attribute is not an RFC 3339 date-time.
		{
			name:       "wrong time format",
			body:       batch(a, strings.Replace(pageView("ev-badtime", ""), `"time":"2026-11-26T09:15:02Z"`, `"time":"yesterday"`, 1), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"/time:", "(format)"}}, wantIDs: map[int]string{1: "ev-badtime"},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// A type with no schema: the registered types are listed.
		{
			name:       "unknown type",
			body:       batch(a, strings.Replace(pageView("ev-typ", ""), `"type":"page_view"`, `"type":"click"`, 1), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"/type:", `"click"`, "page_view", "(unknownType)"}},
			wantIDs:   map[int]string{1: "ev-typ"},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// The data breaks its type's schema: the pointer goes into /data.
		{
			name:       "schema violation in data",
			body:       batch(a, pageView("ev-cty", `,"country":"de"`), c),
			wantStatus: 207, wantRejected: map[int][]string{1: {"/data/country:", "(pattern)"}}, wantIDs: map[int]string{1: "ev-cty"},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		// The later of two events with one id is rejected, naming the first.
		{
			name:       "duplicate ids in a batch",
			body:       batch(a, b, pageView("ev-a", `,"title":"another event, same id"`), c),
			wantStatus: 207, wantRejected: map[int][]string{2: {"/id:", `"ev-a"`, "event 0", "(duplicateId)"}},
			wantIDs:   map[int]string{2: "ev-a"},
			wantTaken: []string{"ev-a", "ev-bb", "ev-ccc"},
		},
		// Array elements that are not objects are rejected one by one.
		{
			name: "array element not an object", body: []byte("[" + a + `, 42, "x", ` + c + "]"),
			wantStatus:   207,
			wantRejected: map[int][]string{1: {"JSON object", "(type)"}, 2: {"JSON object", "(type)"}},
			wantTaken:    []string{"ev-a", "ev-ccc"},
		},
		// Nothing to read.
		{
			name: "empty body", body: []byte(" \n"),
			wantStatus: 400, wantErr: event.ErrMalformed, wantBody: []string{"empty"},
		},
		// An array without events.
		{
			name: "empty array", contentType: event.ContentTypeBatch, body: []byte("[ ]"),
			wantStatus: 400, wantErr: event.ErrMalformed, wantBody: []string{"empty array"},
		},
		// No event accepted: 400 with the same body as a 207.
		{
			name: "every event invalid", body: batch(`{}`, `{"specversion":"1.0"}`),
			wantStatus:   400,
			wantRejected: map[int][]string{0: {"(required)"}, 1: {"(required)"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := tc.body
			switch tc.name {
			case "gzip bomb":
				body = gzipped(t, []byte("["), event.DefaultLimits.MaxDecodedBytes+1)
				if len(body) > 40<<10 {
					t.Fatalf("the bomb is %d bytes compressed, want a few KB", len(body))
				}
			case "nesting bomb":
				body = gzipped(t, bytes.Repeat([]byte("["), 1<<20), 0)
			}
			p := &fakeProducer{}
			h := newHandler(t, p)
			status, resp, err := h.Ingest(context.Background(), tc.contentType, tc.encoding, body)
			if status != tc.wantStatus {
				t.Errorf("status = %d, want %d (response %+v, error %v)", status, tc.wantStatus, resp, err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want one wrapping %v", err, tc.wantErr)
				}
				for _, s := range tc.wantBody {
					if !strings.Contains(resp.Error, s) {
						t.Errorf("body error %q does not contain %q", resp.Error, s)
					}
				}
				if resp.Errors == nil || resp.Accepted != 0 {
					t.Errorf("response to a refused body = %+v, want no acceptance and an empty errors list", resp)
				}
			} else if err != nil {
				t.Fatalf("error = %v, want the events judged one by one", err)
			}
			if len(resp.Errors) != len(tc.wantRejected) || resp.Rejected != len(tc.wantRejected) {
				t.Errorf("errors = %+v (rejected %d), want %d", resp.Errors, resp.Rejected, len(tc.wantRejected))
			}
			for _, e := range resp.Errors {
				subs, ok := tc.wantRejected[e.Index]
				if !ok {
					t.Errorf("index %d rejected (%s), want it accepted", e.Index, e.Reason)
					continue
				}
				for _, s := range subs {
					if !strings.Contains(e.Reason, s) {
						t.Errorf("index %d: reason %q does not contain %q", e.Index, e.Reason, s)
					}
				}
				if want, ok := tc.wantIDs[e.Index]; ok && e.ID != want {
					t.Errorf("index %d: id = %q, want %q", e.Index, e.ID, want)
				}
				if e.Retryable {
					t.Errorf("index %d: an invalid event is marked retryable", e.Index)
				}
			}
			if got := p.takenIDs(); !slices.Equal(got, tc.wantTaken) {
				t.Errorf("the stream took %q, want %q", got, tc.wantTaken)
			}
			if resp.Accepted != len(tc.wantTaken) {
				t.Errorf("accepted = %d, want %d", resp.Accepted, len(tc.wantTaken))
			}
		})
	}
}

// TestIngestStatuses checks the status of each outcome, with a stream that takes, throttles or fails.
func TestIngestStatuses(t *testing.T) {
	t.Parallel()
	a, b, c := valid("ev-a"), valid("ev-bb"), valid("ev-ccc")
	unknown := strings.Replace(pageView("ev-u", ""), `"type":"page_view"`, `"type":"nope"`, 1)
	tests := []struct {
		name       string
		body       []byte
		put        func(int, []event.Record) ([]event.PutResult, error)
		wantStatus int
		wantRetry  bool
		// wantErrors maps each rejected index to a substring of its reason and whether it is retryable.
		wantErrors map[int]string
		wantRetryI []int
		wantTaken  []string
	}{
		{name: "202 all accepted", body: batch(a, b, c), wantStatus: 202, wantTaken: []string{"ev-a", "ev-bb", "ev-ccc"}},
		{
			name: "207 some invalid", body: batch(a, unknown, c), wantStatus: 207,
			wantErrors: map[int]string{1: "unknownType"}, wantTaken: []string{"ev-a", "ev-ccc"},
		},
		{
			name: "400 none valid", body: batch(unknown, unknown), wantStatus: 400,
			wantErrors: map[int]string{0: "unknownType", 1: "unknownType"},
		},
		{
			name: "429 throttled records", body: batch(a, b, c), put: refuse(event.ErrCodeThroughputExceeded, "ev-bb"),
			wantStatus: 429, wantRetry: true,
			wantErrors: map[int]string{1: event.ErrCodeThroughputExceeded}, wantRetryI: []int{1},
			wantTaken: []string{"ev-a", "ev-ccc"},
		},
		{
			name: "429 throttled and invalid", body: batch(a, unknown, c), put: refuse(event.ErrCodeThroughputExceeded, "ev-ccc"),
			wantStatus: 429, wantRetry: true,
			wantErrors: map[int]string{1: "unknownType", 2: event.ErrCodeThroughputExceeded}, wantRetryI: []int{2},
			wantTaken: []string{"ev-a"},
		},
		{
			name: "429 whole call throttled", body: batch(a, b),
			put: func(int, []event.Record) ([]event.PutResult, error) {
				return nil, fmt.Errorf("kinesis: PutRecords: %w", apiError{"LimitExceededException"})
			},
			wantStatus: 429, wantRetry: true,
			wantErrors: map[int]string{0: event.ErrCodeThroughputExceeded, 1: event.ErrCodeThroughputExceeded}, wantRetryI: []int{0, 1},
		},
		{
			name: "503 internal failure of a record", body: batch(a, b, c), put: refuse(event.ErrCodeInternalFailure, "ev-a"),
			wantStatus: 503, wantRetry: true,
			wantErrors: map[int]string{0: event.ErrCodeInternalFailure}, wantRetryI: []int{0},
			wantTaken: []string{"ev-bb", "ev-ccc"},
		},
		{
			name: "503 producer error", body: batch(a, unknown, c),
			put: func(int, []event.Record) ([]event.PutResult, error) {
				return nil, errors.New("dial tcp 127.0.0.1:4567: connection refused")
			},
			wantStatus: 503, wantRetry: true,
			wantErrors: map[int]string{0: event.ErrCodeInternalFailure, 1: "unknownType", 2: event.ErrCodeInternalFailure},
			wantRetryI: []int{0, 2},
		},
		{
			name: "503 result without sequence number or code", body: batch(a, b),
			put: func(n int, recs []event.Record) ([]event.PutResult, error) {
				out, _ := takeAll(n, recs)
				out[1] = event.PutResult{}
				return out, nil
			},
			wantStatus: 503, wantRetry: true,
			wantErrors: map[int]string{1: event.ErrCodeInternalFailure}, wantRetryI: []int{1},
			wantTaken: []string{"ev-a"},
		},
		{
			name: "503 wrong number of results", body: batch(a, b),
			put: func(n int, recs []event.Record) ([]event.PutResult, error) {
				out, _ := takeAll(n, recs)
				return out[:1], nil
			},
			wantStatus: 503, wantRetry: true,
			wantErrors: map[int]string{0: event.ErrCodeInternalFailure, 1: event.ErrCodeInternalFailure}, wantRetryI: []int{0, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProducer{put: tc.put}
			h := newHandler(t, p, WithRetryAfter(2500*time.Millisecond))
			status, resp, err := h.Ingest(context.Background(), "", "", tc.body)
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			if status != tc.wantStatus {
				t.Errorf("status = %d, want %d (%+v)", status, tc.wantStatus, resp)
			}
			if tc.wantRetry != (resp.RetryAfter == 2500*time.Millisecond) {
				t.Errorf("RetryAfter = %v, want it set: %v", resp.RetryAfter, tc.wantRetry)
			}
			if got, want := retryAfterHeader(resp.RetryAfter), map[bool]string{true: "3", false: ""}[tc.wantRetry]; got != want {
				t.Errorf("Retry-After header = %q, want %q", got, want)
			}
			if resp.Errors == nil {
				t.Error("errors is nil, want an empty list")
			}
			var retryable []int
			for i, e := range resp.Errors {
				if i > 0 && resp.Errors[i-1].Index >= e.Index {
					t.Errorf("errors not in index order: %+v", resp.Errors)
				}
				want, ok := tc.wantErrors[e.Index]
				if !ok || !strings.Contains(e.Reason, want) {
					t.Errorf("error %+v, want a reason containing %q", e, want)
				}
				if e.Retryable {
					retryable = append(retryable, e.Index)
					if e.ID == "" {
						t.Errorf("retryable error %+v has no id", e)
					}
				}
			}
			if len(resp.Errors) != len(tc.wantErrors) || !slices.Equal(retryable, tc.wantRetryI) {
				t.Errorf("errors = %+v, want indexes %v with retryable %v", resp.Errors, tc.wantErrors, tc.wantRetryI)
			}
			if got := p.takenIDs(); !slices.Equal(got, tc.wantTaken) || resp.Accepted != len(tc.wantTaken) {
				t.Errorf("the stream took %q (accepted %d), want %q", got, resp.Accepted, tc.wantTaken)
			}
			if resp.Accepted+resp.Rejected != bytes.Count(tc.body, []byte(`"specversion"`)) {
				t.Errorf("accepted %d + rejected %d is not the number of events", resp.Accepted, resp.Rejected)
			}
		})
	}
}

// TestIngestChunking checks that records go to the stream in calls within the record and byte limits, in
// order, and that results come back to the right indexes.
func TestIngestChunking(t *testing.T) {
	t.Parallel()
	events := func(n int) ([]string, []string) {
		evs, ids := make([]string, n), make([]string, n)
		for i := range evs {
			ids[i] = fmt.Sprintf("ev-%05d", i)
			evs[i] = pageView(ids[i], "")
		}
		return evs, ids
	}
	t.Run("1200 events in calls of 500", func(t *testing.T) {
		t.Parallel()
		evs, ids := events(1200)
		p := &fakeProducer{}
		status, resp, err := newHandler(t, p).Ingest(context.Background(), event.ContentTypeBatch, "", batch(evs...))
		if err != nil || status != 202 || resp.Accepted != 1200 {
			t.Fatalf("Ingest = %d, %+v, %v; want 202 with 1200 accepted", status, resp.Accepted, err)
		}
		if got := p.callSizes(); !slices.Equal(got, []int{500, 500, 200}) {
			t.Errorf("call sizes = %v, want [500 500 200]", got)
		}
		if got := p.takenIDs(); !slices.Equal(got, ids) {
			t.Error("the stream did not take the events in body order")
		}
	})
	t.Run("byte limit", func(t *testing.T) {
		t.Parallel()
		evs, ids := events(10)
		recSize := len(evs[0]) + len("visitor-5521")
		limit := 3*recSize + recSize/2 // room for three records, not four
		p := &fakeProducer{}
		h := newHandler(t, p, WithMaxBytesPerCall(limit))
		status, resp, err := h.Ingest(context.Background(), event.ContentTypeNDJSON, "", ndjson(evs...))
		if err != nil || status != 202 || resp.Accepted != 10 {
			t.Fatalf("Ingest = %d, %+v, %v; want 202 with 10 accepted", status, resp, err)
		}
		if got := p.callSizes(); !slices.Equal(got, []int{3, 3, 3, 1}) {
			t.Errorf("call sizes = %v, want [3 3 3 1]", got)
		}
		for i, call := range p.calls {
			size := 0
			for _, r := range call {
				size += len(r.Data) + len(r.PartitionKey)
			}
			if size > limit {
				t.Errorf("call %d carries %d bytes, over the limit of %d", i, size, limit)
			}
		}
		if got := p.takenIDs(); !slices.Equal(got, ids) {
			t.Errorf("the stream took %q, want %q", got, ids)
		}
	})
	t.Run("record limit option", func(t *testing.T) {
		t.Parallel()
		evs, _ := events(7)
		p := &fakeProducer{}
		if _, _, err := newHandler(t, p, WithMaxRecordsPerCall(3)).Ingest(context.Background(), "", "", batch(evs...)); err != nil {
			t.Fatal(err)
		}
		if got := p.callSizes(); !slices.Equal(got, []int{3, 3, 1}) {
			t.Errorf("call sizes = %v, want [3 3 1]", got)
		}
	})
	t.Run("results map back to indexes across calls", func(t *testing.T) {
		t.Parallel()
		evs, _ := events(1200)
		evs[3] = `{"not":"an event"}` // shifts body indexes against record indexes
		p := &fakeProducer{put: refuse(event.ErrCodeThroughputExceeded, "ev-00700", "ev-01199")}
		status, resp, err := newHandler(t, p).Ingest(context.Background(), "", "", batch(evs...))
		if err != nil || status != 429 {
			t.Fatalf("Ingest = %d, %v; want 429", status, err)
		}
		var got []string
		for _, e := range resp.Errors {
			got = append(got, fmt.Sprintf("%d:%s:%t", e.Index, e.ID, e.Retryable))
		}
		want := []string{"3::false", "700:ev-00700:true", "1199:ev-01199:true"}
		if !slices.Equal(got, want) || resp.Accepted != 1197 || resp.Rejected != 3 {
			t.Errorf("errors = %v (accepted %d, rejected %d), want %v (1197, 3)", got, resp.Accepted, resp.Rejected, want)
		}
	})
}

// TestIngestFormats checks each content type and gzip on valid bodies, and the partition keys.
func TestIngestFormats(t *testing.T) {
	t.Parallel()
	a, b := valid("ev-a"), valid("ev-bb") // ev-bb has no subject: its id is its key
	tests := []struct {
		name, contentType, encoding string
		body                        []byte
		wantKeys                    []string
	}{
		{"single", event.ContentTypeSingle, "", []byte(a), []string{"customer-88213"}},
		{"single auto", "", "", []byte(" " + a + "\n"), []string{"customer-88213"}},
		{"batch", event.ContentTypeBatch, "", batch(a, b), []string{"customer-88213", "ev-bb"}},
		{"json array", "application/json; charset=utf-8", "", batch(a, b), []string{"customer-88213", "ev-bb"}},
		{"ndjson", event.ContentTypeNDJSON, "", ndjson(a, "", b), []string{"customer-88213", "ev-bb"}},
		{"gzip ndjson", event.ContentTypeNDJSON, "gzip", gzipped(t, ndjson(a, b), 0), []string{"customer-88213", "ev-bb"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProducer{}
			status, resp, err := newHandler(t, p).Ingest(context.Background(), tc.contentType, tc.encoding, tc.body)
			if err != nil || status != 202 || resp.Accepted != len(tc.wantKeys) {
				t.Fatalf("Ingest = %d, %+v, %v; want 202", status, resp, err)
			}
			var keys []string
			for _, r := range p.calls[0] {
				keys = append(keys, r.PartitionKey)
				if !segjson.Valid(r.Data) || !bytes.HasPrefix(r.Data, []byte("{")) {
					t.Errorf("record data is not the event's JSON: %.80s", r.Data)
				}
			}
			if !slices.Equal(keys, tc.wantKeys) {
				t.Errorf("partition keys = %q, want %q", keys, tc.wantKeys)
			}
		})
	}
}

// TestResponseJSON checks the wire shape of the answer: errors is always an array, optional members are
// left out.
func TestResponseJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp Response
		want string
	}{
		{"none rejected", Response{Accepted: 2, Errors: []ItemError{}, RetryAfter: time.Second},
			`{"accepted":2,"rejected":0,"errors":[]}`},
		{"rejected", Response{Accepted: 1, Rejected: 2, Errors: []ItemError{
			{Index: 0, Reason: "(event): malformed JSON (json)"},
			{Index: 2, ID: "e2", Reason: "throttled", Retryable: true}}},
			`{"accepted":1,"rejected":2,"errors":[{"index":0,"reason":"(event): malformed JSON (json)"},` +
				`{"index":2,"id":"e2","reason":"throttled","retryable":true}]}`},
		{"body refused", Response{Errors: []ItemError{}, Error: "malformed body: the body is empty"},
			`{"accepted":0,"rejected":0,"errors":[],"error":"malformed body: the body is empty"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := segjson.Marshal(tc.resp)
			if err != nil || string(b) != tc.want {
				t.Errorf("Marshal = %s, %v; want %s", b, err, tc.want)
			}
		})
	}
}

// FuzzIngest checks that no body panics the handler and that the counts always add up.
func FuzzIngest(f *testing.F) {
	f.Add(batch(valid("ev-a"), valid("ev-bb")), "")
	f.Add(ndjson(valid("ev-a"), `{"id":`, "[]"), event.ContentTypeNDJSON)
	f.Add([]byte(valid("ev-ccc")), event.ContentTypeSingle)
	f.Add([]byte(`[{"a":[[[[[[[[]]]]]]]]},1,"\u00"]`), "")
	p := &fakeProducer{}
	h := newHandler(f, p, WithLimits(event.Limits{MaxDepth: 4, MaxEventBytes: 4096}))
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		status, resp, err := h.Ingest(context.Background(), contentType, "", body)
		if err != nil {
			if status < 400 || resp.Accepted != 0 {
				t.Fatalf("refused body answered %d with %+v", status, resp)
			}
			return
		}
		if resp.Rejected != len(resp.Errors) || http.StatusText(status) == "" {
			t.Fatalf("status %d, response %+v: counts do not add up", status, resp)
		}
		if (status == 202) != (resp.Rejected == 0) {
			t.Fatalf("status %d with %d rejected", status, resp.Rejected)
		}
	})
}

// BenchmarkIngest measures the core path on a body of 100 valid events of the three types.
func BenchmarkIngest(b *testing.B) { benchmarkIngest(b) }

// BenchmarkIngestInstrumented is BenchmarkIngest with the metrics and a span per body, whose trace header
// is written into every event, as sdp up and the Lambda function run it.
func BenchmarkIngestInstrumented(b *testing.B) {
	tp, err := telemetry.NewTracerProvider(context.Background(), telemetry.TraceConfig{ServiceName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	benchmarkIngest(b, WithMetrics(telemetry.NewPipeline(telemetry.NewRegistry("sdp")), "ingest"), WithTracerProvider(tp))
}

func benchmarkIngest(b *testing.B, opts ...Option) {
	evs := make([]string, 100)
	for i := range evs {
		evs[i] = valid(fmt.Sprintf("9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c%0*d", 4+i%3, i))
	}
	body := batch(evs...)
	results, _ := takeAll(0, make([]event.Record, len(evs)))
	p := &fakeProducer{put: func(_ int, recs []event.Record) ([]event.PutResult, error) {
		return results[:len(recs)], nil
	}}
	h := newHandler(b, producerFunc(p.put), opts...)
	ctx := context.Background()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if status, _, err := h.Ingest(ctx, event.ContentTypeBatch, "", body); status != 202 || err != nil {
			b.Fatalf("Ingest = %d, %v", status, err)
		}
	}
	b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
}

// producerFunc adapts a function to Producer, without the fake's bookkeeping.
type producerFunc func(int, []event.Record) ([]event.PutResult, error)

func (f producerFunc) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	return f(0, recs)
}
