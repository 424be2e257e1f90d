package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Compile-time checks that the targets are Targets.
var (
	_ Target = (*HTTPTarget)(nil)
	_ Target = (*KinesisTarget)(nil)
	_ Target = (*E2ETarget)(nil)
)

// ErrThrottled is wrapped by the error of a hit the ingest API pushed back (429 or 503): its events were not
// acknowledged.
var ErrThrottled = errors.New("loadtest: throttled")

// apiKeyHeader is the header API Gateway reads an API key from.
const apiKeyHeader = "x-api-key"

// executeAPI is the SigV4 signing name of API Gateway's invoke endpoints.
const executeAPI = "execute-api"

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 8 << 20

// answer is the ingest API's JSON answer: {"accepted": N, "rejected": M, "errors": [...]}.
type answer struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	Errors   []struct {
		Index     int    `json:"index"`
		ID        string `json:"id"`
		Reason    string `json:"reason"`
		Retryable bool   `json:"retryable"`
	} `json:"errors"`
	// Error says what is wrong with the body as a whole; Message is API Gateway's own error field.
	Error   string `json:"error"`
	Message string `json:"message"`
}

// HTTPTarget posts batches of generated events to an ingest API as application/cloudevents-batch+json. It
// is safe for concurrent use.
type HTTPTarget struct {
	url    string
	gen    *Generator
	batch  int
	client *http.Client
	apiKey string
	// creds, region and signer sign each request with SigV4 for execute-api when creds is set.
	creds  aws.CredentialsProvider
	region string
	signer *v4.Signer
}

// HTTPOption configures an HTTPTarget.
type HTTPOption func(*HTTPTarget)

// WithHTTPClient sets the client that sends the requests (default: one whose transport keeps up to 1024 idle
// connections to the API, so that many workers reuse their connections).
func WithHTTPClient(c *http.Client) HTTPOption {
	return func(t *HTTPTarget) {
		if c != nil {
			t.client = c
		}
	}
}

// WithAPIKey sends key in the x-api-key header of every request, as API Gateway's usage plans expect.
func WithAPIKey(key string) HTTPOption {
	return func(t *HTTPTarget) { t.apiKey = key }
}

// WithSigV4 signs every request with AWS Signature Version 4 for execute-api in region, with credentials
// from creds (for an API whose routes use IAM authorization). Credentials are cached between requests.
func WithSigV4(creds aws.CredentialsProvider, region string) HTTPOption {
	return func(t *HTTPTarget) {
		if creds == nil {
			return
		}
		if !aws.IsCredentialsProvider(creds, (*aws.CredentialsCache)(nil)) {
			creds = aws.NewCredentialsCache(creds)
		}
		t.creds, t.region, t.signer = creds, region, v4.NewSigner()
	}
}

