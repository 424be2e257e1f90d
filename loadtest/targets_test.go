package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
)

// The stream producer is what the CLI's Kinesis target writes through.
var _ RecordPutter = (*kinesis.Producer)(nil)

// TestHTTPTargetStatuses maps each answer of the ingest API to a Response.
func TestHTTPTargetStatuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		header        http.Header
		body          string
		wantAccepted  int
		wantRejected  int
		wantErr       string // substring of Err; empty for none
		wantThrottled bool
		wantFailed    bool
	}{
		{name: "all accepted", status: 202, body: `{"accepted":10,"rejected":0,"errors":[]}`, wantAccepted: 10},
		{name: "some rejected, one pushed back", status: 207,
			body:         `{"accepted":7,"rejected":3,"errors":[{"index":1,"id":"a","reason":"/type: unknown"},{"index":4,"id":"b","reason":"x"},{"index":9,"id":"c","reason":"throttled","retryable":true}]}`,
			wantAccepted: 7, wantRejected: 2},
		{name: "none accepted", status: 400, body: `{"accepted":0,"rejected":10,"errors":[{"index":0,"reason":"x"}]}`, wantRejected: 1},
		{name: "bad body", status: 400, body: `{"accepted":0,"rejected":0,"errors":[],"error":"malformed JSON at byte 3"}`,
			wantErr: "malformed JSON at byte 3", wantFailed: true},
		{name: "too large", status: 413, body: `{"accepted":0,"rejected":0,"errors":[],"error":"the body is too large"}`,
			wantErr: "413 Request Entity Too Large: the body is too large", wantFailed: true},
		{name: "throttled", status: 429, header: http.Header{"Retry-After": {"1"}},
			body: `{"accepted":0,"rejected":10,"errors":[]}`, wantErr: `(Retry-After "1")`, wantThrottled: true, wantFailed: true},
		{name: "unavailable", status: 503, header: http.Header{"Retry-After": {"2"}}, body: `{}`, wantThrottled: true, wantFailed: true},
		{name: "server error", status: 500, body: "boom\n", wantErr: "500 Internal Server Error: boom", wantFailed: true},
		{name: "forbidden", status: 403, body: `{"message":"Forbidden"}`, wantErr: "403 Forbidden: Forbidden", wantFailed: true},
		{name: "202 without JSON", status: 202, body: "ok", wantErr: "not the ingest API's JSON", wantFailed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = v
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			target, err := NewHTTPTarget(srv.URL+"/v1/events", newGen(t, GenConfig{Seed: 1}), 10)
			if err != nil {
				t.Fatal(err)
			}
			resp := target.Hit(context.Background(), Request{Seq: 3, Intended: genStamp})
			if resp.Events != 10 || resp.Bytes < 10*200 || resp.Code != strconv.Itoa(tt.status) {
				t.Errorf("events %d, bytes %d, code %q", resp.Events, resp.Bytes, resp.Code)
			}
			if resp.Accepted != tt.wantAccepted || resp.Rejected != tt.wantRejected {
				t.Errorf("accepted %d, rejected %d; want %d and %d", resp.Accepted, resp.Rejected, tt.wantAccepted, tt.wantRejected)
			}
			switch {
			case tt.wantErr == "" && !tt.wantThrottled && resp.Err != nil:
				t.Errorf("unexpected error %v", resp.Err)
			case tt.wantErr != "" && (resp.Err == nil || !strings.Contains(resp.Err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", resp.Err, tt.wantErr)
			}
			if got := errors.Is(resp.Err, ErrThrottled); got != tt.wantThrottled {
				t.Errorf("throttled: %v, want %v", resp.Err, tt.wantThrottled)
			}
			if resp.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v", resp.Failed(), tt.wantFailed)
			}
		})
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestHTTPTargetRequest checks what the target sends: the batch as the generator made it, its content type,
// and the API key.
func TestHTTPTargetRequest(t *testing.T) {
	t.Parallel()
	gen := newGen(t, GenConfig{Seed: 5})
	want, _ := gen.Batch(8, 25, genStamp)
	tests := []struct {
		name   string
		opts   []HTTPOption
		apiKey string
	}{
		{"no key", nil, ""},
		{"API key", []HTTPOption{WithAPIKey("k-123")}, "k-123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got struct {
				method, path, contentType, apiKey, auth string
				body                                    []byte
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got.method, got.path, got.contentType, got.apiKey, got.auth, got.body =
					r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("x-api-key"), r.Header.Get("Authorization"), b
				w.WriteHeader(202)
				io.WriteString(w, `{"accepted":25,"rejected":0,"errors":[]}`)
			}))
			defer srv.Close()
			target, err := NewHTTPTarget(srv.URL+"/v1/events", gen, 25, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if resp := target.Hit(context.Background(), Request{Seq: 8, Intended: genStamp}); resp.Err != nil || resp.Accepted != 25 {
				t.Fatalf("hit: %+v", resp)
			}
			if got.method != "POST" || got.path != "/v1/events" || got.contentType != event.ContentTypeBatch ||
				got.apiKey != tt.apiKey || got.auth != "" || string(got.body) != string(want) {
				t.Fatalf("request %s %s, content type %q, key %q, auth %q, body of %d bytes (want %d)",
					got.method, got.path, got.contentType, got.apiKey, got.auth, len(got.body), len(want))
			}
		})
	}
}

