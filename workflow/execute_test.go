package workflow_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// memStore is an in-memory curated table whose Put fails while fail returns an error.
type memStore struct {
	mu    sync.Mutex
	items map[string]event.Curated
	calls int
	fail  func(call int) error
}

func newMemStore() *memStore { return &memStore{items: map[string]event.Curated{}} }

func (s *memStore) Put(_ context.Context, items []event.Curated) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil {
		if err := s.fail(s.calls); err != nil {
			return err
		}
	}
	for _, it := range items {
		if _, ok := s.items[it.ID]; !ok {
			s.items[it.ID] = it
		}
	}
	return nil
}

// analyticsRecorder is an analytics function that records its inputs; it fails while fail returns an error.
type analyticsRecorder struct {
	mu     sync.Mutex
	inputs []map[string]any
	calls  int
	fail   func(call int) error
}

func (a *analyticsRecorder) invoke(_ context.Context, payload []byte) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail != nil {
		if err := a.fail(a.calls); err != nil {
			return nil, err
		}
	}
	var in map[string]any
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, err
	}
	a.inputs = append(a.inputs, in)
	return []byte(`{"applied":1,"duplicates":0}`), nil
}

// events returns the events of the last analytics input, by id.
func (a *analyticsRecorder) events(t *testing.T) map[string]map[string]any {
	t.Helper()
	if len(a.inputs) == 0 {
		t.Fatal("analytics was not invoked")
	}
	out := map[string]map[string]any{}
	list, _ := a.inputs[len(a.inputs)-1]["events"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

// functions is the Lambda port of the tests: each function is a lambda.Handler, and a function error is
// reported as the Lambda runtime reports it (the Type of a messages.InvokeResponse_Error, else the error's
// type name).
type functions map[string]lambda.Handler

func (f functions) Invoke(ctx context.Context, name string, payload []byte) ([]byte, error) {
	h, ok := f[name]
	if !ok {
		return nil, asl.Errorf(asl.ErrorLambdaResourceNotFound, "Function not found: %s", name)
	}
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		if ive, ok := err.(messages.InvokeResponse_Error); ok {
			return nil, &asl.FunctionError{Type: ive.Type, Message: ive.Message}
		}
		return nil, &asl.FunctionError{Type: fmt.Sprintf("%T", err), Message: err.Error()}
	}
	return bytes.Clone(out), nil
}

// rawHandler adapts a function on raw payloads to lambda.Handler.
type rawHandler func(ctx context.Context, payload []byte) ([]byte, error)

func (f rawHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// fakeClock is the interpreter's clock in tests: Sleep records a retry wait and returns at once.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	// Waits as long as the definition's timeouts are the timeouts themselves: they end with the context.
	if d >= 20*time.Second {
		<-ctx.Done()
		return ctx.Err()
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

var (
	eventTime = time.Date(2026, 11, 26, 9, 15, 2, 120_000_000, time.UTC)
	arrivedAt = eventTime.Add(1500 * time.Millisecond)
	curatedAt = time.Date(2026, 11, 26, 9, 15, 5, 0, time.UTC)
)

// cloudEvent returns a CloudEvent's JSON.
func cloudEvent(id, typ, subject, data string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"urn:test:%s","type":%q,"time":%q,"subject":%q,"data":%s}`,
		id, typ, typ, eventTime.Format(time.RFC3339Nano), subject, data)
}

// batchOf returns a batch input of the raw events, sequence numbers 1, 2, ...
func batchOf(t testing.TB, raws ...string) []byte {
	t.Helper()
	b := event.Batch{BatchID: "shardId-000000000000:1-" + fmt.Sprint(len(raws)), ShardID: "shardId-000000000000"}
	for i, raw := range raws {
		b.Items = append(b.Items, event.BatchItem{SequenceNumber: fmt.Sprint(i + 1), PartitionKey: fmt.Sprint("pk-", i+1),
			ArrivalTime: arrivedAt, Event: json.RawMessage(raw)})
	}
	in, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// schemaMeasures returns the measures the embedded schemas mark, as local mode passes them.
func schemaMeasures(t testing.TB) map[string][]string {
	t.Helper()
	r, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return r.MeasuresByType()
}

// machine parses the deployed definition with the test functions, named enrich, persist and analytics.
func machine(t testing.TB, fns asl.Lambda, clock asl.Clock) *asl.Machine {
	t.Helper()
	def, err := workflow.Substitute(workflow.Definition(), map[string]string{
		workflow.VarEnrichFunction: "enrich", workflow.VarPersistFunction: "persist",
		workflow.VarAnalyticsFunction: "analytics"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := asl.Parse(def, asl.WithLambda(fns), asl.WithClock(clock))
	if err != nil {
		t.Fatalf("the definition does not load: %v", err)
	}
	return m
}

// harness is the workflow of a test: the definition run by the interpreter, its task functions over s and a.
type harness struct {
	wf    *workflow.Local
	clock *fakeClock
	fns   functions
}

// newHarness builds the workflow over s and a with the enrich options (after the schemas' measures).
func newHarness(t testing.TB, s *memStore, a *analyticsRecorder, opts ...workflow.EnrichOption) *harness {
	t.Helper()
	opts = append([]workflow.EnrichOption{workflow.WithMeasures(schemaMeasures(t))}, opts...)
	fns := functions{
		"enrich":    workflow.NewEnricher(opts...),
		"persist":   workflow.NewPersister(s, func() time.Time { return curatedAt }),
		"analytics": rawHandler(a.invoke),
	}
	clock := &fakeClock{now: curatedAt}
	return &harness{wf: workflow.NewLocal(machine(t, fns, clock), nil, nil), clock: clock, fns: fns}
}

// run executes input on a workflow over s and a, and decodes the result.
func run(t *testing.T, s *memStore, a *analyticsRecorder, input []byte, opts ...workflow.EnrichOption) event.BatchResult {
	t.Helper()
	return newHarness(t, s, a, opts...).run(t, input)
}

// run executes input and decodes the result; the execution must succeed.
func (h *harness) run(t *testing.T, input []byte) event.BatchResult {
	t.Helper()
	out, err := h.wf.Execute(context.Background(), input)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	var res event.BatchResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if res.Failed == nil {
		t.Errorf("output %s: failed is null; want a list", out)
	}
	return res
}

// failedSeqs summarises a result's failures as "seq:Error".
func failedSeqs(res event.BatchResult) []string {
	out := []string{}
	for _, f := range res.Failed {
		out = append(out, f.SequenceNumber+":"+f.Error)
	}
	return out
}

// TestExecuteEnriches checks the curated item, its derived fields and the analytics fact of each event type.
func TestExecuteEnriches(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data string
		// wantEnriched are the type-specific enriched fields (the common ones are checked for every case).
		wantEnriched map[string]any
		wantMeasures map[string]any
	}{
		{
			name:         "page view",
			typ:          "page_view",
			data:         `{"url":"https://Shop.Example.com/products/trail-runner-2?ref=x","session_id":"s","duration_ms":48210,"scroll_depth":0.82}`,
			wantEnriched: map[string]any{"host": "shop.example.com", "path": "/products/trail-runner-2"},
			wantMeasures: map[string]any{"duration_ms": 48210.0, "scroll_depth": 0.82},
		},
		{
			name:         "page view of a site root",
			typ:          "page_view",
			data:         `{"url":"https://shop.example.com","session_id":"s"}`,
			wantEnriched: map[string]any{"host": "shop.example.com", "path": "/"},
		},
		{
			name:         "purchase with item_count",
			typ:          "purchase",
			data:         `{"order_id":"o","currency":"EUR","amount":189.9,"item_count":2,"items":[{"sku":"a","quantity":1,"unit_price":149.9},{"sku":"b","quantity":2,"unit_price":20}]}`,
			wantEnriched: map[string]any{"amount_per_item": 94.95},
			wantMeasures: map[string]any{"amount": 189.9, "item_count": 2.0},
		},
		{
			name:         "purchase without item_count",
			typ:          "purchase",
			data:         `{"order_id":"o","currency":"EUR","amount":90,"items":[{"sku":"a","quantity":1,"unit_price":30},{"sku":"b","quantity":2,"unit_price":30}]}`,
			wantEnriched: map[string]any{"amount_per_item": 30.0, "item_count": 3.0},
			wantMeasures: map[string]any{"amount": 90.0, "item_count": 3.0},
		},
		{
			name:         "sensor reading in celsius",
			typ:          "sensor_reading",
			data:         `{"device_id":"d","metric":"temperature","value":21.5,"unit":"celsius","battery_pct":87.5}`,
			wantEnriched: map[string]any{"value_si": 294.65, "unit_si": "K"},
			wantMeasures: map[string]any{"value": 21.5, "battery_pct": 87.5},
		},
		{
			name:         "sensor reading in hPa",
			typ:          "sensor_reading",
			data:         `{"device_id":"d","metric":"pressure","value":1013.25,"unit":"hpa"}`,
			wantEnriched: map[string]any{"value_si": 101325.0, "unit_si": "Pa"},
			wantMeasures: map[string]any{"value": 1013.25},
		},
		{
			name:         "sensor reading in ppm has no SI value",
			typ:          "sensor_reading",
			data:         `{"device_id":"d","metric":"co2","value":612,"unit":"ppm"}`,
			wantEnriched: map[string]any{},
			wantMeasures: map[string]any{"value": 612.0},
		},
		{
			name:         "unknown type gets the common fields only",
			typ:          "login",
			data:         `{"user":"u","duration_ms":5}`,
			wantEnriched: map[string]any{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{}
			res := run(t, s, a, batchOf(t, cloudEvent("evt-1", tc.typ, "subj-1", tc.data)))
			if res.Processed != 1 || len(res.Failed) != 0 {
				t.Fatalf("result = %+v; want 1 processed", res)
			}
			c, ok := s.items["evt-1"]
			if !ok {
				t.Fatal("the event was not written to the store")
			}
			if c.Type != tc.typ || c.Source != "urn:test:"+tc.typ || c.Subject != "subj-1" || !c.Time.Equal(eventTime) ||
				c.ShardID != "shardId-000000000000" || c.SequenceNumber != "1" || !c.ArrivalTime.Equal(arrivedAt) ||
				!c.CuratedAt.Equal(curatedAt) || !jsonSame(c.Data, []byte(tc.data)) {
				t.Errorf("curated item = %+v", c)
			}
			// Compare through JSON, as the table stores it.
			want := map[string]any{"event_date": "2026-11-26", "event_hour": 9.0, "ingest_lag_ms": 1500.0,
				"partition_key": "pk-1"}
			for k, v := range tc.wantEnriched {
				want[k] = v
			}
			if got := roundTrip(t, c.Enriched); !approxEqual(got, want) {
				t.Errorf("enriched = %v; want %v", got, want)
			}
			f := a.events(t)["evt-1"]
			if f["type"] != tc.typ || f["source"] != "urn:test:"+tc.typ || f["subject"] != "subj-1" ||
				f["time"] != eventTime.Format(time.RFC3339Nano) {
				t.Errorf("analytics fact = %v", f)
			}
			gotM, _ := f["measures"].(map[string]any)
			if gotM == nil {
				gotM = map[string]any{}
			}
			if tc.wantMeasures == nil {
				tc.wantMeasures = map[string]any{}
			}
			if !approxEqual(gotM, tc.wantMeasures) {
				t.Errorf("measures = %v; want %v", gotM, tc.wantMeasures)
			}
		})
	}
}

// roundTrip returns m as decoded from its JSON.
func roundTrip(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// approxEqual compares decoded JSON maps, numbers within 1e-9.
func approxEqual(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok {
			return false
		}
		fa, aNum := va.(float64)
		fb, bNum := vb.(float64)
		if aNum && bNum {
			if d := fa - fb; d > 1e-9 || d < -1e-9 {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(va, vb) {
			return false
		}
	}
	return true
}

// TestExecuteMeasuresOption checks that WithMeasures chooses the measure fields, and that only numbers are
// measures.
func TestExecuteMeasuresOption(t *testing.T) {
	s, a := newMemStore(), &analyticsRecorder{}
	run(t, s, a, batchOf(t, cloudEvent("evt-1", "login", "u", `{"duration_ms":5,"tries":2,"name":"x"}`)),
		workflow.WithMeasures(map[string][]string{"login": {"tries", "name", "absent"}}))
	got, _ := a.events(t)["evt-1"]["measures"].(map[string]any)
	if !reflect.DeepEqual(got, map[string]any{"tries": 2.0}) {
		t.Errorf("measures = %v; want only the numeric configured field", got)
	}
}

// TestExecuteRules checks that processing rules quarantine exactly the matching events, with a cause naming
// the rule, and that the other events are processed.
func TestExecuteRules(t *testing.T) {
	sensor := func(id, device string, value float64) string {
		return cloudEvent(id, "sensor_reading", device,
			fmt.Sprintf(`{"device_id":%q,"metric":"co2","value":%v,"unit":"ppm","tags":["a","b"]}`, device, value))
	}
	input := batchOf(t,
		sensor("e1", "device-ok-1", 1),
		sensor("e2", "device-bad-0666", 2),
		sensor("e3", "device-ok-2", 612),
		sensor("e4", "test-device-1", 3),
	)
	tests := []struct {
		name       string
		rules      []string
		wantFailed []string
		wantCause  string
	}{
		{"no rules", nil, []string{}, ""},
		{"equals on data", []string{"quarantine:/data/device_id=device-bad-0666"}, []string{"2:Enrich.RuleViolation"},
			`rule "quarantine": /data/device_id equals "device-bad-0666"`},
		{"equals on subject", []string{"by-subject:/subject=device-ok-2"}, []string{"3:Enrich.RuleViolation"},
			`rule "by-subject"`},
		{"prefix", []string{"tests:/subject^=test-"}, []string{"4:Enrich.RuleViolation"},
			`rule "tests": /subject has prefix "test-"`},
		{"number by its JSON text", []string{"co2-spike:/data/value=612"}, []string{"3:Enrich.RuleViolation"}, ""},
		{"array element", []string{"tag:/data/tags/1=b"}, []string{"1:Enrich.RuleViolation", "2:Enrich.RuleViolation",
			"3:Enrich.RuleViolation", "4:Enrich.RuleViolation"}, ""},
		{"absent pointer never matches", []string{"none:/data/nope=x", "idx:/data/tags/9=a", "deep:/data/device_id/x=y"},
			[]string{}, ""},
		{"object value never matches", []string{"obj:/data^={"}, []string{}, ""},
		{"several rules", []string{"a:/data/device_id=device-bad-0666", "b:/subject^=test-"},
			[]string{"2:Enrich.RuleViolation", "4:Enrich.RuleViolation"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rules []workflow.Rule
			for _, s := range tc.rules {
				r, err := workflow.ParseRule(s)
				if err != nil {
					t.Fatal(err)
				}
				rules = append(rules, r)
			}
			s, a := newMemStore(), &analyticsRecorder{}
			res := run(t, s, a, input, workflow.WithRules(rules...))
			if got := failedSeqs(res); !reflect.DeepEqual(got, tc.wantFailed) {
				t.Fatalf("failed = %v; want %v", got, tc.wantFailed)
			}
			if res.Processed != 4-len(tc.wantFailed) || len(s.items) != res.Processed {
				t.Errorf("processed %d, stored %d; want %d", res.Processed, len(s.items), 4-len(tc.wantFailed))
			}
			for _, f := range res.Failed {
				if f.EventID != "e"+f.SequenceNumber {
					t.Errorf("failure %+v does not name its event", f)
				}
				if _, stored := s.items[f.EventID]; stored {
					t.Errorf("quarantined event %s was stored", f.EventID)
				}
			}
			if tc.wantCause != "" && !strings.Contains(res.Failed[0].Cause, tc.wantCause) {
				t.Errorf("cause = %q; want it to contain %q", res.Failed[0].Cause, tc.wantCause)
			}
		})
	}
}

// TestExecuteInvalidEvents checks that an event that cannot be curated fails alone, as Enrich.InvalidEvent.
func TestExecuteInvalidEvents(t *testing.T) {
	good := cloudEvent("ok", "page_view", "s", `{"url":"https://a.example/"}`)
	tests := []struct {
		name      string
		raw       string
		wantCause string
	}{
		{"not an event", `{"id":42}`, "cannot decode the event"},
		{"no id", `{"type":"t","source":"s","time":"2026-11-26T09:15:02Z"}`, "no id"},
		{"no type", `{"id":"x","source":"s","time":"2026-11-26T09:15:02Z"}`, "no type"},
		{"no source", `{"id":"x","type":"t","time":"2026-11-26T09:15:02Z"}`, "no source"},
		{"no time", `{"id":"x","type":"t","source":"s"}`, "no time"},
		{"bad time", `{"id":"x","type":"t","source":"s","time":"yesterday"}`, "cannot decode the event"},
		{"purchase data of the wrong shape", `{"id":"x","type":"purchase","source":"s","time":"2026-11-26T09:15:02Z","data":{"amount":"lots"}}`,
			`cannot decode the data of event "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{}
			res := run(t, s, a, batchOf(t, good, tc.raw))
			if got := failedSeqs(res); !reflect.DeepEqual(got, []string{"2:Enrich.InvalidEvent"}) {
				t.Fatalf("failed = %v; want item 2 invalid", got)
			}
			if !strings.Contains(res.Failed[0].Cause, tc.wantCause) {
				t.Errorf("cause = %q; want it to contain %q", res.Failed[0].Cause, tc.wantCause)
			}
			if res.Processed != 1 || len(s.items) != 1 || len(a.events(t)) != 1 {
				t.Errorf("the valid neighbour was not processed: %+v", res)
			}
		})
	}
}