// NewHTTPTarget returns a target that posts batches of batch events from gen to ingestURL. It does no I/O.
func NewHTTPTarget(ingestURL string, gen *Generator, batch int, opts ...HTTPOption) (*HTTPTarget, error) {
	u, err := url.Parse(ingestURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: ingest URL %q: want http(s)://host/path", ErrInvalidConfig, ingestURL)
	}
	if gen == nil || batch < 1 || batch > event.DefaultLimits.MaxEvents {
		return nil, fmt.Errorf("%w: a generator and a batch of 1 to %d events are required (batch %d)", ErrInvalidConfig, event.DefaultLimits.MaxEvents, batch)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	t := &HTTPTarget{url: ingestURL, gen: gen, batch: batch, client: &http.Client{Transport: tr}}
	for _, o := range opts {
		o(t)
	}
	if t.creds != nil && t.region == "" {
		return nil, fmt.Errorf("%w: SigV4 signing needs a region", ErrInvalidConfig)
	}
	return t, nil
}

// URL returns the ingest URL the target posts to.
func (t *HTTPTarget) URL() string { return t.url }

// Hit posts the batch of r.Seq and maps the answer: 202, 207 and 400 give the accepted and rejected counts
// of the JSON answer (events refused as invalid are not errors, but a 400 about the body as a whole is);
// 429 and 503 are errors wrapping ErrThrottled; 413 and any other status are errors. The events' time is
// r.Intended.
func (t *HTTPTarget) Hit(ctx context.Context, r Request) Response {
	resp, _ := t.post(ctx, r)
	return resp
}

// posted is what one POST sent and learnt, for the end-to-end target.
type posted struct {
	sent     time.Time
	infos    []EventInfo
	accepted []bool // per event: acknowledged by the API
}

// post sends the batch of r.Seq and returns the hit's Response and what was posted.
func (t *HTTPTarget) post(ctx context.Context, r Request) (Response, posted) {
	stamp := r.Intended
	if stamp.IsZero() {
		stamp = time.Now()
	}
	body, infos := t.gen.Batch(r.Seq, t.batch, stamp)
	p := posted{infos: infos}
	resp := Response{Events: len(infos), Bytes: len(body)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		resp.Err = fmt.Errorf("POST %s: %w", t.url, err)
		return resp, p
	}
	req.Header.Set("Content-Type", event.ContentTypeBatch)
	if err := t.authorize(ctx, req, body); err != nil {
		resp.Err = err
		return resp, p
	}
	p.sent = time.Now()
	hr, err := t.client.Do(req)
	if err != nil {
		resp.Err = fmt.Errorf("POST %s: %w", t.url, err)
		return resp, p
	}
	defer hr.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hr.Body, maxAnswerBytes))
	resp.Code = strconv.Itoa(hr.StatusCode)
	if err != nil {
		resp.Err = fmt.Errorf("POST %s: reading the %s answer: %w", t.url, hr.Status, err)
		return resp, p
	}
	var ans answer
	jsonErr := json.Unmarshal(raw, &ans)
	switch hr.StatusCode {
	case http.StatusAccepted, http.StatusMultiStatus, http.StatusBadRequest:
		if jsonErr != nil {
			resp.Err = fmt.Errorf("POST %s: %s with an answer that is not the ingest API's JSON: %w", t.url, hr.Status, jsonErr)
			return resp, p
		}
		if hr.StatusCode == http.StatusBadRequest && (ans.Error != "" || ans.Message != "") {
			resp.Err = fmt.Errorf("POST %s: %s: %s%s", t.url, hr.Status, ans.Error, ans.Message)
			return resp, p
		}
		resp.Accepted = ans.Accepted
		p.accepted = make([]bool, len(infos))
		for i := range p.accepted {
			p.accepted[i] = true
		}
		for _, e := range ans.Errors {
			if e.Index >= 0 && e.Index < len(infos) {
				p.accepted[e.Index] = false
			}
			if !e.Retryable {
				resp.Rejected++
			}
		}
		if len(ans.Errors) == 0 {
			resp.Rejected = ans.Rejected
		}
		if hr.StatusCode == http.StatusBadRequest || ans.Accepted == 0 {
			clear(p.accepted)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		resp.Err = fmt.Errorf("POST %s: %w: %s (Retry-After %q)", t.url, ErrThrottled, hr.Status, hr.Header.Get("Retry-After"))
	default:
		msg := ans.Error + ans.Message
		if jsonErr != nil || msg == "" {
			msg = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		}
		resp.Err = fmt.Errorf("POST %s: %s: %s", t.url, hr.Status, msg)
	}
	return resp, p
}

// authorize adds the API key and the SigV4 signature, when configured, to req whose body is body.
func (t *HTTPTarget) authorize(ctx context.Context, req *http.Request, body []byte) error {
	if t.apiKey != "" {
		req.Header.Set(apiKeyHeader, t.apiKey)
	}
	if t.creds == nil {
		return nil
	}
	creds, err := t.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("SigV4: retrieving AWS credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := t.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), executeAPI, t.region, time.Now()); err != nil {
		return fmt.Errorf("SigV4: signing %s %s: %w", req.Method, req.URL, err)
	}
	return nil
}

// RecordPutter is the part of a stream producer that KinesisTarget uses; *kinesis.Producer of package
// stream/kinesis satisfies it. PutRecords returns one result per record, in order: a record was taken when
// its result has a SequenceNumber. A non-nil error means no record was taken.
type RecordPutter interface {
	PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error)
}

