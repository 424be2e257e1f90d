package workflow_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/consumer"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
	"github.com/serverless-data-platform/sdp/workflow/store"
)

// stack is the local pipeline behind the stream: consumer -> workflow -> curated table + analytics, on one
// bbolt database, the workflow being the deployed definition run by the interpreter.
type stack struct {
	curated   *store.Local
	analytics *analytics.Local
	history   *history.Local
	wf        *workflow.Local
}

// newStack opens the stores on a fresh database and wires the workflow as local mode does.
func newStack(t testing.TB, db *bolt.DB, now func() time.Time, opts ...workflow.EnrichOption) *stack {
	t.Helper()
	st, err := store.OpenLocal(db)
	if err != nil {
		t.Fatal(err)
	}
	an, err := analytics.OpenLocal(db)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := history.OpenLocal(db, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]workflow.EnrichOption{workflow.WithMeasures(schemaMeasures(t))}, opts...)
	fns := functions{
		"enrich":    workflow.NewEnricher(opts...),
		"persist":   workflow.NewPersister(st, now),
		"analytics": analytics.NewFunction(an),
	}
	m := machine(t, fns, &fakeClock{now: now()})
	return &stack{curated: st, analytics: an, history: hist, wf: workflow.NewLocal(m, hist, nil)}
}

func openDB(t testing.TB, noSync bool) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: noSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// sampleEvents returns the events of ../events/sample.json, compacted, plus events this test adds: a
// purchase without item_count and a sensor reading from a quarantined device.
func sampleEvents(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile("../events/sample.json")
	if err != nil {
		t.Fatalf("read the sample events: %v", err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("sample events: %v", err)
	}
	var out [][]byte
	for _, e := range list {
		var c bytes.Buffer
		if err := json.Compact(&c, e); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Bytes())
	}
	return append(out,
		[]byte(`{"specversion":"1.0","id":"it-purchase-no-count","source":"https://shop.example.com/checkout","type":"purchase","time":"2026-11-26T09:16:59.999Z","subject":"customer-1","data":{"order_id":"o-1","currency":"EUR","amount":60,"items":[{"sku":"a","quantity":1,"unit_price":20},{"sku":"b","quantity":2,"unit_price":20}]}}`),
		[]byte(`{"specversion":"1.0","id":"it-poison","source":"urn:sdp:plant:hamburg:line-3","type":"sensor_reading","time":"2026-11-26T09:16:31Z","subject":"device-bad-0666","data":{"device_id":"device-bad-0666","metric":"co2","value":99999,"unit":"ppm"}}`),
	)
}

// quarantine is the rule that arms the poison event.
const quarantine = "quarantine-device:/data/device_id=device-bad-0666"

// kinesisEvent builds the batch Lambda would deliver for the events, one shard, sequence numbers from base.
func kinesisEvent(raws [][]byte, arrival time.Time) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, raw := range raws {
		seq := fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i)
		var pk struct {
			ID      string `json:"id"`
			Subject string `json:"subject"`
		}
		_ = json.Unmarshal(raw, &pk)
		key := pk.Subject
		if key == "" {
			key = pk.ID
		}
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventID:        "shardId-000000000003:" + seq,
			EventSource:    "aws:kinesis",
			EventSourceArn: "arn:aws:kinesis:eu-central-1:000000000000:stream/sdp-events",
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: arrival.Add(time.Duration(i) * time.Millisecond)},
				Data:                        raw,
				PartitionKey:                key,
				SequenceNumber:              seq,
			},
		})
	}
	return ev
}

// windowKey identifies an expected window.
type windowKey struct {
	start       string
	typ, source string
}

// expectedCounts counts the events per one-minute window, type and source, computed here from the events
// independently of the analytics package.
func expectedCounts(t testing.TB, raws [][]byte, skip map[string]bool) map[windowKey]int64 {
	t.Helper()
	out := map[windowKey]int64{}
	for _, raw := range raws {
		var e event.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if skip[e.ID] {
			continue
		}
		ts := e.Time.UTC()
		start := time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), 0, 0, time.UTC)
		out[windowKey{start.Format(time.RFC3339), e.Type, e.Source}]++
	}
	return out
}

