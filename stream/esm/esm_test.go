package esm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// shard0 is the shard of the single-shard tests.
const shard0 = "shardId-000000000000"

// TestEventShape checks every field of the records the function receives, and their JSON form.
func TestEventShape(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	r := newMemReader(shard0)
	seqs := r.appendRecords(shard0,
		rec{pk: "user-1", data: "\x00\x01\xffbinary", arrival: at},
		rec{pk: "user-2", data: `{"a":1}`, arrival: at.Add(time.Second)},
	)
	var (
		mu       sync.Mutex
		got      events.KinesisEvent
		lc       *lambdacontext.LambdaContext
		deadline time.Time
	)
	fn := func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		got = events.KinesisEvent{Records: slices.Clone(ev.Records)}
		lc, _ = lambdacontext.FromContext(ctx)
		deadline, _ = ctx.Deadline()
		return events.KinesisEventResponse{}, nil
	}
	cfg := testConfig()
	cfg.InvokeIdentityARN = "arn:aws:iam::123456789012:role/consumer"
	cfg.FunctionTimeout = 42 * time.Second
	cp := newMemCheckpoints()
	invokedAt := time.Now()
	runUntil(t, r, fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[1] })

	mu.Lock()
	defer mu.Unlock()
	if len(got.Records) != 2 {
		t.Fatalf("got %d records, want 2", len(got.Records))
	}
	tests := []struct {
		name    string
		pk      string
		data    string
		arrival time.Time
	}{
		{name: "binary data", pk: "user-1", data: "\x00\x01\xffbinary", arrival: at},
		{name: "json data", pk: "user-2", data: `{"a":1}`, arrival: at.Add(time.Second)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := got.Records[i]
			checks := []struct{ field, got, want string }{
				{"EventSource", r.EventSource, "aws:kinesis"},
				{"EventVersion", r.EventVersion, "1.0"},
				{"EventID", r.EventID, shard0 + ":" + seqs[i]},
				{"EventName", r.EventName, "aws:kinesis:record"},
				{"InvokeIdentityArn", r.InvokeIdentityArn, cfg.InvokeIdentityARN},
				{"AwsRegion", r.AwsRegion, "us-east-1"},
				{"EventSourceArn", r.EventSourceArn, testStreamARN},
				{"Kinesis.KinesisSchemaVersion", r.Kinesis.KinesisSchemaVersion, "1.0"},
				{"Kinesis.PartitionKey", r.Kinesis.PartitionKey, tt.pk},
				{"Kinesis.SequenceNumber", r.Kinesis.SequenceNumber, seqs[i]},
				{"Kinesis.Data", string(r.Kinesis.Data), tt.data},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
				}
			}
			if !r.Kinesis.ApproximateArrivalTimestamp.Equal(tt.arrival) {
				t.Errorf("ApproximateArrivalTimestamp = %v, want %v", r.Kinesis.ApproximateArrivalTimestamp.Time, tt.arrival)
			}
			raw, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				EventSourceARN string `json:"eventSourceARN"`
				Kinesis        struct {
					Data    string  `json:"data"`
					Arrival float64 `json:"approximateArrivalTimestamp"`
				} `json:"kinesis"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if want := base64.StdEncoding.EncodeToString([]byte(tt.data)); m.Kinesis.Data != want {
				t.Errorf("JSON data = %q, want base64 %q", m.Kinesis.Data, want)
			}
			if want := float64(tt.arrival.UnixNano()) / 1e9; math.Abs(m.Kinesis.Arrival-want) > 1e-3 {
				t.Errorf("JSON approximateArrivalTimestamp = %f, want %f", m.Kinesis.Arrival, want)
			}
			if m.EventSourceARN != testStreamARN {
				t.Errorf("JSON eventSourceARN = %q", m.EventSourceARN)
			}
		})
	}
	if lc == nil || lc.InvokedFunctionArn != cfg.FunctionARN || len(lc.AwsRequestID) != 36 {
		t.Errorf("lambda context = %+v, want the function ARN and a request id", lc)
	}
	if d := deadline.Sub(invokedAt); d < 40*time.Second || d > 43*time.Second {
		t.Errorf("invoke deadline is %s after the start, want about FunctionTimeout (42s)", d)
	}
}

// TestResponses checks how each kind of answer moves the checkpoint: success, handler error, partial
// failures (resume from the lowest failed record), invalid item identifiers and ignored responses.
func TestResponses(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name    string
		report  bool
		timeout time.Duration
		// first answers the first invocation; later ones succeed.
		first       func(ctx context.Context, seqs []string) (events.KinesisEventResponse, error)
		wantCalls   [][]int
		wantCommits []int
	}{
		{
			name: "nil response succeeds",
			first: func(context.Context, []string) (events.KinesisEventResponse, error) {
				return events.KinesisEventResponse{}, nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "empty failure list succeeds",
			report: true,
			first: func(context.Context, []string) (events.KinesisEventResponse, error) {
				return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}, nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name: "handler error fails the whole batch",
			first: func(context.Context, []string) (events.KinesisEventResponse, error) {
				return events.KinesisEventResponse{}, boom
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "partial failure resumes at the lowest failed record",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[3], s[1], s[2]), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {1, 2, 3, 4}},
			wantCommits: []int{0, 4},
		},
		{
			name:   "many failures resume at the lowest failed record",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[4], s[3], s[4], s[3], s[2], s[4], s[3], s[4], s[3]), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {2, 3, 4}},
			wantCommits: []int{1, 4},
		},
		{
			name:   "partial failure at the first record retries the batch",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[0]), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "empty item identifier fails the whole batch",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[3], ""), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "identifier not in the batch fails the whole batch",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[3], "49590000000000000000000000000000000000000000000000000000999"), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "response ignored without ReportBatchItemFailures",
			report: false,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[2]), nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:   "error wins over a partial response",
			report: true,
			first: func(_ context.Context, s []string) (events.KinesisEventResponse, error) {
				return fail(s[3]), boom
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:        "panic fails the whole batch",
			first:       func(context.Context, []string) (events.KinesisEventResponse, error) { panic("handler bug") },
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
		{
			name:    "timeout fails the whole batch",
			timeout: 20 * time.Millisecond,
			first: func(ctx context.Context, _ []string) (events.KinesisEventResponse, error) {
				<-ctx.Done()
				return events.KinesisEventResponse{}, nil
			},
			wantCalls:   [][]int{{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}},
			wantCommits: []int{4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			seqs := r.appendN(shard0, 5)
			sc := &script{handle: func(ctx context.Context, call int, _ []string) (events.KinesisEventResponse, error) {
				if call == 0 {
					return tt.first(ctx, seqs)
				}
				return events.KinesisEventResponse{}, nil
			}}
			cfg := testConfig()
			cfg.BatchSize = 5
			cfg.MaximumRetryAttempts = 3
			cfg.ReportBatchItemFailures = tt.report
			cfg.FunctionTimeout = tt.timeout
			cp := newMemCheckpoints()
			runUntil(t, r, sc.fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[4] })
			assertCalls(t, sc, seqs, tt.wantCalls)
			if got, want := cp.commitLog(), pick(seqs, tt.wantCommits...); !slices.Equal(got, want) {
				t.Errorf("commits = %v, want %v", got, want)
			}
			if dls := cp.onFailures(t); len(dls) != 0 {
				t.Errorf("got %d dead letters, want none", len(dls))
			}
		})
	}
}

// wantDL is the expected part of an on-failure record.
type wantDL struct {
	condition     string
	first, last   int
	invokeCount   int
	functionError string
}

// assertDeadLetters compares the committed on-failure records with want.
func assertDeadLetters(t *testing.T, cp *memCheckpoints, seqs []string, want []wantDL) {
	t.Helper()
	got := cp.onFailures(t)
	if len(got) != len(want) {
		t.Fatalf("got %d dead letters %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		b := g.KinesisBatchInfo
		if g.RequestContext.Condition != w.condition || b.StartSequenceNumber != seqs[w.first] ||
			b.EndSequenceNumber != seqs[w.last] || b.BatchSize != w.last-w.first+1 ||
			g.RequestContext.ApproximateInvokeCount != w.invokeCount || g.ResponseContext.FunctionError != w.functionError {
			t.Errorf("dead letter %d = %s %s..%s size %d count %d error %q, want %s %s..%s size %d count %d error %q", i,
				g.RequestContext.Condition, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize,
				g.RequestContext.ApproximateInvokeCount, g.ResponseContext.FunctionError,
				w.condition, seqs[w.first], seqs[w.last], w.last-w.first+1, w.invokeCount, w.functionError)
		}
	}
}

// assertCalls compares the invocations of sc with want, given as indexes into seqs.
func assertCalls(t *testing.T, sc *script, seqs []string, want [][]int) {
	t.Helper()
	got := sc.invocations()
	wantSeqs := make([][]string, len(want))
	for i, w := range want {
		wantSeqs[i] = pick(seqs, w...)
	}
	if !slices.EqualFunc(got, wantSeqs, slices.Equal[[]string]) {
		t.Errorf("invocations =\n%s\nwant\n%s", indexes(seqs, got), indexes(seqs, wantSeqs))
	}
}

// indexes renders invocations as record indexes.
func indexes(seqs []string, calls [][]string) string {
	var sb strings.Builder
	for _, c := range calls {
		idx := make([]int, len(c))
		for i, s := range c {
			idx[i] = slices.Index(seqs, s)
		}
		fmt.Fprintf(&sb, "  %v\n", idx)
	}
	return sb.String()
}

// TestRetries checks MaximumRetryAttempts: how often a failed batch is invoked, that progress resets the
// count, and that an exhausted batch is dead-lettered and skipped.
func TestRetries(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	// poisoned fails every batch that holds record 2.
	poisoned := func(s []string) func(context.Context, int, []string) (events.KinesisEventResponse, error) {
		return func(_ context.Context, _ int, batch []string) (events.KinesisEventResponse, error) {
			if slices.Contains(batch, s[2]) {
				return events.KinesisEventResponse{}, boom
			}
			return events.KinesisEventResponse{}, nil
		}
	}
	all := []int{0, 1, 2, 3, 4}
	next := []int{5, 6, 7, 8, 9}
	tests := []struct {
		name      string
		retries   int
		report    bool
		handle    func(s []string) func(context.Context, int, []string) (events.KinesisEventResponse, error)
		wantCalls [][]int
		wantDLs   []wantDL
	}{
		{
			name:      "no retries",
			retries:   0,
			handle:    poisoned,
			wantCalls: [][]int{all, next},
			wantDLs:   []wantDL{{dlq.ConditionRetryAttemptsExhausted, 0, 4, 1, "Unhandled"}},
		},
		{
			name:      "two retries",
			retries:   2,
			handle:    poisoned,
			wantCalls: [][]int{all, all, all, next},
			wantDLs:   []wantDL{{dlq.ConditionRetryAttemptsExhausted, 0, 4, 3, "Unhandled"}},
		},
		{
			name:    "infinite retries until success",
			retries: InfiniteRetries,
			handle: func(s []string) func(context.Context, int, []string) (events.KinesisEventResponse, error) {
				return func(_ context.Context, call int, _ []string) (events.KinesisEventResponse, error) {
					if call < 5 {
						return events.KinesisEventResponse{}, boom
					}
					return events.KinesisEventResponse{}, nil
				}
			},
			wantCalls: [][]int{all, all, all, all, all, all, next},
		},
		{
			// Two partial failures make progress (0..1, then 2); then 3..4 fail at their first record
			// and get their own 1+1 invocations.
			name:    "progress resets the retry count",
			retries: 1,
			report:  true,
			handle: func(s []string) func(context.Context, int, []string) (events.KinesisEventResponse, error) {
				return func(_ context.Context, call int, batch []string) (events.KinesisEventResponse, error) {
					switch {
					case call == 0:
						return fail(s[2]), nil
					case slices.Contains(batch, s[3]):
						return fail(s[3]), nil
					}
					return events.KinesisEventResponse{}, nil
				}
			},
			wantCalls: [][]int{all, {2, 3, 4}, {3, 4}, {3, 4}, next},
			wantDLs:   []wantDL{{dlq.ConditionRetryAttemptsExhausted, 3, 4, 2, ""}},
		},
		{
			// Record 1 fails every time: after the first progress, 1..4 are retried twice and dropped.
			name:    "partial failures exhaust the retries",
			retries: 2,
			report:  true,
			handle: func(s []string) func(context.Context, int, []string) (events.KinesisEventResponse, error) {
				return func(_ context.Context, _ int, batch []string) (events.KinesisEventResponse, error) {
					if slices.Contains(batch, s[1]) {
						return fail(s[1]), nil
					}
					return events.KinesisEventResponse{}, nil
				}
			},
			wantCalls: [][]int{all, {1, 2, 3, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}, next},
			wantDLs:   []wantDL{{dlq.ConditionRetryAttemptsExhausted, 1, 4, 3, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			seqs := r.appendN(shard0, 5)
			seqs = append(seqs, r.appendN(shard0, 5)...)
			sc := &script{handle: tt.handle(seqs)}
			cfg := testConfig()
			cfg.BatchSize = 5
			cfg.MaximumRetryAttempts = tt.retries
			cfg.ReportBatchItemFailures = tt.report
			cp := newMemCheckpoints()
			runUntil(t, r, sc.fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[9] })
			assertCalls(t, sc, seqs, tt.wantCalls)
			assertDeadLetters(t, cp, seqs, tt.wantDLs)
		})
	}
}

// TestBisect checks BisectBatchOnFunctionError: a whole-batch failure splits the batch without consuming
// the retry quota, so a poison record is isolated and only it reaches the dead-letter queue.
func TestBisect(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name      string
		bisect    bool
		report    bool
		retries   int
		poison    int
		wantCalls [][]int
		wantDLs   []wantDL
	}{
		{
			// The halves without the poison succeed; the poison alone uses its 1+2 invocations.
			name:    "handler error isolates the poison record",
			bisect:  true,
			retries: 2,
			poison:  5,
			wantCalls: [][]int{
				{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3}, {4, 5, 6, 7}, {4, 5}, {4}, {5}, {5}, {5}, {6, 7},
			},
			wantDLs: []wantDL{{dlq.ConditionRetryAttemptsExhausted, 5, 5, 3, "Unhandled"}},
		},
		{
			// A failure at the first record is a whole-batch failure, so it bisects like an error.
			name:    "partial failure at the first record bisects",
			bisect:  true,
			report:  true,
			retries: 1,
			poison:  0,
			wantCalls: [][]int{
				{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3}, {0, 1}, {0}, {0}, {1}, {2, 3}, {4, 5, 6, 7},
			},
			wantDLs: []wantDL{{dlq.ConditionRetryAttemptsExhausted, 0, 0, 2, ""}},
		},
		{
			// With no retries at all, the batch is still split down to the poison record.
			name:    "splitting does not consume the retry quota",
			bisect:  true,
			retries: 0,
			poison:  2,
			wantCalls: [][]int{
				{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3}, {0, 1}, {2, 3}, {2}, {3}, {4, 5, 6, 7},
			},
			wantDLs: []wantDL{{dlq.ConditionRetryAttemptsExhausted, 2, 2, 1, "Unhandled"}},
		},
		{
			// Records 0..4 succeed; the rest starts with the poison, fails as a whole and is split.
			name:    "partial failure after progress retries the rest, then bisects",
			bisect:  true,
			report:  true,
			retries: 0,
			poison:  5,
			wantCalls: [][]int{
				{0, 1, 2, 3, 4, 5, 6, 7}, {5, 6, 7}, {5}, {6, 7},
			},
			wantDLs: []wantDL{{dlq.ConditionRetryAttemptsExhausted, 5, 5, 1, ""}},
		},
		{
			name:      "without bisect the whole batch is dead-lettered",
			bisect:    false,
			retries:   1,
			poison:    5,
			wantCalls: [][]int{{0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7}},
			wantDLs:   []wantDL{{dlq.ConditionRetryAttemptsExhausted, 0, 7, 2, "Unhandled"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			seqs := r.appendN(shard0, 8)
			poison := seqs[tt.poison]
			sc := &script{handle: func(_ context.Context, _ int, batch []string) (events.KinesisEventResponse, error) {
				if !slices.Contains(batch, poison) {
					return events.KinesisEventResponse{}, nil
				}
				if tt.report {
					return fail(poison), nil
				}
				return events.KinesisEventResponse{}, boom
			}}
			cfg := testConfig()
			cfg.BatchSize = 8
			cfg.BisectBatchOnFunctionError = tt.bisect
			cfg.ReportBatchItemFailures = tt.report
			cfg.MaximumRetryAttempts = tt.retries
			cp := newMemCheckpoints()
			m := runUntil(t, r, sc.fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[7] })
			assertCalls(t, sc, seqs, tt.wantCalls)
			assertDeadLetters(t, cp, seqs, tt.wantDLs)
			dlRecords := int64(tt.wantDLs[0].last - tt.wantDLs[0].first + 1)
			if st := m.Stats()[0]; st.DeadLetteredRecords != dlRecords || st.RecordsProcessed != 8-dlRecords {
				t.Errorf("stats = %+v, want %d dead-lettered and %d processed records", st, dlRecords, 8-dlRecords)
			}
		})
	}
}

// TestDeadLetterRecord checks the whole on-failure record, as JSON, against the shape AWS writes.
func TestDeadLetterRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 11, 14, 0, 38, 6, 21_000_000, time.UTC)
	first := now.Add(-2 * time.Hour)
	tests := []struct {
		name   string
		maxAge time.Duration
		// want is the expected record; REQUEST, FIRST and LAST stand for the request id and sequence numbers.
		want    string
		lastReq bool // the requestId is the last invocation's
	}{
		{
			name: "retries exhausted",
			want: `{
				"requestContext": {"requestId": "REQUEST", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:consumer",
					"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 2},
				"responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
				"version": "1.0",
				"timestamp": "2024-11-14T00:38:06.021Z",
				"KinesisBatchInfo": {"shardId": "shardId-000000000000", "startSequenceNumber": "FIRST", "endSequenceNumber": "LAST",
					"approximateArrivalOfFirstRecord": "2024-11-13T22:38:06.021Z", "approximateArrivalOfLastRecord": "2024-11-13T22:38:07.521Z",
					"batchSize": 2, "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/events"}
			}`,
			lastReq: true,
		},
		{
			name:   "record age exceeded",
			maxAge: time.Hour,
			want: `{
				"requestContext": {"requestId": "REQUEST", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:consumer",
					"condition": "RecordAgeExceeded", "approximateInvokeCount": 0},
				"responseContext": {"statusCode": 0, "executedVersion": ""},
				"version": "1.0",
				"timestamp": "2024-11-14T00:38:06.021Z",
				"KinesisBatchInfo": {"shardId": "shardId-000000000000", "startSequenceNumber": "FIRST", "endSequenceNumber": "LAST",
					"approximateArrivalOfFirstRecord": "2024-11-13T22:38:06.021Z", "approximateArrivalOfLastRecord": "2024-11-13T22:38:07.521Z",
					"batchSize": 2, "streamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/events"}
			}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			seqs := r.appendRecords(shard0, rec{pk: "a", arrival: first}, rec{pk: "b", arrival: first.Add(1500 * time.Millisecond)})
			var lastReq atomic.Value
			fn := func(ctx context.Context, _ events.KinesisEvent) (events.KinesisEventResponse, error) {
				lc, _ := lambdacontext.FromContext(ctx)
				lastReq.Store(lc.AwsRequestID)
				return events.KinesisEventResponse{}, errors.New("boom")
			}
			cfg := testConfig()
			cfg.MaximumRetryAttempts = 1
			cfg.MaximumRecordAge = tt.maxAge
			cfg.Now = func() time.Time { return now }
			cp := newMemCheckpoints()
			runUntil(t, r, fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[1] })
			dls := cp.onFailures(t)
			if len(dls) != 1 {
				t.Fatalf("got %d dead letters, want 1", len(dls))
			}
			reqID := dls[0].RequestContext.RequestID
			if len(reqID) != 36 || reqID[14] != '4' {
				t.Errorf("requestId %q is not a UUID v4", reqID)
			}
			if tt.lastReq && reqID != lastReq.Load() {
				t.Errorf("requestId = %q, want the last invocation's %q", reqID, lastReq.Load())
			}
			want := strings.NewReplacer("REQUEST", reqID, "FIRST", seqs[0], "LAST", seqs[1]).Replace(tt.want)
			var gotV, wantV any
			if err := json.Unmarshal(cp.deadLetters[0], &gotV); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(want), &wantV); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("on-failure record =\n%s\nwant\n%s", cp.deadLetters[0], want)
			}
		})
	}
}