// TestExecuteInvalidInput checks what an execution does with inputs that are not batches: input that is not
// JSON starts no execution; a JSON value that is not a batch fails the execution as a whole (the consumer
// then fails the batch); an empty batch succeeds with nothing processed.
func TestExecuteInvalidInput(t *testing.T) {
	h := newHarness(t, newMemStore(), &analyticsRecorder{})
	for _, in := range []string{"nope", "{"} {
		if _, err := h.wf.Execute(context.Background(), []byte(in)); !errors.Is(err, asl.ErrInvalidInput) {
			t.Errorf("Execute(%q) = %v; want ErrInvalidInput", in, err)
		}
	}
	for _, in := range []string{`[1]`, `{"items":"x"}`} {
		var xerr *workflow.ExecutionError
		if _, err := h.wf.Execute(context.Background(), []byte(in)); !errors.As(err, &xerr) || xerr.Status != asl.StatusFailed {
			t.Errorf("Execute(%q) = %v; want a failed execution", in, err)
		}
	}
	out, err := h.wf.Execute(context.Background(), []byte(`{"batchId":"b","items":[]}`))
	var res map[string]any
	if err != nil || json.Unmarshal(out, &res) != nil ||
		!reflect.DeepEqual(res, map[string]any{"batchId": "b", "processed": 0.0, "failed": []any{}}) {
		t.Errorf("empty batch = %s, %v", out, err)
	}
}