// TestHTTPTargetSigV4 checks that a signed request carries a SigV4 signature for execute-api that verifies:
// the signature recomputed over the signed headers as the server received them is the one sent.
func TestHTTPTargetSigV4(t *testing.T) {
	t.Parallel()
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "session-token")
	type seen struct {
		auth, token string
		ok          bool
		why         string
	}
	var mu sync.Mutex
	var reqs []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{auth: r.Header.Get("Authorization"), token: r.Header.Get("X-Amz-Security-Token")}
		s.ok, s.why = verifySigV4(r, body, creds)
		mu.Lock()
		reqs = append(reqs, s)
		mu.Unlock()
		if r.Method == http.MethodGet {
			w.WriteHeader(404)
			io.WriteString(w, `{"message":"not curated"}`)
			return
		}
		w.WriteHeader(202)
		io.WriteString(w, `{"accepted":3,"rejected":0,"errors":[]}`)
	}))
	defer srv.Close()

	h, err := NewHTTPTarget(srv.URL+"/prod/v1/events", newGen(t, GenConfig{Seed: 2}), 3, WithSigV4(creds, "eu-west-1"))
	if err != nil {
		t.Fatal(err)
	}
	e2e, err := NewE2ETarget(h, 10)
	if err != nil {
		t.Fatal(err)
	}
	if resp := e2e.Hit(context.Background(), Request{Seq: 1, Intended: time.Now()}); resp.Err != nil || resp.Accepted != 3 {
		t.Fatalf("hit: %+v", resp)
	}
	// The reads of the read API are signed too.
	rep := e2e.Arrivals(context.Background(), srv.URL+"/prod", time.Millisecond)
	if rep.Valid.Tracked != 3 || rep.Valid.Missing != 3 || rep.ReadErrors != 0 {
		t.Fatalf("arrivals: %+v", rep)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want a POST and 3 GETs", len(reqs))
	}
	for i, s := range reqs {
		if !strings.HasPrefix(s.auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") ||
			!strings.Contains(s.auth, "/eu-west-1/execute-api/aws4_request") || s.token != "session-token" || !s.ok {
			t.Errorf("request %d: Authorization %q, token %q, verified %v (%s)", i, s.auth, s.token, s.ok, s.why)
		}
	}

	if _, err := NewHTTPTarget(srv.URL, newGen(t, GenConfig{}), 1, WithSigV4(creds, "")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("SigV4 without a region: %v", err)
	}
}