// snapshot is everything the pipeline wrote: the curated items and the windows.
type snapshot struct {
	items   map[string]event.Curated
	windows []analytics.Window
}

func (s *stack) snapshot(t testing.TB) snapshot {
	t.Helper()
	ctx := context.Background()
	snap := snapshot{items: map[string]event.Curated{}}
	if err := s.curated.Scan(ctx, func(c event.Curated) bool { snap.items[c.ID] = c; return true }); err != nil {
		t.Fatal(err)
	}
	ws, err := s.analytics.Query(ctx, analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	snap.windows = ws
	return snap
}

// TestLocalPipeline runs the sample events and a quarantined poison event through the consumer, the workflow,
// the curated table and the analytics function on one database, then replays the batch whole and split.
func TestLocalPipeline(t *testing.T) {
	ctx := context.Background()
	raws := sampleEvents(t)
	batch := kinesisEvent(raws, time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC))
	poisonSeq := batch.Records[len(batch.Records)-1].Kinesis.SequenceNumber

	rule, err := workflow.ParseRule(quarantine)
	if err != nil {
		t.Fatal(err)
	}
	firstRun := time.Date(2026, 11, 26, 9, 17, 5, 0, time.UTC)
	clock := firstRun
	s := newStack(t, openDB(t, false), func() time.Time { return clock }, workflow.WithRules(rule))

	resp, err := consumer.New(s.wf).Handle(ctx, batch)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if got := failures(resp); !reflect.DeepEqual(got, []string{poisonSeq}) {
		t.Fatalf("batch item failures = %v; want only the poison event's %s", got, poisonSeq)
	}

	// The curated table holds every event but the poison one, enriched.
	first := s.snapshot(t)
	if len(first.items) != len(raws)-1 {
		t.Fatalf("curated items = %d; want %d", len(first.items), len(raws)-1)
	}
	if _, ok := first.items["it-poison"]; ok {
		t.Error("the poison event was curated")
	}
	for i, raw := range raws[:len(raws)-1] {
		var e event.Event
		_ = json.Unmarshal(raw, &e)
		c, ok := first.items[e.ID]
		if !ok {
			t.Fatalf("event %s is not curated", e.ID)
		}
		rec := batch.Records[i].Kinesis
		if c.Type != e.Type || c.Source != e.Source || !c.Time.Equal(e.Time) || c.ShardID != "shardId-000000000003" ||
			c.SequenceNumber != rec.SequenceNumber || !c.CuratedAt.Equal(firstRun) ||
			!c.ArrivalTime.Equal(rec.ApproximateArrivalTimestamp.Time) {
			t.Errorf("curated %s = %+v", e.ID, c)
		}
		wantLag := float64(rec.ApproximateArrivalTimestamp.Sub(e.Time).Milliseconds())
		if c.Enriched["event_date"] != e.Time.UTC().Format("2006-01-02") ||
			c.Enriched["event_hour"] != float64(e.Time.UTC().Hour()) ||
			c.Enriched["ingest_lag_ms"] != wantLag || c.Enriched["partition_key"] != rec.PartitionKey {
			t.Errorf("curated %s enriched = %v", e.ID, c.Enriched)
		}
	}
	if p := first.items["it-purchase-no-count"].Enriched; p["item_count"] != 3.0 || p["amount_per_item"] != 20.0 {
		t.Errorf("purchase without item_count: enriched = %v; want item_count 3, amount_per_item 20", p)
	}

	// The aggregates count each curated event once, in its event-time minute.
	want := expectedCounts(t, raws, map[string]bool{"it-poison": true})
	got := map[windowKey]int64{}
	for _, w := range first.windows {
		got[windowKey{w.Start.Format(time.RFC3339), w.Type, w.Source}] = w.Count
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("window counts = %v; want %v", got, want)
	}
	// Measures: the purchases of 09:16 from the checkout (sample: 189.9, added: 60).
	ws, err := s.analytics.Query(ctx, analytics.Query{Type: "purchase", Source: "https://shop.example.com/checkout",
		From: time.Date(2026, 11, 26, 9, 16, 0, 0, time.UTC), To: time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	var amount analytics.Stat
	for _, w := range ws {
		amount = w.Measures["amount"]
	}
	if len(ws) != 1 || amount.Count < 1 || amount.Max < 60 || amount.Min > 60 {
		t.Errorf("purchase windows at 09:16 = %+v; want one holding the 60 EUR purchase", ws)
	}

	// Replays change nothing: the same batch again, later, whole or split into many small executions.
	replays := []struct {
		name     string
		opts     []consumer.Option
		wantExec int // at least
	}{
		{"same batch again", nil, 1},
		{"same batch split into small executions", []consumer.Option{consumer.WithMaxExecutionPayload(1200)}, 3},
	}
	// Replaying a recorded execution with its recorded input (sdp executions replay) changes nothing either.
	t.Run("replay of a recorded execution", func(t *testing.T) {
		recs, total, err := s.history.List(history.Filter{})
		if err != nil || len(recs) == 0 {
			t.Fatalf("recorded executions = %d (%v); want the first run's", total, err)
		}
		orig, err := s.history.Get(recs[len(recs)-1].Name)
		if err != nil {
			t.Fatal(err)
		}
		if orig.Status != asl.StatusSucceeded || len(orig.Input) == 0 || len(orig.Output) == 0 || len(orig.Events) < 8 {
			t.Fatalf("record = %s, %d input bytes, %d output bytes, %d events; want a whole record", orig.Status,
				len(orig.Input), len(orig.Output), len(orig.Events))
		}
		clock = clock.Add(time.Hour)
		rec, err := s.wf.Run(ctx, orig.Input, orig.Name)
		if err != nil || rec.Status != asl.StatusSucceeded || rec.ReplayOf != orig.Name || rec.Name == orig.Name {
			t.Fatalf("replay = %+v, %v; want a new succeeded execution that names the original", rec, err)
		}
		var was, now event.BatchResult
		if json.Unmarshal(orig.Output, &was) != nil || json.Unmarshal(rec.Output, &now) != nil ||
			!reflect.DeepEqual(failedSeqs(was), failedSeqs(now)) {
			t.Errorf("replay output %s; original %s", rec.Output, orig.Output)
		}
		again := s.snapshot(t)
		if !reflect.DeepEqual(again.windows, first.windows) || len(again.items) != len(first.items) {
			t.Errorf("the replay changed the aggregates or the curated items")
		}
		for id, c := range again.items {
			if !c.CuratedAt.Equal(firstRun) {
				t.Errorf("the replay rewrote %s (CuratedAt %v)", id, c.CuratedAt)
			}
		}
		if _, err := s.history.Get(rec.ExecutionARN); err != nil {
			t.Errorf("the replay was not recorded: %v", err)
		}
	})
	for _, rp := range replays {
		t.Run(rp.name, func(t *testing.T) {
			clock = clock.Add(time.Hour)
			wf := &countingWorkflow{wf: s.wf}
			resp, err := consumer.New(wf, rp.opts...).Handle(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			if wf.n < rp.wantExec {
				t.Errorf("%d executions; want at least %d", wf.n, rp.wantExec)
			}
			if got := failures(resp); !reflect.DeepEqual(got, []string{poisonSeq}) {
				t.Fatalf("replay failures = %v; want only %s", got, poisonSeq)
			}
			again := s.snapshot(t)
			if !reflect.DeepEqual(again.windows, first.windows) {
				t.Errorf("a replay changed the aggregates:\n got %+v\nwant %+v", again.windows, first.windows)
			}
			if len(again.items) != len(first.items) {
				t.Fatalf("a replay changed the item count: %d, was %d", len(again.items), len(first.items))
			}
			for id, c := range again.items {
				if !c.CuratedAt.Equal(firstRun) {
					t.Errorf("a replay rewrote %s (CuratedAt %v)", id, c.CuratedAt)
				}
			}
		})
	}
}

// countingWorkflow counts executions.
type countingWorkflow struct {
	wf *workflow.Local
	n  int
}

func (c *countingWorkflow) Execute(ctx context.Context, input []byte) ([]byte, error) {
	c.n++
	return c.wf.Execute(ctx, input)
}

// failures returns the reported sequence numbers.
func failures(r events.KinesisEventResponse) []string {
	out := []string{}
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// benchBatch returns an n-event batch input, with ids made unique by round.
func benchBatch(b *testing.B, round, n int) []byte {
	b.Helper()
	types := []string{
		`"type":"page_view","data":{"url":"https://shop.example.com/p/%d","session_id":"s","duration_ms":%d,"scroll_depth":0.5}`,
		`"type":"purchase","data":{"order_id":"o-%d","currency":"EUR","amount":%d,"items":[{"sku":"a","quantity":2,"unit_price":1}]}`,
		`"type":"sensor_reading","data":{"device_id":"d-%d","metric":"temperature","value":%d,"unit":"celsius"}`,
	}
	raws := make([]string, n)
	for i := range raws {
		body := fmt.Sprintf(types[i%3], i, i)
		raws[i] = fmt.Sprintf(`{"specversion":"1.0","id":"r%d-e%d","source":"urn:bench","time":"2026-11-26T09:%02d:%02dZ","subject":"s-%d",%s}`,
			round, i, 15+(i/60)%45, i%60, i%7, body)
	}
	return batchOf(b, raws...)
}

// benchFunctions are the task functions over in-memory stand-ins for the table and the analytics store: the
// handlers' own work, without storage.
func benchFunctions(b *testing.B) functions {
	rule, _ := workflow.ParseRule("q:/data/device_id=device-none")
	ok := []byte(`{"applied":100,"duplicates":0}`)
	return functions{
		"enrich": workflow.NewEnricher(workflow.WithRules(rule), workflow.WithMeasures(schemaMeasures(b)),
			workflow.WithReference(workflow.DefaultReference(), 0)),
		"persist":   workflow.NewPersister(nopStore{}, nil),
		"analytics": rawHandler(func(context.Context, []byte) ([]byte, error) { return ok, nil }),
	}
}

// BenchmarkExecution measures one execution of the deployed definition by the interpreter, its task
// functions over in-memory stand-ins, for batches of 100 and 500 events. The payload limit is lifted: a
// 500-event batch of these events is larger than one execution takes, which the consumer splits.
// BenchmarkHandlers measures the same functions called directly with the same payloads; the difference is
// the interpreter's overhead per execution.
func BenchmarkExecution(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			ctx := context.Background()
			def, err := workflow.Substitute(workflow.Definition(), map[string]string{workflow.VarEnrichFunction: "enrich",
				workflow.VarPersistFunction: "persist", workflow.VarAnalyticsFunction: "analytics"})
			if err != nil {
				b.Fatal(err)
			}
			m, err := asl.Parse(def, asl.WithLambda(benchFunctions(b)), asl.WithPayloadLimit(0))
			if err != nil {
				b.Fatal(err)
			}
			wf := workflow.NewLocal(m, nil, nil)
			in := benchBatch(b, 0, n)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := wf.Execute(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandlers measures the task functions of one execution called directly, with the payloads the
// definition gives them: the part of BenchmarkExecution that is not the interpreter.
func BenchmarkHandlers(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			ctx := context.Background()
			fns := benchFunctions(b)
			in := benchBatch(b, 0, n)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := fns.Invoke(ctx, "enrich", in)
				if err != nil {
					b.Fatal(err)
				}
				var enriched struct {
					BatchID string          `json:"batchId"`
					Curated json.RawMessage `json:"curated"`
					Facts   json.RawMessage `json:"facts"`
				}
				if err := json.Unmarshal(out, &enriched); err != nil {
					b.Fatal(err)
				}
				persist, _ := json.Marshal(map[string]any{"batchId": enriched.BatchID, "items": enriched.Curated})
				if _, err := fns.Invoke(ctx, "persist", persist); err != nil {
					b.Fatal(err)
				}
				facts, _ := json.Marshal(map[string]any{"batchId": enriched.BatchID, "events": enriched.Facts})
				if _, err := fns.Invoke(ctx, "analytics", facts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLocalExecuteBolt measures one execution of a 100-event batch of new events against the real local
// table and analytics store (bbolt without fsync, so the disk does not dominate).
func BenchmarkLocalExecuteBolt(b *testing.B) {
	ctx := context.Background()
	s := newStack(b, openDB(b, true), time.Now)
	inputs := make([][]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%cap(inputs) == 0 {
			b.StopTimer()
			inputs = inputs[:0]
			for j := range cap(inputs) {
				inputs = append(inputs, benchBatch(b, i+j, 100))
			}
			b.StartTimer()
		}
		out, err := s.wf.Execute(ctx, inputs[i%cap(inputs)])
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"failed":[]`)) || !bytes.Contains(out, []byte(`"processed":100`)) {
			b.Fatalf("output %s", out)
		}
	}
}

// nopStore is a curated table that takes everything and keeps nothing.
type nopStore struct{}

func (nopStore) Put(context.Context, []event.Curated) error { return nil }

// TestLargestBatchFitsThePayloadLimit checks the consumer's split size against the definition: a batch input as
// large as the consumer starts (consumer.DefaultMaxExecutionPayload) keeps every state of the execution within
// Step Functions' 256 KiB limit, though enrichment makes the state larger than the input.
func TestLargestBatchFitsThePayloadLimit(t *testing.T) {
	s := newStack(t, openDB(t, true), time.Now, workflow.WithReference(workflow.DefaultReference(), 0))
	var raws []string
	size := 0
	for i := 0; ; i++ {
		// Purchases grow the most: item_count, amount_per_item, amount_usd and the currency entry are added.
		raw := fmt.Sprintf(`{"specversion":"1.0","id":"big-%05d","source":"https://shop.example.com/checkout","type":"purchase","time":"2026-11-26T09:15:02Z","subject":"visitor-%d","data":{"order_id":"o-%d","currency":"EUR","amount":12.5,"items":[{"sku":"a","quantity":1,"unit_price":12.5}]}}`, i, i, i)
		if size+len(raw)+160 > consumer.DefaultMaxExecutionPayload {
			break
		}
		raws = append(raws, raw)
		size += len(raw) + 160
	}
	in := batchOf(t, raws...)
	if len(in) > consumer.DefaultMaxExecutionPayload {
		t.Fatalf("test batch is %d bytes, over the consumer's limit", len(in))
	}
	rec, err := s.wf.Run(context.Background(), in, "")
	if err != nil || rec.Status != asl.StatusSucceeded {
		t.Fatalf("a %d-byte batch of %d events: %v %s %s: %s", len(in), len(raws), err, rec.Status, rec.Error, rec.Cause)
	}
	t.Logf("a %d-byte batch of %d purchases ran within the payload limit", len(in), len(raws))

	// The limit is real: the same events three times over make an input the interpreter takes (under 256 KiB)
	// but a state after enrichment it refuses, as Step Functions would.
	big := batchOf(t, append(append(append([]string{}, raws...), raws...), raws...)...)
	rec, err = s.wf.Run(context.Background(), big, "")
	if err != nil || rec.Status != asl.StatusFailed || rec.Error != asl.ErrorDataLimitExceeded {
		t.Fatalf("a %d-byte batch: %v, %s %s; want FAILED with %s", len(big), err, rec.Status, rec.Error, asl.ErrorDataLimitExceeded)
	}
}