// KinesisTarget writes batches of generated events straight to a stream with PutRecords, keyed by subject,
// bypassing the ingest API (and its validation: invalid events are written too). It is safe for concurrent
// use when its RecordPutter is.
type KinesisTarget struct {
	put   RecordPutter
	gen   *Generator
	batch int
}

// NewKinesisTarget returns a target that writes batches of batch events from gen through put. It does no
// I/O.
func NewKinesisTarget(put RecordPutter, gen *Generator, batch int) (*KinesisTarget, error) {
	if put == nil || gen == nil || batch < 1 {
		return nil, fmt.Errorf("%w: a producer, a generator and a batch of at least 1 event are required (batch %d)", ErrInvalidConfig, batch)
	}
	return &KinesisTarget{put: put, gen: gen, batch: batch}, nil
}

// Hit writes the batch of r.Seq. Accepted counts the records the stream took; when some were not taken
// (after the producer's own retries), Code is the first one's Kinesis error code and Err says how many; a
// call error leaves Code to the attacker ("error" or "timeout").
func (t *KinesisTarget) Hit(ctx context.Context, r Request) Response {
	stamp := r.Intended
	if stamp.IsZero() {
		stamp = time.Now()
	}
	recs, _ := t.gen.Records(r.Seq, t.batch, stamp)
	resp := Response{Events: len(recs)}
	for _, rec := range recs {
		resp.Bytes += len(rec.PartitionKey) + len(rec.Data)
	}
	results, err := t.put.PutRecords(ctx, recs)
	if err != nil {
		resp.Err = fmt.Errorf("put records: %w", err)
		return resp
	}
	failed, firstCode := 0, ""
	for _, res := range results {
		if res.SequenceNumber != "" {
			resp.Accepted++
			continue
		}
		if failed == 0 {
			firstCode = res.ErrorCode
		}
		failed++
	}
	resp.Code = "200"
	if failed > 0 || len(results) != len(recs) {
		if firstCode == "" {
			firstCode = "error"
		}
		resp.Code = firstCode
		resp.Err = fmt.Errorf("put records: %d of %d records not taken (%s)", len(recs)-resp.Accepted, len(recs), firstCode)
	}
	return resp
}

// DefaultTracked is how many accepted events an E2ETarget follows by default.
const DefaultTracked = 100_000

// E2ETarget posts like an HTTPTarget and remembers the id and send time of the events the API accepted, so
// that Arrivals can then measure how long each took to reach the curated table. It keeps at most a bounded
// number of events: beyond it, a uniform sample of the accepted events (reservoir sampling). It is safe for
// concurrent use.
type E2ETarget struct {
	http *HTTPTarget
	max  int

	mu       sync.Mutex
	tracked  []trackedEvent // guarded by mu
	accepted uint64         // events accepted so far; guarded by mu
	rng      *rand.Rand     // picks the sample; guarded by mu
}

// trackedEvent is one accepted event being followed.
type trackedEvent struct {
	id     string
	poison bool
	sent   time.Time
}

// NewE2ETarget returns a target posting through h and following at most maxTracked accepted events
// (DefaultTracked when 0 or less). It does no I/O.
func NewE2ETarget(h *HTTPTarget, maxTracked int) (*E2ETarget, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: an HTTP target is required", ErrInvalidConfig)
	}
	if maxTracked <= 0 {
		maxTracked = DefaultTracked
	}
	seed := h.gen.cfg.Seed
	return &E2ETarget{http: h, max: maxTracked, rng: rand.New(rand.NewPCG(seed, ^seed))}, nil
}