// TestMaximumRecordAge checks that records older than MaximumRecordAge are dead-lettered instead of sent to
// the function, including records that expire while their batch is retried.
func TestMaximumRecordAge(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		maxAge    time.Duration
		ages      []time.Duration
		failing   bool          // the function always errors
		advance   time.Duration // the clock moves this much per invocation
		wantCalls [][]int
		wantDLs   []wantDL
	}{
		{
			name:      "old records are skipped",
			maxAge:    time.Hour,
			ages:      []time.Duration{2 * time.Hour, 2 * time.Hour, 90 * time.Minute, 30 * time.Minute, time.Minute},
			wantCalls: [][]int{{3, 4}},
			wantDLs:   []wantDL{{dlq.ConditionRecordAgeExceeded, 0, 2, 0, ""}},
		},
		{
			// The clock moves 20 minutes per invocation: before the fourth, the records are 70 minutes old.
			name:      "records expire while retried",
			maxAge:    time.Hour,
			ages:      []time.Duration{10 * time.Minute, 10 * time.Minute, 10 * time.Minute},
			failing:   true,
			advance:   20 * time.Minute,
			wantCalls: [][]int{{0, 1, 2}, {0, 1, 2}, {0, 1, 2}},
			wantDLs:   []wantDL{{dlq.ConditionRecordAgeExceeded, 0, 2, 3, "Unhandled"}},
		},
		{
			name:      "zero age keeps old records",
			maxAge:    0,
			ages:      []time.Duration{30 * 24 * time.Hour, time.Minute},
			wantCalls: [][]int{{0, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(t0)
			r := newMemReader(shard0)
			recs := make([]rec, len(tt.ages))
			for i, a := range tt.ages {
				recs[i] = rec{pk: fmt.Sprint(i), arrival: t0.Add(-a)}
			}
			seqs := r.appendRecords(shard0, recs...)
			sc := &script{handle: func(context.Context, int, []string) (events.KinesisEventResponse, error) {
				clock.Advance(tt.advance)
				if tt.failing {
					return events.KinesisEventResponse{}, errors.New("boom")
				}
				return events.KinesisEventResponse{}, nil
			}}
			cfg := testConfig()
			cfg.MaximumRetryAttempts = InfiniteRetries
			cfg.MaximumRecordAge = tt.maxAge
			cfg.Now = clock.Now
			cp := newMemCheckpoints()
			last := seqs[len(seqs)-1]
			runUntil(t, r, sc.fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == last })
			assertCalls(t, sc, seqs, tt.wantCalls)
			assertDeadLetters(t, cp, seqs, tt.wantDLs)
		})
	}
}

