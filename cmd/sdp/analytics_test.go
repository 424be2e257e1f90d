package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
)

// truthEvent is one event of the analytics test and what the test knows of it.
type truthEvent struct {
	raw      []byte
	typ      string
	source   string
	subject  string
	time     time.Time
	late     bool
	measures map[string]float64
}

// truthKey names a window of one type and source.
type truthKey struct {
	start       time.Time
	typ, source string
}

// truthWindow is the exact aggregate of one window, computed by the test.
type truthWindow struct {
	count, late int64
	subjects    map[string]int64
	values      map[string][]float64
}

// analyticsEvents makes n events of two types and three sources: event times spread over the last few minutes;
// page views have subjects drawn from a Zipf distribution (heavy hitters), sensor readings nearly all distinct
// subjects (so that the uniques sketch of their windows turns dense); two measures per type; every 97th event is dated three hours back
// (it arrives after its window closed: late), and every 500th (offset 7) is poison for the processing rule.
func analyticsEvents(n int, now time.Time) []truthEvent {
	rng := rand.New(rand.NewPCG(8, 88))
	zipf := rand.NewZipf(rng, 1.1, 1, 4999)
	sources := []string{"https://shop.example.com/web", "https://shop.example.com/app", "urn:sdp:plant:hamburg:line-3"}
	t0 := now.Add(-4 * time.Minute)
	out := make([]truthEvent, n)
	for i := range out {
		e := truthEvent{source: sources[i%3], subject: fmt.Sprint("visitor-", zipf.Uint64()),
			time: t0.Add(time.Duration(i) * 4 * time.Minute / time.Duration(n)).Truncate(time.Millisecond)}
		if i%97 == 5 {
			e.time, e.late = now.Add(-3*time.Hour).Add(time.Duration(i)*time.Millisecond).Truncate(time.Millisecond), true
		}
		if i%2 == 1 {
			e.subject = fmt.Sprint("device-", rng.IntN(1_000_000))
		}
		if i%500 == 7 {
			e.subject = fmt.Sprint("poison-", i)
		}
		var data string
		if i%2 == 0 {
			e.typ = "page_view"
			d, s := math.Round(math.Exp(rng.NormFloat64()+8)), math.Round(rng.Float64()*100)/100
			e.measures = map[string]float64{"duration_ms": d, "scroll_depth": s}
			data = fmt.Sprintf(`{"url":"https://shop.example.com/p/%d","session_id":"s-%d","country":"DE","duration_ms":%d,"scroll_depth":%g}`,
				rng.IntN(900), rng.IntN(5000), int(d), s)
		} else {
			e.typ = "sensor_reading"
			v, b := math.Round(rng.NormFloat64()*500)/100+21, float64(rng.IntN(101))
			e.measures = map[string]float64{"value": v, "battery_pct": b}
			data = fmt.Sprintf(`{"device_id":"dev-%d","metric":"temperature","value":%g,"unit":"celsius","battery_pct":%g}`, rng.IntN(50), v, b)
		}
		e.raw = fmt.Appendf(nil, `{"specversion":"1.0","id":"an-%06d","source":%q,"type":%q,"time":%q,"subject":%q,"data":%s}`,
			i, e.source, e.typ, e.time.Format(time.RFC3339Nano), e.subject, data)
		out[i] = e
	}
	return out
}

// analyticsFaults injects the failures at-least-once delivery brings: lost answers of the analytics function after it
// counted (the workflow retries it), analytics failures before it counts, and consumer invocations that fail
// after the whole workflow ran (the mapping retries and bisects the batch, so records are processed again).
type analyticsFaults struct {
	analyticsCalls, lostAnswers, failedBefore atomic.Int64
	mu                                        sync.Mutex
	failedOnce                                map[string]bool // sequence numbers whose batch failed once
	batchFailures                             int
}

// wrap is stackConfig.WrapHandler.
func (f *analyticsFaults) wrap(name string, h lambda.Handler) lambda.Handler {
	if name != "analytics" {
		return h
	}
	down := messages.InvokeResponse_Error{Type: analytics.ErrorTypeStoreUnavailable, Message: "injected: the aggregates store did not answer"}
	return lambdaFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		// Each injected failure costs the workflow's Retry interval (about a second), so they are bounded.
		switch n := f.analyticsCalls.Add(1); {
		case n%9 == 4 && f.failedBefore.Load() < 12:
			f.failedBefore.Add(1)
			return nil, down
		case n%7 == 2 && f.lostAnswers.Load() < 12:
			if _, err := h.Invoke(ctx, payload); err != nil {
				return nil, err
			}
			f.lostAnswers.Add(1)
			return nil, down
		}
		return h.Invoke(ctx, payload)
	})
}