// verifySigV4 recomputes a request's signature from the headers it says it signed.
func verifySigV4(r *http.Request, body []byte, creds aws.CredentialsProvider) (bool, string) {
	auth := r.Header.Get("Authorization")
	_, signed, ok := strings.Cut(auth, "SignedHeaders=")
	if !ok {
		return false, "no SignedHeaders"
	}
	signed, _, _ = strings.Cut(signed, ",")
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false, "bad X-Amz-Date"
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.ContentLength = r.ContentLength
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	req.Header.Del("X-Amz-Date")
	c, err := creds.Retrieve(context.Background())
	if err != nil {
		return false, err.Error()
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), c, req, sha256Hex(body), "execute-api", "eu-west-1", when); err != nil {
		return false, err.Error()
	}
	if got := req.Header.Get("Authorization"); got != auth {
		return false, "recomputed " + got
	}
	return true, ""
}

// fakePutter is a RecordPutter whose answers a test sets.
type fakePutter struct {
	put func(recs []event.Record) ([]event.PutResult, error)
}

func (f fakePutter) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	return f.put(recs)
}

// TestKinesisTarget counts the records the stream took.
func TestKinesisTarget(t *testing.T) {
	t.Parallel()
	taken := func(i int) event.PutResult {
		return event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: strconv.Itoa(i + 1)}
	}
	tests := []struct {
		name         string
		put          func(recs []event.Record) ([]event.PutResult, error)
		wantAccepted int
		wantCode     string
		wantErr      string
	}{
		{"all taken", func(recs []event.Record) ([]event.PutResult, error) {
			out := make([]event.PutResult, len(recs))
			for i := range out {
				out[i] = taken(i)
			}
			return out, nil
		}, 20, "200", ""},
		{"some throttled", func(recs []event.Record) ([]event.PutResult, error) {
			out := make([]event.PutResult, len(recs))
			for i := range out {
				out[i] = taken(i)
				if i%4 == 1 {
					out[i] = event.PutResult{ErrorCode: event.ErrCodeThroughputExceeded, ErrorMessage: "slow down"}
				}
			}
			return out, nil
		}, 15, event.ErrCodeThroughputExceeded, "5 of 20 records not taken"},
		{"call failed", func([]event.Record) ([]event.PutResult, error) {
			return nil, errors.New("stream not found")
		}, 0, "", "put records: stream not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gen := newGen(t, GenConfig{Seed: 3, Keys: 5})
			var got []event.Record
			target, err := NewKinesisTarget(fakePutter{func(recs []event.Record) ([]event.PutResult, error) {
				got = recs
				return tt.put(recs)
			}}, gen, 20)
			if err != nil {
				t.Fatal(err)
			}
			resp := target.Hit(context.Background(), Request{Seq: 4, Intended: genStamp})
			want, _ := gen.Records(4, 20, genStamp)
			if len(got) != 20 || got[0].PartitionKey != want[0].PartitionKey || string(got[19].Data) != string(want[19].Data) {
				t.Fatalf("put %d records, not the generator's", len(got))
			}
			bytes := 0
			for _, r := range want {
				bytes += len(r.PartitionKey) + len(r.Data)
			}
			if resp.Events != 20 || resp.Bytes != bytes || resp.Accepted != tt.wantAccepted || resp.Code != tt.wantCode {
				t.Errorf("response %+v, want %d accepted, code %q, %d bytes", resp, tt.wantAccepted, tt.wantCode, bytes)
			}
			if (tt.wantErr == "") != (resp.Err == nil) || (resp.Err != nil && !strings.Contains(resp.Err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", resp.Err, tt.wantErr)
			}
		})
	}
}

// fakePlatform is an ingest and read API in one: it validates events with the registry, accepts the valid
// ones and makes them readable, except those whose subject a quarantine rule would stop.
type fakePlatform struct {
	reg   *event.Registry
	mu    sync.Mutex
	items map[string]time.Time // id → curatedAt
	// holdEv says which valid events never become readable.
	holdEv func(ev event.Event) bool
}