// TestParallelization checks ParallelizationFactor: batches of one shard run concurrently, each partition
// key's records reach the function in stream order, and the shard's checkpoint ends past every record.
func TestParallelization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		poison int // index of a record that always fails, or -1
	}{
		{name: "all succeed", poison: -1},
		{name: "poison record is isolated", poison: 123},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const keys, n = 7, 400
			r := waitReader{newMemReader(shard0)}
			recs := make([]rec, n)
			for i := range recs {
				recs[i].pk = fmt.Sprintf("key-%d", i%keys)
			}
			seqs := r.appendRecords(shard0, recs...)
			keyOf := make(map[string]string, n)
			for i, s := range seqs {
				keyOf[s] = recs[i].pk
			}
			poison := ""
			if tt.poison >= 0 {
				poison = seqs[tt.poison]
			}
			var (
				inflight, maxInflight atomic.Int64
				mu                    sync.Mutex
				seen                  = map[string][]string{} // per key, the records of successful invocations
				busy                  = map[string]bool{}     // keys in an invocation in flight
				overlaps              atomic.Int64            // invocations that met a key already in flight
			)
			fn := func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				keys := map[string]bool{}
				for _, r := range ev.Records {
					keys[r.Kinesis.PartitionKey] = true
				}
				mu.Lock()
				for k := range keys {
					if busy[k] {
						overlaps.Add(1)
					}
					busy[k] = true
				}
				mu.Unlock()
				defer func() {
					mu.Lock()
					for k := range keys {
						busy[k] = false
					}
					mu.Unlock()
				}()
				cur := inflight.Add(1)
				defer inflight.Add(-1)
				for {
					old := maxInflight.Load()
					if cur <= old || maxInflight.CompareAndSwap(old, cur) {
						break
					}
				}
				// Hold the first invocations until another one runs beside them (bounded).
				for deadline := time.Now().Add(2 * time.Second); maxInflight.Load() < 2 && time.Now().Before(deadline); {
					time.Sleep(100 * time.Microsecond)
				}
				for _, r := range ev.Records {
					if r.Kinesis.SequenceNumber == poison {
						return events.KinesisEventResponse{}, errors.New("poison")
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, r := range ev.Records {
					seen[r.Kinesis.PartitionKey] = append(seen[r.Kinesis.PartitionKey], r.Kinesis.SequenceNumber)
				}
				return events.KinesisEventResponse{}, nil
			}
			cfg := testConfig()
			cfg.BatchSize = 5
			cfg.ParallelizationFactor = 4
			cfg.BisectBatchOnFunctionError = true
			cfg.MaximumRetryAttempts = 0
			cp := newMemCheckpoints()
			m := runUntil(t, r, fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[n-1] })

			if got := maxInflight.Load(); got < 2 {
				t.Errorf("at most %d invocations ran at once, want concurrency", got)
			}
			if n := overlaps.Load(); n > 0 {
				t.Errorf("%d invocations ran while another one held the same partition key", n)
			}
			mu.Lock()
			defer mu.Unlock()
			for k := range keys {
				key := fmt.Sprintf("key-%d", k)
				var want []string
				for _, s := range seqs {
					if keyOf[s] == key && s != poison {
						want = append(want, s)
					}
				}
				if !slices.Equal(seen[key], want) {
					t.Errorf("key %s: function saw %v, want stream order %v", key, seen[key], want)
				}
			}
			if !slices.IsSorted(cp.commitLog()) {
				t.Errorf("commits went backwards: %v", cp.commitLog())
			}
			var wantDLs []wantDL
			if tt.poison >= 0 {
				wantDLs = []wantDL{{dlq.ConditionRetryAttemptsExhausted, tt.poison, tt.poison, 1, "Unhandled"}}
			}
			assertDeadLetters(t, cp, seqs, wantDLs)
			if st := m.Stats()[0]; st.RecordsProcessed != int64(n-len(wantDLs)) {
				t.Errorf("RecordsProcessed = %d, want %d", st.RecordsProcessed, n-len(wantDLs))
			}
		})
	}
}