// permanentErr is an error that says retrying cannot help.
type permanentErr struct{}

func (permanentErr) Error() string   { return "validation failed" }
func (permanentErr) Permanent() bool { return true }

// TestExecutePersistRetries checks the Persist state's Retry policy (transient store errors, with backoff and
// full jitter) and that a final failure fails its items before analytics counts them.
func TestExecutePersistRetries(t *testing.T) {
	transient := errors.New("ProvisionedThroughputExceededException")
	tests := []struct {
		name       string
		fail       func(call int) error
		wantCalls  int
		wantFailed bool
		wantCause  string
	}{
		{"succeeds first", nil, 1, false, ""},
		{"transient error then success", func(call int) error {
			if call < 3 {
				return transient
			}
			return nil
		}, 3, false, ""},
		// MaxAttempts 4: the first call and four retries.
		{"transient error on every attempt", func(int) error { return transient }, 5, true,
			workflow.ErrorTypeStoreUnavailable + `: {"errorMessage":"persist: batch`},
		{"permanent error is not retried", func(int) error { return fmt.Errorf("item x: %w", permanentErr{}) }, 1, true,
			workflow.ErrorTypeInvalidItem},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{}
			s.fail = tc.fail
			h := newHarness(t, s, a)
			res := h.run(t, batchOf(t, cloudEvent("e1", "page_view", "s", `{}`), cloudEvent("e2", "page_view", "s", `{}`)))
			if s.calls != tc.wantCalls {
				t.Errorf("Put calls = %d; want %d", s.calls, tc.wantCalls)
			}
			if got := len(h.clock.sleeps); got != tc.wantCalls-1 {
				t.Errorf("waits = %v; want %d (one before each retry)", h.clock.sleeps, tc.wantCalls-1)
			}
			// FULL jitter: each wait is drawn from [0, min(IntervalSeconds × BackoffRate^n, MaxDelaySeconds)].
			for n, d := range h.clock.sleeps {
				if limit := min(time.Second<<n, 8*time.Second); d < 0 || d > limit {
					t.Errorf("wait %d = %v; want within [0, %v]", n, d, limit)
				}
			}
			if !tc.wantFailed {
				if len(res.Failed) != 0 || res.Processed != 2 || a.calls != 1 {
					t.Errorf("result %+v, analytics calls %d; want all processed", res, a.calls)
				}
				return
			}
			if got := failedSeqs(res); !reflect.DeepEqual(got, []string{"1:Persist.Failed", "2:Persist.Failed"}) {
				t.Errorf("failed = %v; want both Persist.Failed", got)
			}
			if a.calls != 0 {
				t.Errorf("analytics was invoked %d times for unpersisted items", a.calls)
			}
			if !strings.Contains(res.Failed[0].Cause, tc.wantCause) || res.Failed[0].EventID != "e1" {
				t.Errorf("failure %+v lacks its cause (%q) or event id", res.Failed[0], tc.wantCause)
			}
		})
	}
}