func (f *fakePlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Method == http.MethodGet {
		id := strings.TrimPrefix(r.URL.Path, "/v1/events/")
		at, ok := f.items[id]
		if !ok {
			w.WriteHeader(404)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"id": id, "curatedAt": at})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		w.WriteHeader(400)
		return
	}
	type itemErr struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	}
	errs := []itemErr{}
	for i, raw := range raws {
		ev, err := f.reg.Validate(raw)
		if err != nil {
			errs = append(errs, itemErr{i, err.Error()})
			continue
		}
		if !f.holdEv(ev) {
			f.items[ev.ID] = time.Now().Add(3 * time.Millisecond)
		}
	}
	status := 202
	if len(errs) > 0 {
		status = 207
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"accepted": len(raws) - len(errs), "rejected": len(errs), "errors": errs})
}

// TestE2EArrivals follows accepted events to the read API: valid ones arrive, poison ones do not, and only a
// sample is followed beyond the bound.
func TestE2EArrivals(t *testing.T) {
	t.Parallel()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		cfg         GenConfig
		hits, batch int
		maxTracked  int
		hold        func(ev event.Event) bool
		wait        time.Duration
		check       func(t *testing.T, rep ArrivalReport, accepted int)
	}{
		{
			name: "valid arrive, poison do not", cfg: GenConfig{Seed: 1, InvalidRatio: 0.1, PoisonRatio: 0.1},
			hits: 10, batch: 50, maxTracked: 10000, wait: 300 * time.Millisecond,
			hold: func(ev event.Event) bool { return strings.HasPrefix(ev.Subject, "poison-") },
			check: func(t *testing.T, rep ArrivalReport, accepted int) {
				if rep.Sampled || rep.Accepted != uint64(accepted) || rep.Valid.Tracked+rep.Poison.Tracked != accepted {
					t.Errorf("tracked %+v of %d accepted", rep, accepted)
				}
				if rep.Valid.Arrived != rep.Valid.Tracked || rep.Valid.Missing != 0 || rep.Poison.Tracked == 0 ||
					rep.Poison.Arrived != 0 || rep.Poison.Missing != rep.Poison.Tracked {
					t.Errorf("valid %+v, poison %+v", rep.Valid, rep.Poison)
				}
				if rep.Latency.P50 <= 0 || rep.Latency.Max < rep.Latency.P99 || rep.Waited < 300*time.Millisecond {
					t.Errorf("latency %+v, waited %v", rep.Latency, rep.Waited)
				}
			},
		},
		{
			name: "a sample beyond the bound", cfg: GenConfig{Seed: 2},
			hits: 20, batch: 50, maxTracked: 100, wait: time.Second,
			hold: func(event.Event) bool { return false },
			check: func(t *testing.T, rep ArrivalReport, accepted int) {
				if !rep.Sampled || rep.Accepted != 1000 || rep.Valid.Tracked != 100 || rep.Valid.Arrived != 100 {
					t.Errorf("report %+v", rep)
				}
				if rep.Waited >= time.Second {
					t.Errorf("waited %v though every event arrived", rep.Waited)
				}
			},
		},
		{
			name: "valid events missing until the wait ends", cfg: GenConfig{Seed: 3},
			hits: 2, batch: 10, maxTracked: 100, wait: 200 * time.Millisecond,
			hold: func(ev event.Event) bool { return ev.Type == "page_view" },
			check: func(t *testing.T, rep ArrivalReport, accepted int) {
				if rep.Valid.Missing == 0 || rep.Valid.Arrived+rep.Valid.Missing != 20 || rep.Waited < 200*time.Millisecond {
					t.Errorf("report %+v", rep)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			platform := &fakePlatform{reg: reg, items: map[string]time.Time{}, holdEv: tt.hold}
			srv := httptest.NewServer(platform)
			defer srv.Close()
			h, err := NewHTTPTarget(srv.URL+"/v1/events", newGen(t, tt.cfg), tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			e2e, err := NewE2ETarget(h, tt.maxTracked)
			if err != nil {
				t.Fatal(err)
			}
			accepted := 0
			var wg sync.WaitGroup
			var mu sync.Mutex
			for seq := range uint64(tt.hits) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp := e2e.Hit(context.Background(), Request{Seq: seq, Intended: time.Now()})
					if resp.Err != nil {
						t.Error(resp.Err)
					}
					mu.Lock()
					accepted += resp.Accepted
					mu.Unlock()
				}()
			}
			wg.Wait()
			tt.check(t, e2e.Arrivals(context.Background(), srv.URL, tt.wait), accepted)
		})
	}
}