// TestRestartResume checks that a new mapping over the same checkpoints resumes after the committed
// sequence number.
func TestRestartResume(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		parallel int
	}{
		{name: "sequential", parallel: 1},
		{name: "parallel", parallel: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			seqs := r.appendN(shard0, 7)
			cfg := testConfig()
			cfg.BatchSize = 3
			cfg.ParallelizationFactor = tt.parallel
			cp := newMemCheckpoints()
			first := &script{}
			runUntil(t, r, first.fn, cp, cfg, "first run", func() bool { return cp.get(shard0) == seqs[6] })

			seqs = append(seqs, r.appendN(shard0, 4)...)
			second := &script{}
			runUntil(t, r, second.fn, cp, cfg, "second run", func() bool { return cp.get(shard0) == seqs[10] })
			got := slices.Concat(second.invocations()...)
			slices.Sort(got)
			if want := seqs[7:]; !slices.Equal(got, want) {
				t.Errorf("second run saw %v, want only the new records %v", got, want)
			}
		})
	}
}

// TestEmptyShards checks that a mapping over empty shards never invokes the function.
func TestEmptyShards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reader  func(*memReader) Reader
		waiting func(*memReader) bool
	}{
		{
			name:    "polling reader",
			reader:  func(r *memReader) Reader { return r },
			waiting: func(r *memReader) bool { return r.reads.Load() >= 20 },
		},
		{
			name:    "waiting reader",
			reader:  func(r *memReader) Reader { return waitReader{r} },
			waiting: func(r *memReader) bool { return r.waits.Load() >= 2 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mr := newMemReader("shardId-000000000000", "shardId-000000000001")
			sc := &script{}
			cp := newMemCheckpoints()
			m := runUntil(t, tt.reader(mr), sc.fn, cp, testConfig(), "reads", func() bool { return tt.waiting(mr) })
			if n := len(sc.invocations()); n != 0 {
				t.Errorf("function invoked %d times on empty shards", n)
			}
			if n := len(cp.commitLog()); n != 0 {
				t.Errorf("%d commits on empty shards", n)
			}
			stats := m.Stats()
			if len(stats) != 2 {
				t.Fatalf("stats of %d shards, want 2", len(stats))
			}
			for _, s := range stats {
				if s != (ShardStats{ShardID: s.ShardID}) {
					t.Errorf("stats of an empty shard = %+v, want zeros", s)
				}
			}
		})
	}
}