// TestExecuteAnalyticsRetries checks the Analytics state's Retry policy and its per-item failures.
func TestExecuteAnalyticsRetries(t *testing.T) {
	storeDown := messages.InvokeResponse_Error{Type: "Analytics.StoreUnavailable", Message: "disk busy"}
	tests := []struct {
		name       string
		fail       func(call int) error
		wantCalls  int
		wantFailed bool
		wantCause  string
	}{
		{name: "succeeds first", wantCalls: 1},
		{name: "transient error then success", fail: func(call int) error {
			if call == 1 {
				return storeDown
			}
			return nil
		}, wantCalls: 2},
		{name: "throttled invocation then success", fail: func(call int) error {
			if call < 4 {
				return messages.InvokeResponse_Error{Type: "Lambda.TooManyRequestsException", Message: "Rate exceeded"}
			}
			return nil
		}, wantCalls: 4},
		{name: "transient error on every attempt", fail: func(int) error { return storeDown },
			wantCalls: 5, wantFailed: true, wantCause: "Analytics.StoreUnavailable"},
		{name: "a function error the policy does not name is not retried", fail: func(int) error {
			return messages.InvokeResponse_Error{Type: "Runtime.ExitError", Message: "boom"}
		}, wantCalls: 1, wantFailed: true, wantCause: "Runtime.ExitError"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{fail: tc.fail}
			h := newHarness(t, s, a)
			res := h.run(t, batchOf(t, cloudEvent("e1", "purchase", "s", `{"amount":1}`)))
			if a.calls != tc.wantCalls {
				t.Errorf("analytics calls = %d; want %d", a.calls, tc.wantCalls)
			}
			if len(h.clock.sleeps) != tc.wantCalls-1 {
				t.Errorf("waits = %v; want %d", h.clock.sleeps, tc.wantCalls-1)
			}
			if len(s.items) != 1 || s.calls != 1 {
				t.Errorf("persisted %d items in %d calls; want the event persisted once, before analytics", len(s.items), s.calls)
			}
			if !tc.wantFailed {
				if res.Processed != 1 || len(res.Failed) != 0 || len(a.inputs) != 1 {
					t.Errorf("result %+v, analytics inputs %d; want processed and counted once", res, len(a.inputs))
				}
				return
			}
			if got := failedSeqs(res); !reflect.DeepEqual(got, []string{"1:Analytics.Failed"}) {
				t.Fatalf("failed = %v; want Analytics.Failed", got)
			}
			if !strings.Contains(res.Failed[0].Cause, tc.wantCause) {
				t.Errorf("cause = %q; want it to contain %q", res.Failed[0].Cause, tc.wantCause)
			}
		})
	}
}