// TestLatencyStats checks the nearest-rank percentiles.
func TestLatencyStats(t *testing.T) {
	t.Parallel()
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name string
		in   []time.Duration
		want Latencies
	}{
		{"empty", nil, Latencies{}},
		{"one", []time.Duration{ms(7)}, Latencies{ms(7), ms(7), ms(7), ms(7), ms(7), ms(7), ms(7)}},
		{"1 to 100 shuffled", func() []time.Duration {
			var out []time.Duration
			for i := 100; i >= 1; i-- {
				out = append(out, ms(i))
			}
			return out
		}(), Latencies{P50: ms(50), P90: ms(90), P95: ms(95), P99: ms(99), P999: ms(100), Max: ms(100), Mean: 50*time.Millisecond + 500*time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := latencyStats(tt.in); got != tt.want {
				t.Errorf("latencyStats = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestNewTargetErrors checks the settings the target constructors refuse.
func TestNewTargetErrors(t *testing.T) {
	t.Parallel()
	gen := newGen(t, GenConfig{})
	tests := []struct {
		name string
		new  func() error
	}{
		{"no scheme", func() error { _, err := NewHTTPTarget("localhost:4599/v1/events", gen, 1); return err }},
		{"no generator", func() error { _, err := NewHTTPTarget("http://h/v1/events", nil, 1); return err }},
		{"empty batch", func() error { _, err := NewHTTPTarget("http://h/v1/events", gen, 0); return err }},
		{"batch over the API's limit", func() error { _, err := NewHTTPTarget("http://h/v1/events", gen, 10001); return err }},
		{"no producer", func() error { _, err := NewKinesisTarget(nil, gen, 1); return err }},
		{"no HTTP target", func() error { _, err := NewE2ETarget(nil, 1); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.new(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// TestArrivalReportJSON round-trips a report through its JSON form and checks the keys scripts read.
func TestArrivalReportJSON(t *testing.T) {
	t.Parallel()
	rep := ArrivalReport{Accepted: 10, Sampled: true, Valid: ArrivalCounts{8, 7, 1}, Poison: ArrivalCounts{2, 0, 2},
		Latency: Latencies{P50: time.Millisecond, P99: 3 * time.Millisecond, Max: 4 * time.Millisecond},
		Waited:  1500 * time.Millisecond, ReadErrors: 1, LastReadError: "GET x: 500"}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"accepted":10`, `"valid":{"tracked":8,"arrived":7,"missing":1}`, `"p99Ms":3`,
		`"waited":1500000000`, `"waitedMs":1500`, `"readErrors":1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	var back ArrivalReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != rep {
		t.Errorf("round trip gave %+v, want %+v", back, rep)
	}
	var text bytes.Buffer
	if err := rep.Text(&text); err != nil || !strings.Contains(text.String(), "8, 7, 1 (a sample of the 10 accepted)") ||
		!strings.Contains(text.String(), "Read errors") {
		t.Errorf("text %q (%v)", text.String(), err)
	}
}