// TestBatchingWindow checks MaxBatchingWindow: with fewer than BatchSize records the invocation waits for
// the window, unless the batch fills first.
func TestBatchingWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		waiting  bool
		window   time.Duration
		batch    int
		initial  int
		later    int // records appended once the mapping has read the initial ones
		wantSize int
		waits    bool // the invocation happens only after the window
	}{
		{name: "polling: waits for the window", window: 150 * time.Millisecond, batch: 10, initial: 2, wantSize: 2, waits: true},
		{name: "waiting: waits for the window", waiting: true, window: 150 * time.Millisecond, batch: 10, initial: 2, wantSize: 2, waits: true},
		{name: "a full batch does not wait", window: time.Minute, batch: 3, initial: 3, wantSize: 3},
		{name: "polling: records arriving in the window fill the batch", window: time.Minute, batch: 4, initial: 2, later: 2, wantSize: 4},
		{name: "waiting: records arriving in the window fill the batch", waiting: true, window: time.Minute, batch: 4, initial: 2, later: 2, wantSize: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mr := newMemReader(shard0)
			var r Reader = mr
			if tt.waiting {
				r = waitReader{mr}
			}
			seqs := mr.appendN(shard0, tt.initial)
			var invokedAt atomic.Int64
			sc := &script{handle: func(context.Context, int, []string) (events.KinesisEventResponse, error) {
				invokedAt.CompareAndSwap(0, time.Now().UnixNano())
				return events.KinesisEventResponse{}, nil
			}}
			cfg := testConfig()
			cfg.BatchSize = tt.batch
			cfg.MaxBatchingWindow = tt.window
			cp := newMemCheckpoints()
			started := time.Now()
			run := start(t, r, sc.fn, cp, cfg)
			if tt.later > 0 {
				waitFor(t, "the first read", func() bool { return mr.reads.Load() >= 2 || mr.waits.Load() >= 1 })
				seqs = append(seqs, mr.appendN(shard0, tt.later)...)
			}
			waitFor(t, "checkpoint", func() bool { return cp.get(shard0) == seqs[len(seqs)-1] })
			if err := run.stop(t); err != nil {
				t.Fatal(err)
			}
			calls := sc.invocations()
			if len(calls) != 1 || len(calls[0]) != tt.wantSize {
				t.Fatalf("invocations = %v, want one of %d records", calls, tt.wantSize)
			}
			elapsed := time.Duration(invokedAt.Load() - started.UnixNano())
			if tt.waits && elapsed < tt.window {
				t.Errorf("invoked after %s, want at least the window %s", elapsed, tt.window)
			}
			if !tt.waits && elapsed >= tt.window {
				t.Errorf("invoked after %s, want before the window %s", elapsed, tt.window)
			}
		})
	}
}