// TestExecuteUnknownFunction checks that a task whose function does not exist fails its items, with the
// Lambda error name in the cause.
func TestExecuteUnknownFunction(t *testing.T) {
	s, a := newMemStore(), &analyticsRecorder{}
	h := newHarness(t, s, a)
	delete(h.fns, "analytics")
	res := h.run(t, batchOf(t, cloudEvent("e1", "page_view", "s", `{}`)))
	if got := failedSeqs(res); !reflect.DeepEqual(got, []string{"1:Analytics.Failed"}) ||
		!strings.Contains(res.Failed[0].Cause, asl.ErrorLambdaResourceNotFound) {
		t.Fatalf("result = %+v; want Analytics.Failed naming %s", res, asl.ErrorLambdaResourceNotFound)
	}
}

// TestExecuteStopsOnCancel checks that a cancelled context ends an execution during its retry waits.
func TestExecuteStopsOnCancel(t *testing.T) {
	s := newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	s.fail = func(int) error { cancel(); return errors.New("transient") }
	h := newHarness(t, s, &analyticsRecorder{})
	_, err := h.wf.Execute(ctx, batchOf(t, cloudEvent("e1", "page_view", "s", `{}`)))
	var xerr *workflow.ExecutionError
	if !errors.As(err, &xerr) || xerr.Status == asl.StatusSucceeded || s.calls != 1 {
		t.Fatalf("Execute = %v after %d calls; want the execution to end unsuccessfully after 1 call", err, s.calls)
	}
}

// jsonUnmarshal decodes JSON as the functions' runtime does.
func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// jsonSame reports whether two JSON texts hold the same value (the interpreter keeps values, not member order).
func jsonSame(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
