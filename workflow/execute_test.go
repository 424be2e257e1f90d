package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow"
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
	fail   func(call int) ([]byte, error)
}

func (a *analyticsRecorder) invoke(_ context.Context, payload []byte) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail != nil {
		if out, err := a.fail(a.calls); err != nil || out != nil {
			return out, err
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

// fastRetry keeps the tests quick.
var fastRetry = workflow.Retry{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond,
	MaxElapsed: 5 * time.Second}

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

// run executes input on a workflow over s and a, and decodes the result.
func run(t *testing.T, s *memStore, a *analyticsRecorder, input []byte, opts ...workflow.Option) event.BatchResult {
	t.Helper()
	opts = append([]workflow.Option{workflow.WithRetry(fastRetry), workflow.WithClock(func() time.Time { return curatedAt }),
		workflow.WithMeasures(schemaMeasures(t))}, opts...)
	wf := workflow.NewLocal(s, workflow.FunctionMap{"analytics": a.invoke}, opts...)
	out, err := wf.Execute(context.Background(), input)
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
				!c.CuratedAt.Equal(curatedAt) || string(c.Data) != tc.data {
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

// TestExecuteInvalidInput checks that only an input that is not a batch is an execution error.
func TestExecuteInvalidInput(t *testing.T) {
	wf := workflow.NewLocal(newMemStore(), workflow.FunctionMap{})
	for _, in := range []string{"", "nope", `[1]`, `{"items":"x"}`} {
		if _, err := wf.Execute(context.Background(), []byte(in)); !errors.Is(err, workflow.ErrInvalidInput) {
			t.Errorf("Execute(%q) = %v; want ErrInvalidInput", in, err)
		}
	}
	out, err := wf.Execute(context.Background(), []byte(`{"batchId":"b","items":[]}`))
	if err != nil || string(out) != `{"processed":0,"failed":[]}` {
		t.Errorf("empty batch = %s, %v", out, err)
	}
}

// permanentErr is an error that says retrying cannot help.
type permanentErr struct{}

func (permanentErr) Error() string   { return "validation failed" }
func (permanentErr) Permanent() bool { return true }

// TestExecutePersistRetries checks the persist step's retries and that a final failure fails its items
// before analytics counts them.
func TestExecutePersistRetries(t *testing.T) {
	transient := errors.New("ProvisionedThroughputExceededException")
	tests := []struct {
		name       string
		fail       func(call int) error
		wantCalls  int
		wantFailed bool
	}{
		{"succeeds first", nil, 1, false},
		{"transient error then success", func(call int) error {
			if call < 3 {
				return transient
			}
			return nil
		}, 3, false},
		{"transient error on every attempt", func(int) error { return transient }, 3, true},
		{"permanent error is not retried", func(int) error { return fmt.Errorf("item x: %w", permanentErr{}) }, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{}
			s.fail = tc.fail
			res := run(t, s, a, batchOf(t, cloudEvent("e1", "page_view", "s", `{}`), cloudEvent("e2", "page_view", "s", `{}`)))
			if s.calls != tc.wantCalls {
				t.Errorf("Put calls = %d; want %d", s.calls, tc.wantCalls)
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
			if res.Failed[0].Cause == "" || res.Failed[0].EventID != "e1" {
				t.Errorf("failure %+v lacks its cause or event id", res.Failed[0])
			}
		})
	}
}

// TestExecuteAnalyticsRetries checks the analytics step's retries, its function name option and its
// failures.
func TestExecuteAnalyticsRetries(t *testing.T) {
	tests := []struct {
		name       string
		fns        func(a *analyticsRecorder) workflow.FunctionMap
		fail       func(call int) ([]byte, error)
		opts       []workflow.Option
		wantCalls  int
		wantFailed bool
		wantCause  string
	}{
		{name: "transient error then success", fail: func(call int) ([]byte, error) {
			if call == 1 {
				return nil, errors.New("TooManyRequestsException")
			}
			return nil, nil
		}, wantCalls: 2},
		{name: "function error payload is retried", fail: func(call int) ([]byte, error) {
			return []byte(`{"errorType":"Runtime.ExitError","errorMessage":"boom"}`), nil
		}, wantCalls: 3, wantFailed: true, wantCause: "Runtime.ExitError"},
		{name: "error on every attempt", fail: func(int) ([]byte, error) { return nil, errors.New("ServiceException") },
			wantCalls: 3, wantFailed: true, wantCause: "ServiceException"},
		{name: "unknown function is not retried", opts: []workflow.Option{workflow.WithAnalyticsFunction("nope")},
			wantCalls: 0, wantFailed: true, wantCause: `"nope"`},
		{name: "configured function name", fns: func(a *analyticsRecorder) workflow.FunctionMap {
			return workflow.FunctionMap{"sdp-analytics": a.invoke}
		}, opts: []workflow.Option{workflow.WithAnalyticsFunction("sdp-analytics")}, wantCalls: 1},
		{name: "more attempts", fail: func(call int) ([]byte, error) {
			if call < 5 {
				return nil, errors.New("again")
			}
			return nil, nil
		}, opts: []workflow.Option{workflow.WithRetry(workflow.Retry{MaxAttempts: 5, InitialInterval: time.Millisecond})},
			wantCalls: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, a := newMemStore(), &analyticsRecorder{fail: tc.fail}
			fns := workflow.FunctionMap{"analytics": a.invoke}
			if tc.fns != nil {
				fns = tc.fns(a)
			}
			opts := append([]workflow.Option{workflow.WithRetry(fastRetry)}, tc.opts...)
			wf := workflow.NewLocal(s, fns, opts...)
			out, err := wf.Execute(context.Background(), batchOf(t, cloudEvent("e1", "purchase", "s", `{"amount":1}`)))
			if err != nil {
				t.Fatal(err)
			}
			var res event.BatchResult
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if a.calls != tc.wantCalls {
				t.Errorf("analytics calls = %d; want %d", a.calls, tc.wantCalls)
			}
			if len(s.items) != 1 {
				t.Errorf("the event was not persisted before analytics")
			}
			if !tc.wantFailed {
				if res.Processed != 1 || len(res.Failed) != 0 {
					t.Errorf("result %+v; want processed", res)
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

// TestRetryIsBoundedByElapsedTime checks that MaxElapsed ends retries well before MaxAttempts would.
func TestRetryIsBoundedByElapsedTime(t *testing.T) {
	s := newMemStore()
	s.fail = func(int) error { return errors.New("slow down") }
	wf := workflow.NewLocal(s, workflow.FunctionMap{}, workflow.WithRetry(workflow.Retry{
		MaxAttempts: 1000, InitialInterval: 20 * time.Millisecond, MaxInterval: 20 * time.Millisecond,
		MaxElapsed: 200 * time.Millisecond}))
	start := time.Now()
	out, err := wf.Execute(context.Background(), batchOf(t, cloudEvent("e1", "page_view", "s", `{}`)))
	if err != nil || !strings.Contains(string(out), "Persist.Failed") {
		t.Fatalf("Execute = %s, %v; want Persist.Failed", out, err)
	}
	// With waits of 10 to 30ms, 200ms of retrying allows at most 21 calls; far below 1000.
	if s.calls < 2 || s.calls > 21 {
		t.Errorf("Put calls = %d; want a few, bounded by MaxElapsed", s.calls)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("retries took %v", d)
	}
}

// TestRetryStopsOnCancel checks that a cancelled context ends the retries at once.
func TestRetryStopsOnCancel(t *testing.T) {
	s := newMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	s.fail = func(int) error { cancel(); return errors.New("transient") }
	wf := workflow.NewLocal(s, workflow.FunctionMap{}, workflow.WithRetry(workflow.Retry{MaxAttempts: 10,
		InitialInterval: time.Hour, MaxInterval: time.Hour, MaxElapsed: 10 * time.Hour}))
	out, err := wf.Execute(ctx, batchOf(t, cloudEvent("e1", "page_view", "s", `{}`)))
	if err != nil || !strings.Contains(string(out), "Persist.Failed") || s.calls != 1 {
		t.Fatalf("Execute = %s, %v after %d calls; want Persist.Failed after 1 call", out, err, s.calls)
	}
}

// TestFunctionMap checks the in-process Functions: calls, function errors and unknown names.
func TestFunctionMap(t *testing.T) {
	echo := func(_ context.Context, p []byte) ([]byte, error) { return p, nil }
	boom := errors.New("boom")
	fns := workflow.FunctionMap{
		"echo": echo,
		"fail": func(context.Context, []byte) ([]byte, error) { return nil, boom },
	}
	tests := []struct {
		name    string
		fn      string
		want    string
		wantErr error
	}{
		{"known function", "echo", `{"a":1}`, nil},
		{"function error", "fail", "", boom},
		{"unknown function", "missing", "", workflow.ErrFunctionNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := fns.Invoke(context.Background(), tc.fn, []byte(`{"a":1}`))
			if !errors.Is(err, tc.wantErr) || string(out) != tc.want {
				t.Fatalf("Invoke(%q) = %s, %v; want %s, %v", tc.fn, out, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.fn) {
				t.Errorf("error %q does not name the function", err)
			}
		})
	}
}