// TestCancel checks that cancelling Run lets the invocation in flight complete, commits its outcome, starts
// no new invocation and returns nil.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		parallel int
		report   bool
		// answer is the in-flight invocations' answer.
		answer      func(s, batch []string) (events.KinesisEventResponse, error)
		inflight    int
		wantCalls   int
		wantCommits []int
	}{
		{
			name:        "in-flight success is committed",
			parallel:    1,
			answer:      func(_, _ []string) (events.KinesisEventResponse, error) { return events.KinesisEventResponse{}, nil },
			inflight:    1,
			wantCalls:   1,
			wantCommits: []int{4},
		},
		{
			name:     "in-flight failure is not retried",
			parallel: 1,
			answer: func(_, _ []string) (events.KinesisEventResponse, error) {
				return events.KinesisEventResponse{}, errors.New("boom")
			},
			inflight:  1,
			wantCalls: 1,
		},
		{
			name:        "in-flight partial failure commits its progress",
			parallel:    1,
			report:      true,
			answer:      func(s, _ []string) (events.KinesisEventResponse, error) { return fail(s[2]), nil },
			inflight:    1,
			wantCalls:   1,
			wantCommits: []int{1},
		},
		{
			name:        "parallel groups drain",
			parallel:    2,
			answer:      func(_, _ []string) (events.KinesisEventResponse, error) { return events.KinesisEventResponse{}, nil },
			inflight:    2,
			wantCalls:   2,
			wantCommits: []int{9},
		},
		{
			// The first key's group finishes, the second's fails and is not retried after the stop: the
			// checkpoint stays before the second key's first record (index 1).
			name:     "parallel: a group cut short holds the checkpoint",
			parallel: 2,
			answer: func(s, batch []string) (events.KinesisEventResponse, error) {
				if slices.Contains(batch, s[1]) { // the second key's group fails
					return events.KinesisEventResponse{}, errors.New("boom")
				}
				return events.KinesisEventResponse{}, nil
			},
			inflight:    2,
			wantCalls:   2,
			wantCommits: []int{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			// Two keys in different groups, five records each, interleaved; then more records.
			keyA, keyB := "a", "b"
			for groupOf(keyB, 2) == groupOf(keyA, 2) {
				keyB += "b"
			}
			var recs []rec
			for i := range 10 {
				recs = append(recs, rec{pk: []string{keyA, keyB}[i%2]})
			}
			seqs := r.appendRecords(shard0, recs...)
			r.appendN(shard0, 10)
			var (
				entered   atomic.Int64
				release   = make(chan struct{})
				ctxErrors atomic.Int64
			)
			sc := &script{handle: func(ctx context.Context, _ int, batch []string) (events.KinesisEventResponse, error) {
				entered.Add(1)
				<-release
				if ctx.Err() != nil {
					ctxErrors.Add(1)
				}
				return tt.answer(seqs, batch)
			}}
			cfg := testConfig()
			cfg.BatchSize = 5
			cfg.ParallelizationFactor = tt.parallel
			cfg.ReportBatchItemFailures = tt.report
			cfg.MaximumRetryAttempts = InfiniteRetries
			cp := newMemCheckpoints()
			run := start(t, r, sc.fn, cp, cfg)
			waitFor(t, "invocations in flight", func() bool { return entered.Load() == int64(tt.inflight) })
			run.cancel()
			close(release)
			if err := run.stop(t); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			if n := len(sc.invocations()); n != tt.wantCalls {
				t.Errorf("%d invocations, want %d", n, tt.wantCalls)
			}
			if n := ctxErrors.Load(); n != 0 {
				t.Errorf("%d in-flight invocations saw their context cancelled", n)
			}
			if got, want := cp.commitLog(), pick(seqs, tt.wantCommits...); !slices.Equal(got, want) {
				t.Errorf("commits = %v, want %v", got, want)
			}
		})
	}
}