// observe is stackConfig.Observe: every 6th batch whose records never failed this way is processed and then
// reported as a function error, once per record.
func (f *analyticsFaults) observe(next esm.Function) esm.Function {
	var calls atomic.Int64
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		resp, err := next(ctx, ev)
		if err != nil || calls.Add(1)%6 != 0 {
			return resp, err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, r := range ev.Records {
			if f.failedOnce[r.Kinesis.SequenceNumber] {
				return resp, err
			}
		}
		for _, r := range ev.Records {
			f.failedOnce[r.Kinesis.SequenceNumber] = true
		}
		f.batchFailures++
		return events.KinesisEventResponse{}, errors.New("injected: the consumer crashed after its workflow ran")
	}
}

// TestAnalyticsExactlyOnce is the aggregates' acceptance test: 100,000 events (set SDP_ANALYTICS_EVENTS to
// change it) go through the local pipeline while the analytics function loses answers and fails, consumer
// batches fail after their workflow ran (retried and bisected), poison records go to the DLQ and are redriven
// after the rule is lifted, executions are replayed and producers send duplicates. Then every window's count
// and late count equal the ground truth exactly, and its unique subjects, quantiles and top subjects are within
// the sketches' stated bounds of the exact values.
func TestAnalyticsExactlyOnce(t *testing.T) {
	n := 100_000
	if v := os.Getenv("SDP_ANALYTICS_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("SDP_ANALYTICS_EVENTS=%q: a whole number from 1000", v)
		}
	}
	if testing.Short() {
		n = 10_000
	}
	now := time.Now().UTC()
	evs := analyticsEvents(n, now)
	win := analytics.Windowing{Size: 5 * time.Minute, AllowedLateness: 30 * time.Minute}
	f := &analyticsFaults{failedOnce: map[string]bool{}}
	dir := t.TempDir()
	quick := func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}
	}
	cfg := stackConfig{DataDir: dir, Shards: 4, Windowing: win, WrapHandler: f.wrap, Observe: f.observe, Mapping: quick,
		Rules: []workflow.Rule{{Name: "quarantine", Pointer: "/subject", Prefix: "poison-"}}}
	base, s, stop := runStack(t, cfg)
	ctx := context.Background()

	// Ingest in bodies of 500, four at a time; then 1% of the events again, as a producer's retries would.
	post := func(part []truthEvent) {
		t.Helper()
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for off := 0; off < len(part); off += 500 {
			sem <- struct{}{}
			wg.Add(1)
			go func(body []truthEvent) {
				defer wg.Done()
				defer func() { <-sem }()
				var b bytes.Buffer
				b.WriteByte('[')
				for i := range body {
					if i > 0 {
						b.WriteByte(',')
					}
					b.Write(body[i].raw)
				}
				b.WriteByte(']')
				if code, r := postEvents(t, base, event.ContentTypeBatch, b.Bytes()); code != http.StatusAccepted || r.Accepted != len(body) {
					t.Errorf("POST of %d events: status %d, accepted %d: %+v", len(body), code, r.Accepted, r.Errors)
				}
			}(part[off:min(off+500, len(part))])
		}
		wg.Wait()
	}
	start := time.Now()
	post(evs)
	post(evs[:n/100])
	ingested := time.Since(start)

	var poison int
	for i := range evs {
		if evs[i].subject[:7] == "poison-" {
			poison++
		}
	}
	// progress is how many events are curated, how many records the DLQ's messages cover, and how far the
	// mapping is behind the stream.
	progress := func() (curated, dead int, behind time.Duration) {
		c, err := s.curated.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.dlq.List(ctx, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var of dlq.OnFailure
			if err := json.Unmarshal(m.Body, &of); err != nil {
				t.Fatalf("DLQ message %s: %v", m.ID, err)
			}
			dead += of.KinesisBatchInfo.BatchSize
		}
		for _, st := range s.mapping.Stats() {
			behind = max(behind, st.IteratorAge)
		}
		return c, dead, behind
	}
	// Phase 1: the mapping caught up, and every event is curated or covered by a dead letter (the poison
	// ones, and any whose batch exhausted its retries beside them; a record can be both, when its batch
	// failed after its workflow ran).
	eventually(t, 5*time.Minute, "the stream drained into the curated table and the DLQ", func() bool {
		c, d, behind := progress()
		return c+d >= n && d >= poison && behind == 0
	})
	drained := time.Since(start)
	depth, err := s.dlq.Len(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Replay some finished executions: the same batches run through the workflow again.
	var list struct {
		Executions []struct{ Name string } `json:"executions"`
	}
	if code := getJSON(t, base+"/v1/executions?limit=25&status=SUCCEEDED", &list); code != http.StatusOK || len(list.Executions) == 0 {
		t.Fatalf("GET /v1/executions: %d, %d executions", code, len(list.Executions))
	}
	for _, e := range list.Executions {
		resp, err := http.Post(base+"/v1/executions/"+e.Name+"/replay", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("replay %s: status %d", e.Name, resp.StatusCode)
		}
	}
	stop()

	// Phase 2: the rule is lifted and the DLQ redriven onto the stream.
	cfg.Rules = nil
	base, s, _ = runStack(t, cfg)
	resp, err := http.Post(base+"/v1/dlq/redrive", "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/dlq/redrive: status %d", resp.StatusCode)
	}
	eventually(t, 2*time.Minute, "every event curated after the redrive", func() bool {
		c, d, _ := progress()
		return c == n && d == 0
	})

	// The ground truth.
	truth := map[truthKey]*truthWindow{}
	for i := range evs {
		e := &evs[i]
		k := truthKey{win.Start(e.time), e.typ, e.source}
		w := truth[k]
		if w == nil {
			w = &truthWindow{subjects: map[string]int64{}, values: map[string][]float64{}}
			truth[k] = w
		}
		if e.late {
			w.late++
			continue
		}
		w.count++
		w.subjects[e.subject]++
		for name, v := range e.measures {
			w.values[name] = append(w.values[name], v)
		}
	}
	// Aggregates catch up with the curated table within the workflow's execution.
	var got struct{ Windows []analytics.Window }
	eventually(t, 30*time.Second, "the aggregates count every event", func() bool {
		if code := getJSON(t, base+"/v1/aggregates", &got); code != http.StatusOK {
			t.Fatalf("GET /v1/aggregates: %d", code)
		}
		var total int64
		for _, w := range got.Windows {
			total += w.Count + w.Late
		}
		return total == int64(n)
	})
	if len(got.Windows) != len(truth) {
		t.Errorf("%d windows, want %d", len(got.Windows), len(truth))
	}
	var worstUniques, worstQuantile, largestUniques float64
	for _, w := range got.Windows {
		tw := truth[truthKey{w.Start, w.Type, w.Source}]
		if tw == nil {
			t.Errorf("window %v %s %s is not in the ground truth", w.Start, w.Type, w.Source)
			continue
		}
		if w.Count != tw.count || w.Late != tw.late {
			t.Errorf("window %v %s %s: count %d late %d, want %d and %d", w.Start, w.Type, w.Source, w.Count, w.Late, tw.count, tw.late)
		}
		if tw.count == 0 {
			continue
		}
		exact := float64(len(tw.subjects))
		largestUniques = max(largestUniques, exact)
		rel := math.Abs(float64(w.UniqueSubjects)-exact) / exact
		worstUniques = max(worstUniques, rel)
		if rel > 3*analytics.UniquesStandardError {
			t.Errorf("window %v %s %s: %d unique subjects, exact %v", w.Start, w.Type, w.Source, w.UniqueSubjects, exact)
		}
		for name, vs := range tw.values {
			slices.Sort(vs)
			st := w.Measures[name]
			var sum float64
			for _, v := range vs {
				sum += v
			}
			if st.Count != int64(len(vs)) || st.Min != vs[0] || st.Max != vs[len(vs)-1] || math.Abs(st.Sum-sum) > 1e-9*math.Max(1, math.Abs(sum)) {
				t.Errorf("window %v %s %s measure %s: %+v, want count %d min %v max %v sum %v", w.Start, w.Type, w.Source, name, st, len(vs), vs[0], vs[len(vs)-1], sum)
			}
			for q, v := range map[float64]float64{0.5: st.P50, 0.9: st.P90, 0.95: st.P95, 0.99: st.P99} {
				r := q * float64(len(vs)-1)
				lo, hi := vs[int(math.Floor(r))], vs[int(math.Ceil(r))]
				e := min(relErr(v, lo), relErr(v, hi))
				worstQuantile = max(worstQuantile, e)
				if e > analytics.QuantileRelativeError*(1+1e-9) {
					t.Errorf("window %v %s %s measure %s p%v = %v, exact %v: relative error %.4f", w.Start, w.Type, w.Source, name, q*100, v, lo, e)
				}
			}
		}
		for _, sc := range w.TopSubjects {
			if c := tw.subjects[sc.Subject]; sc.Count > c || sc.Count < c-w.TopError {
				t.Errorf("window %v %s %s: top subject %s counted %d, true %d, error bound %d", w.Start, w.Type, w.Source, sc.Subject, sc.Count, c, w.TopError)
			}
		}
	}
	t.Logf("%d events (%d poison, %d late, %d sent twice) in %d windows: ingested in %v, drained in %v; "+
		"%d analytics answers lost after counting, %d failures before counting, %d consumer batches failed after their workflow, "+
		"%d DLQ messages redriven, %d executions replayed; worst uniques error %.3f%% (largest window %.0f subjects), worst quantile error %.3f%%",
		n, poison, n/97, n/100, len(truth), ingested.Round(time.Millisecond), drained.Round(time.Millisecond),
		f.lostAnswers.Load(), f.failedBefore.Load(), f.batchFailures, depth, len(list.Executions), 100*worstUniques, largestUniques, 100*worstQuantile)
	if f.lostAnswers.Load() == 0 || f.failedBefore.Load() == 0 || f.batchFailures == 0 || depth == 0 {
		t.Errorf("not every fault happened: %d lost answers, %d failures, %d batch failures, %d dead letters",
			f.lostAnswers.Load(), f.failedBefore.Load(), f.batchFailures, depth)
	}
}

// relErr is |v−x|/|x| (0 when both are 0).
func relErr(v, x float64) float64 {
	if v == x {
		return 0
	}
	return math.Abs(v-x) / math.Abs(x)
}