// Hit posts the batch of r.Seq as HTTPTarget.Hit does and remembers its accepted events.
func (t *E2ETarget) Hit(ctx context.Context, r Request) Response {
	resp, p := t.http.post(ctx, r)
	if len(p.accepted) == 0 {
		return resp
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, ok := range p.accepted {
		if !ok {
			continue
		}
		t.accepted++
		ev := trackedEvent{id: p.infos[i].ID, poison: p.infos[i].Poison, sent: p.sent}
		if len(t.tracked) < t.max {
			t.tracked = append(t.tracked, ev)
		} else if j := t.rng.Uint64N(t.accepted); j < uint64(t.max) {
			t.tracked[j] = ev
		}
	}
	return resp
}

// ArrivalCounts counts the followed events of one kind.
type ArrivalCounts struct {
	Tracked int `json:"tracked"`
	Arrived int `json:"arrived"`
	Missing int `json:"missing"`
}

// ArrivalReport is what Arrivals found: how many of the followed events reached the curated table, by kind
// (valid, and poison, which a quarantine rule keeps out), and the latency from each event's POST to its
// curatedAt. Both times come from the same machine's clock when the platform runs locally; against a
// deployed one they include the clocks' skew.
type ArrivalReport struct {
	// Accepted is how many events the API accepted; Sampled is true when only a sample of them was followed.
	Accepted uint64 `json:"accepted"`
	Sampled  bool   `json:"sampled"`
	// Valid counts the valid events that no rule quarantines; Poison those whose subject a rule quarantines.
	Valid  ArrivalCounts `json:"valid"`
	Poison ArrivalCounts `json:"poison"`
	// Latency is the ingest → curated latency of the arrived events.
	Latency Latencies `json:"latency"`
	// Waited is how long Arrivals polled (in JSON, nanoseconds and a "waitedMs" twin in milliseconds).
	Waited time.Duration `json:"-"`
	// ReadErrors counts reads that failed (neither 200 nor 404).
	ReadErrors int `json:"readErrors"`
	// LastReadError is the last of those failures, for a person to read.
	LastReadError string `json:"lastReadError,omitempty"`
}

// arrivalJSON is ArrivalReport's own fields, for its JSON form.
type arrivalJSON ArrivalReport

// MarshalJSON writes the report with camelCase keys, as the Summary's JSON reads: durations in nanoseconds
// with a "…Ms" twin in milliseconds.
func (a ArrivalReport) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		arrivalJSON
		Waited   int64   `json:"waited"`
		WaitedMs float64 `json:"waitedMs"`
	}{arrivalJSON(a), int64(a.Waited), float64(a.Waited) / float64(time.Millisecond)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (a *ArrivalReport) UnmarshalJSON(b []byte) error {
	var v struct {
		arrivalJSON
		Waited int64 `json:"waited"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("arrival report: %w", err)
	}
	*a = ArrivalReport(v.arrivalJSON)
	a.Waited = time.Duration(v.Waited)
	return nil
}

// Text writes the report as aligned text lines.
func (a ArrivalReport) Text(w io.Writer) error {
	l := a.Latency
	sample := ""
	if a.Sampled {
		sample = fmt.Sprintf(" (a sample of the %d accepted)", a.Accepted)
	}
	lines := [][2]string{
		{"Arrivals   [valid: tracked, arrived, missing]", fmt.Sprintf("%d, %d, %d%s", a.Valid.Tracked, a.Valid.Arrived, a.Valid.Missing, sample)},
		{"Arrivals   [poison: tracked, arrived, missing]", fmt.Sprintf("%d, %d, %d", a.Poison.Tracked, a.Poison.Arrived, a.Poison.Missing)},
		{"Ingest→curated [p50, p90, p95, p99, p99.9, max, mean]", strings.Join([]string{
			fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P95), fmtDuration(l.P99),
			fmtDuration(l.P999), fmtDuration(l.Max), fmtDuration(l.Mean)}, ", ")},
		{"Waited", fmtDuration(a.Waited)},
	}
	if a.ReadErrors > 0 {
		lines = append(lines, [2]string{"Read errors", fmt.Sprintf("%d (last: %s)", a.ReadErrors, a.LastReadError)})
	}
	var b strings.Builder
	for _, kv := range lines {
		fmt.Fprintf(&b, "%-53s  %s\n", kv[0], kv[1])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write arrival report: %w", err)
	}
	return nil
}

// Arrival polling settings: concurrent reads, and the pause between rounds over the pending events.
const (
	arrivalReaders = 16
	arrivalPoll    = 100 * time.Millisecond
	// arrivalGrace is how long poison events still get once every valid event has arrived.
	arrivalGrace = time.Second
)

// Arrivals polls the read API, GET {readURL}/v1/events/{id}, for every followed event until each has
// arrived, or until wait has passed, or ctx ends; at most 16 reads are in flight. Once every valid event has
// arrived, the poison events still missing get one more second (within wait) and are then counted missing:
// valid events sent after them have made it through, and a quarantine rule keeps them out for good. It uses
// the HTTP target's client, API key and signing. Call it after the attack, once.
func (t *E2ETarget) Arrivals(ctx context.Context, readURL string, wait time.Duration) ArrivalReport {
	t.mu.Lock()
	tracked := slices.Clone(t.tracked)
	rep := ArrivalReport{Accepted: t.accepted, Sampled: t.accepted > uint64(len(t.tracked))}
	t.mu.Unlock()

	base := strings.TrimSuffix(readURL, "/") + "/v1/events/"
	start := time.Now()
	deadline := start.Add(wait)
	pending := make([]int, len(tracked))
	for i, ev := range tracked {
		pending[i] = i
		if ev.poison {
			rep.Poison.Tracked++
		} else {
			rep.Valid.Tracked++
		}
	}
	var latencies []time.Duration
	var validDoneAt time.Time
	type outcome struct {
		arrived   bool
		curatedAt time.Time
		err       error
	}
	outcomes := make([]outcome, len(tracked))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for len(pending) > 0 {
		// One round: read every pending event, arrivalReaders at a time.
		sem := make(chan struct{}, arrivalReaders)
		var wg sync.WaitGroup
		for _, i := range pending {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				at, ok, err := t.curatedAt(ctx, base+url.PathEscape(tracked[i].id))
				outcomes[i] = outcome{ok, at, err}
			}()
		}
		wg.Wait()
		still := pending[:0]
		validPending := false
		for _, i := range pending {
			o := outcomes[i]
			if o.err != nil && ctx.Err() == nil {
				rep.ReadErrors++
				rep.LastReadError = o.err.Error()
			}
			if !o.arrived {
				still = append(still, i)
				validPending = validPending || !tracked[i].poison
				continue
			}
			d := o.curatedAt.Sub(tracked[i].sent)
			latencies = append(latencies, d)
			if tracked[i].poison {
				rep.Poison.Arrived++
			} else {
				rep.Valid.Arrived++
			}
		}
		pending = still
		now := time.Now()
		if len(pending) == 0 || ctx.Err() != nil || !now.Before(deadline) {
			break
		}
		if !validPending {
			if validDoneAt.IsZero() {
				validDoneAt = now
			}
			if now.Sub(validDoneAt) >= arrivalGrace {
				break
			}
		}
		timer.Reset(min(arrivalPoll, deadline.Sub(now)))
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	rep.Waited = time.Since(start)
	rep.Valid.Missing = rep.Valid.Tracked - rep.Valid.Arrived
	rep.Poison.Missing = rep.Poison.Tracked - rep.Poison.Arrived
	rep.Latency = latencyStats(latencies)
	return rep
}

// curatedAt reads one curated item and returns its curatedAt; ok is false while the item is not there (404).
func (t *E2ETarget) curatedAt(ctx context.Context, u string) (at time.Time, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return at, false, fmt.Errorf("GET %s: %w", u, err)
	}
	if err := t.http.authorize(ctx, req, nil); err != nil {
		return at, false, err
	}
	resp, err := t.http.client.Do(req)
	if err != nil {
		return at, false, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	switch {
	case err != nil:
		return at, false, fmt.Errorf("GET %s: reading the answer: %w", u, err)
	case resp.StatusCode == http.StatusNotFound:
		return at, false, nil
	case resp.StatusCode != http.StatusOK:
		return at, false, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(raw[:min(len(raw), 200)])))
	}
	var item struct {
		CuratedAt time.Time `json:"curatedAt"`
	}
	if err := json.Unmarshal(raw, &item); err != nil || item.CuratedAt.IsZero() {
		return at, false, fmt.Errorf("GET %s: the answer has no curatedAt (%v)", u, err)
	}
	return item.CuratedAt, true, nil
}

// latencyStats returns the percentiles, maximum and mean of ds (exact: ds is bounded by the tracked events).
func latencyStats(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration {
		// The nearest-rank percentile.
		k := int(p/100*float64(len(ds)) + 0.999999)
		return ds[min(max(k, 1), len(ds))-1]
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latencies{P50: at(50), P90: at(90), P95: at(95), P99: at(99), P999: at(99.9), Max: ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds))}
}