// TestPayloadLimit checks that no invocation's event exceeds MaxPayloadBytes.
func TestPayloadLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxBytes int
		minBatch int // the largest batch holds at least this many records
	}{
		{name: "one record per batch", maxBytes: 2500, minBatch: 1},
		{name: "two records per batch", maxBytes: 4000, minBatch: 2},
		{name: "many records per batch", maxBytes: 10000, minBatch: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0)
			recs := make([]rec, 12)
			for i := range recs {
				recs[i] = rec{pk: fmt.Sprintf("key<%d>", i), data: strings.Repeat("x", 1000)}
			}
			seqs := r.appendRecords(shard0, recs...)
			var (
				mu      sync.Mutex
				sizes   []int
				largest int
			)
			fn := func(_ context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				raw, err := json.Marshal(ev)
				if err != nil {
					return events.KinesisEventResponse{}, err
				}
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(raw))
				largest = max(largest, len(ev.Records))
				return events.KinesisEventResponse{}, nil
			}
			cfg := testConfig()
			cfg.MaxPayloadBytes = tt.maxBytes
			cp := newMemCheckpoints()
			runUntil(t, r, fn, cp, cfg, "checkpoint", func() bool { return cp.get(shard0) == seqs[11] })
			mu.Lock()
			defer mu.Unlock()
			for i, s := range sizes {
				if s > tt.maxBytes {
					t.Errorf("invocation %d carried %d bytes, over the limit %d", i, s, tt.maxBytes)
				}
			}
			if largest < tt.minBatch {
				t.Errorf("largest batch held %d records, want at least %d", largest, tt.minBatch)
			}
		})
	}
}

// TestStats checks the per-shard statistics, including the iterator age while a batch is in flight.
func TestStats(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	r := newMemReader(shard0)
	seqs := r.appendRecords(shard0,
		rec{pk: "a", arrival: t0.Add(-5 * time.Minute)},
		rec{pk: "b", arrival: t0.Add(-4 * time.Minute)},
		rec{pk: "c", arrival: t0.Add(-3 * time.Minute)},
	)
	entered, release := make(chan struct{}), make(chan struct{})
	sc := &script{handle: func(_ context.Context, call int, _ []string) (events.KinesisEventResponse, error) {
		switch call {
		case 0:
			close(entered)
			<-release
		case 1:
			return events.KinesisEventResponse{}, errors.New("boom")
		}
		return events.KinesisEventResponse{}, nil
	}}
	cfg := testConfig()
	cfg.BatchSize = 1
	cfg.Now = clock.Now
	cp := newMemCheckpoints()
	run := start(t, r, sc.fn, cp, cfg)
	<-entered
	if age := run.m.Stats()[0].IteratorAge; age != 5*time.Minute {
		t.Errorf("IteratorAge while the first record is in flight = %s, want 5m", age)
	}
	close(release)
	waitFor(t, "checkpoint", func() bool { return cp.get(shard0) == seqs[2] })
	waitFor(t, "caught up", func() bool { return run.m.Stats()[0].IteratorAge == 0 })
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	want := ShardStats{
		ShardID: shard0, Checkpoint: seqs[2], RecordsProcessed: 2, Invocations: 3, FailedInvocations: 1,
		DeadLetteredBatches: 1, DeadLetteredRecords: 1,
	}
	if got := run.m.Stats()[0]; got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
}

// TestNew checks the validation of Config and its defaults.
func TestNew(t *testing.T) {
	t.Parallel()
	r, fn, cp := newMemReader(shard0), (&script{}).fn, newMemCheckpoints()
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{name: "test config", modify: func(*Config) {}, ok: true},
		{name: "no function name", modify: func(c *Config) { c.FunctionName = "" }},
		{name: "no stream ARN", modify: func(c *Config) { c.StreamARN = "" }},
		{name: "batch size too large", modify: func(c *Config) { c.BatchSize = 10001 }},
		{name: "negative batch size", modify: func(c *Config) { c.BatchSize = -1 }},
		{name: "window too long", modify: func(c *Config) { c.MaxBatchingWindow = 6 * time.Minute }},
		{name: "parallelization too high", modify: func(c *Config) { c.ParallelizationFactor = 11 }},
		{name: "retries below -1", modify: func(c *Config) { c.MaximumRetryAttempts = -2 }},
		{name: "retries too many", modify: func(c *Config) { c.MaximumRetryAttempts = 10001 }},
		{name: "infinite retries", modify: func(c *Config) { c.MaximumRetryAttempts = -1 }, ok: true},
		{name: "negative record age is infinite", modify: func(c *Config) { c.MaximumRecordAge = -time.Second }, ok: true},
		{name: "record age too long", modify: func(c *Config) { c.MaximumRecordAge = 8 * 24 * time.Hour }},
		{name: "backoff min above max", modify: func(c *Config) { c.RetryBackoff = Backoff{Min: time.Second, Max: time.Millisecond} }},
		{name: "function timeout too long", modify: func(c *Config) { c.FunctionTimeout = 16 * time.Minute }},
		{name: "negative payload", modify: func(c *Config) { c.MaxPayloadBytes = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.modify(&cfg)
			_, err := New(r, fn, cp, cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		m, err := New(r, fn, cp, Config{FunctionName: "f", StreamARN: testStreamARN})
		if err != nil {
			t.Fatal(err)
		}
		c := m.cfg
		if c.BatchSize != 100 || c.MaxPayloadBytes != 6*1024*1024 || c.ParallelizationFactor != 1 ||
			c.RetryBackoff != (Backoff{100 * time.Millisecond, 5 * time.Second}) || c.PollInterval != 250*time.Millisecond ||
			c.FunctionTimeout != time.Minute || c.Region != "us-east-1" ||
			c.FunctionARN != "arn:aws:lambda:us-east-1:000000000000:function:f" || c.InvokeIdentityARN != c.FunctionARN ||
			c.Now == nil || c.Logger == nil {
			t.Errorf("defaults = %+v", c)
		}
	})
	t.Run("missing collaborators", func(t *testing.T) {
		if _, err := New(nil, fn, cp, testConfig()); err == nil {
			t.Error("New accepted a nil reader")
		}
	})
}

// failingCheckpoints fails every Load.
type failingCheckpoints struct{ err error }

// Load fails.
func (c failingCheckpoints) Load(context.Context, string) (string, error) { return "", c.err }

// Commit fails.
func (c failingCheckpoints) Commit(context.Context, string, string, [][]byte) error {
	return c.err
}

// TestRunErrors checks that errors of the reader and of the checkpoints end Run with the shard's id.
func TestRunErrors(t *testing.T) {
	t.Parallel()
	disk := errors.New("disk gone")
	tests := []struct {
		name  string
		setup func(r *memReader, cp *memCheckpoints) Checkpoints
	}{
		{name: "read error", setup: func(r *memReader, cp *memCheckpoints) Checkpoints { r.readErr = disk; return cp }},
		{name: "commit error", setup: func(r *memReader, cp *memCheckpoints) Checkpoints { cp.commitErr = disk; return cp }},
		{name: "load error", setup: func(*memReader, *memCheckpoints) Checkpoints { return failingCheckpoints{disk} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newMemReader(shard0, "shardId-000000000001")
			r.appendN(shard0, 3)
			cp := tt.setup(r, newMemCheckpoints())
			m, err := New(r, (&script{}).fn, cp, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- m.Run(t.Context()) }()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after an error")
			}
			if !errors.Is(err, disk) || !strings.Contains(err.Error(), "shard") {
				t.Errorf("Run = %v, want the error wrapped with its shard", err)
			}
		})
	}
	t.Run("running twice", func(t *testing.T) {
		t.Parallel()
		r := newMemReader(shard0)
		run := start(t, waitReader{r}, (&script{}).fn, newMemCheckpoints(), testConfig())
		waitFor(t, "first run", func() bool { return r.waits.Load() >= 1 })
		if err := run.m.Run(t.Context()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
		if err := run.stop(t); err != nil {
			t.Fatal(err)
		}
	})
}
