package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// genEvent is one generated event and what the test knows of it.
type genEvent struct {
	raw     []byte
	id      string
	typ     string
	source  string
	time    time.Time
	measure map[string]float64
	invalid string // the reason fragment ingest must give, when invalid
	poison  bool
}

var genBase = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// generate makes n realistic events of the three types: every 100th (offset 37) is schema-invalid and every
// 200th (offset 11) is poison: valid, but its subject is quarantined by a processing rule the test arms.
func generate(n int, seed uint64) []genEvent {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sources := []string{"https://shop.example.com/web", "https://shop.example.com/app", "urn:sdp:plant:hamburg:line-3"}
	out := make([]genEvent, n)
	for i := range out {
		g := genEvent{id: fmt.Sprintf("evt-%06d", i), source: sources[i%len(sources)], time: genBase.Add(time.Duration(i) * 47 * time.Millisecond)}
		subject := fmt.Sprintf("subject-%03d", rng.IntN(400))
		if i%200 == 11 {
			g.poison = true
			subject = fmt.Sprintf("poison-%d", i)
		}
		var data string
		switch i % 3 {
		case 0:
			g.typ = "page_view"
			d, s := float64(rng.IntN(120000)), math.Round(rng.Float64()*100)/100
			g.measure = map[string]float64{"duration_ms": d, "scroll_depth": s}
			data = fmt.Sprintf(`{"url":"https://shop.example.com/p/%d","session_id":"s-%d","country":"DE","duration_ms":%d,"scroll_depth":%g}`, rng.IntN(900), rng.IntN(5000), int(d), s)
		case 1:
			g.typ = "purchase"
			q := 1 + rng.IntN(4)
			price := float64(100+rng.IntN(20000)) / 100
			amount := math.Round(price*float64(q)*100) / 100
			g.measure = map[string]float64{"amount": amount, "item_count": float64(q)}
			data = fmt.Sprintf(`{"order_id":"o-%d","currency":"EUR","amount":%g,"item_count":%d,"items":[{"sku":"SKU-%d","quantity":%d,"unit_price":%g}]}`, i, amount, q, rng.IntN(99), q, price)
		case 2:
			g.typ = "sensor_reading"
			v, b := math.Round(rng.NormFloat64()*500)/100+21, float64(rng.IntN(101))
			g.measure = map[string]float64{"value": v, "battery_pct": b}
			data = fmt.Sprintf(`{"device_id":"dev-%d","metric":"temperature","value":%g,"unit":"celsius","battery_pct":%g}`, rng.IntN(50), v, b)
		}
		if i%100 == 37 {
			switch (i / 100) % 3 {
			case 0:
				data = strings.Replace(data, `"`, `"colour":"red","`, 1)
				g.invalid = "additional properties 'colour' not allowed (additionalProperties)"
			case 1:
				g.typ = "click"
				g.invalid = `/type: unknown event type "click"`
			case 2:
				g.invalid = "/time: missing property 'time' (required)"
			}
		}
		timeField := fmt.Sprintf(`"time":%q,`, g.time.Format(time.RFC3339Nano))
		if strings.HasPrefix(g.invalid, "/time") {
			timeField = ""
		}
		g.raw = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":%q,"type":%q,%s"subject":%q,"data":%s}`,
			g.id, g.source, g.typ, timeField, subject, data)
		out[i] = g
	}
	return out
}

// deliveries watches the consumer's invocations: when each record was first delivered, how often, and the
// slowest invocation.
type deliveries struct {
	mu      sync.Mutex
	first   map[string]time.Time
	count   map[string]int
	slowest time.Duration
}

func (d *deliveries) observe(next esm.Function) esm.Function {
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		start := time.Now()
		d.mu.Lock()
		for _, r := range ev.Records {
			seq := r.Kinesis.SequenceNumber
			if _, ok := d.first[seq]; !ok {
				d.first[seq] = start
			}
			d.count[seq]++
		}
		d.mu.Unlock()
		resp, err := next(ctx, ev)
		d.mu.Lock()
		d.slowest = max(d.slowest, time.Since(start))
		d.mu.Unlock()
		return resp, err
	}
}

// TestEndToEnd sends 10,000 events with 1% schema-invalid and 0.5% poison through the whole local
// pipeline: every healthy event is curated exactly once, every poison record reaches the DLQ in an on-failure
// record naming its shard and sequence range, no healthy record waits longer than the retry bound, and the
// aggregates equal the ground truth.
func TestEndToEnd(t *testing.T) {
	runEndToEnd(t, 10000, stackConfig{})
}

// TestEndToEndAWS runs the same pipeline test with the AWS backend: the local runtime (ingest API, event
// source mapping, workflow interpreter) over Kinesis (kinesis-local), DynamoDB and SQS (moto) on 127.0.0.1,
// with 1,000 events (the emulators are much slower than the embedded stand-ins). moto's own Kinesis loses
// records under concurrent PutRecords, so kinesis-local serves the stream.
func TestEndToEndAWS(t *testing.T) {
	runEndToEnd(t, 1000, stackConfig{AWS: emulatorBackend(t, "events")})
}

// emulatorBackend returns an AWS backend over the emulators, with resources named after prefix and a random
// suffix, which the stack creates: the stream on kinesis-local (moto's own Kinesis loses records under
// concurrent PutRecords) with two shards, the tables and the queue on moto.
func emulatorBackend(t *testing.T, prefix string) *awsBackend {
	t.Helper()
	moto := emulator.Require(t, emulator.Moto)
	kin := emulator.Require(t, emulator.KinesisLocal)
	suffix := strings.ToLower(event.NewID()[:8])
	// moto applies concurrent updates of one DynamoDB item without isolation (a transaction copies and may
	// restore the whole table; nested attribute updates read and rewrite the item), where DynamoDB serialises
	// them per item: its requests are sent one at a time, so that the test checks the pipeline, not moto.
	cfg := moto.Config()
	u, err := url.Parse(moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClient = &serialHTTP{host: u.Host, next: awshttp.NewBuildableClient()}
	return &awsBackend{
		Config: cfg, Endpoint: moto.Endpoint, KinesisEndpoint: kin.Endpoint, Create: true, Shards: 2,
		Stream: prefix + "-" + suffix, CuratedTable: prefix + "-curated-" + suffix,
		AggregatesTable: prefix + "-aggregates-" + suffix, Queue: prefix + "-dlq-" + suffix,
	}
}

// serialHTTP sends the requests to host one at a time, and the others as they come.
type serialHTTP struct {
	host string
	next aws.HTTPClient
	mu   sync.Mutex
}

func (c *serialHTTP) Do(r *http.Request) (*http.Response, error) {
	if r.URL.Host != c.host {
		return c.next.Do(r)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp, err := c.next.Do(r)
	if err != nil {
		return nil, err
	}
	// The body is read before the next request goes, so that the exchange is over.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

// runEndToEnd sends n events (n a multiple of 500) through the stack cfg configures, and checks delivery,
// dead letters, retries and aggregates.
func runEndToEnd(t *testing.T, n int, cfg stackConfig) {
	backoffMax := 40 * time.Millisecond
	obs := &deliveries{first: map[string]time.Time{}, count: map[string]int{}}
	var mcfg esm.Config
	// Transient failures of the analytics task, which the workflow's Retry must absorb: one before the
	// function runs, and two after it has counted the facts (a lost answer), whose retries must count nothing
	// twice.
	var analyticsCalls, injected atomic.Int64
	storeDown := messages.InvokeResponse_Error{Type: analytics.ErrorTypeStoreUnavailable, Message: "injected: the aggregates store did not answer"}
	wrap := func(name string, h lambda.Handler) lambda.Handler {
		if name != "analytics" {
			return h
		}
		return lambdaFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
			n := analyticsCalls.Add(1)
			if n%5 != 3 || injected.Load() >= 3 {
				return h.Invoke(ctx, payload)
			}
			if injected.Add(1) == 1 {
				return nil, storeDown
			}
			if _, err := h.Invoke(ctx, payload); err != nil {
				return nil, err
			}
			return nil, storeDown
		})
	}
	cfg.WrapHandler = wrap
	cfg.Rules = []workflow.Rule{{Name: "quarantine-test-subjects", Pointer: "/subject", Prefix: "poison-"}}
	cfg.Mapping = func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 5 * time.Millisecond, Max: backoffMax}
		if cfg.AWS != nil {
			// Smaller batches bisect to a poison record in fewer, cheaper invocations on the slow emulator.
			c.BatchSize = 25
		}
		mcfg = *c
	}
	cfg.Observe = obs.observe
	base, s := startStack(t, cfg)
	gen := generate(n, 42)
	byID := map[string]*genEvent{}
	for i := range gen {
		byID[gen[i].id] = &gen[i]
	}

	// Ingest: 20 bodies of 500, four at a time.
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	rejected := map[string]string{}
	sem := make(chan struct{}, 4)
	for off := 0; off < n; off += 500 {
		wg.Add(1)
		sem <- struct{}{}
		go func(off int) {
			defer wg.Done()
			defer func() { <-sem }()
			var body bytes.Buffer
			body.WriteByte('[')
			for i := off; i < off+500; i++ {
				if i > off {
					body.WriteByte(',')
				}
				body.Write(gen[i].raw)
			}
			body.WriteByte(']')
			status, r := postEvents(t, base, event.ContentTypeBatch, body.Bytes())
			if status != http.StatusMultiStatus && status != http.StatusAccepted {
				t.Errorf("POST at %d: status %d", off, status)
			}
			mu.Lock()
			defer mu.Unlock()
			accepted += r.Accepted
			for _, e := range r.Errors {
				rejected[gen[off+e.Index].id] = e.Reason
				if e.ID != gen[off+e.Index].id {
					t.Errorf("rejection at index %d names id %q, want %q", off+e.Index, e.ID, gen[off+e.Index].id)
				}
			}
		}(off)
	}
	wg.Wait()
	ingested := time.Since(start)

	var healthy, poison, invalid []*genEvent
	for i := range gen {
		switch g := &gen[i]; {
		case g.invalid != "":
			invalid = append(invalid, g)
		case g.poison:
			poison = append(poison, g)
		default:
			healthy = append(healthy, g)
		}
	}
	if len(invalid) != n/100 || len(poison) != n/200 {
		t.Fatalf("generator made %d invalid and %d poison events", len(invalid), len(poison))
	}
	if accepted != n-len(invalid) || len(rejected) != len(invalid) {
		t.Fatalf("accepted %d, rejected %d; want %d and %d", accepted, len(rejected), n-len(invalid), len(invalid))
	}
	for _, g := range invalid {
		if reason := rejected[g.id]; !strings.Contains(reason, g.invalid) {
			t.Errorf("%s rejected with %q, want a reason containing %q", g.id, reason, g.invalid)
		}
	}

	ctx := context.Background()
	var lastCurated, lastDead int
	defer func() {
		if t.Failed() {
			t.Logf("last seen: %d curated (want %d), %d dead letters (want %d); mapping: %+v", lastCurated, len(healthy),
				lastDead, len(poison), s.mapping.Stats())
			for _, g := range healthy {
				if _, ok, err := s.curated.Get(ctx, g.id); !ok || err != nil {
					t.Logf("not curated: %s (%v): %s", g.id, err, g.raw)
				}
			}
		}
	}()
	eventually(t, 3*time.Minute, "all healthy events curated and all poison dead-lettered", func() bool {
		c, err := s.curated.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.dlq.Len(ctx)
		if err != nil {
			t.Fatal(err)
		}
		lastCurated, lastDead = c, d
		return c >= len(healthy) && d >= len(poison)
	})
	drained := time.Since(start)

	// The status counts the curated table locally; with the AWS backend it leaves the count out rather than
	// scan DynamoDB on every poll.
	var status struct{ Curated *int }
	if code := getJSON(t, base+"/v1/status", &status); code != http.StatusOK ||
		(cfg.AWS == nil) != (status.Curated != nil) || (status.Curated != nil && *status.Curated != len(healthy)) {
		t.Errorf("GET /v1/status = %d, curated %v; want the count %d locally, null with the AWS backend", code,
			status.Curated, len(healthy))
	}

	// Exactly once: every healthy event is curated, nothing else is.
	if c, _ := s.curated.Count(ctx); c != len(healthy) {
		t.Errorf("curated %d items, want %d", c, len(healthy))
	}
	var slowestWait, slowestLatency time.Duration
	for _, g := range healthy {
		item, ok, err := s.curated.Get(ctx, g.id)
		if err != nil || !ok {
			t.Fatalf("healthy event %s not curated (%v)", g.id, err)
		}
		obs.mu.Lock()
		first := obs.first[item.SequenceNumber]
		obs.mu.Unlock()
		slowestWait = max(slowestWait, item.CuratedAt.Sub(first))
		slowestLatency = max(slowestLatency, item.CuratedAt.Sub(item.ArrivalTime))
	}
	for _, g := range poison {
		if _, ok, _ := s.curated.Get(ctx, g.id); ok {
			t.Errorf("poison event %s was curated", g.id)
		}
	}

	// Every poison record is covered by exactly one on-failure record of its shard, and no such record
	// covers a healthy one.
	byShard := readStream(ctx, t, s)
	msgs := checkPoisonOnlyDLQ(ctx, t, s, mcfg.StreamARN, byShard, func(id string) bool { return byID[id].poison })
	// The read API shows the same messages, each on-failure record embedded as JSON.
	var dlqAnswer struct {
		Depth    int
		Messages []dlq.Message
	}
	if code := getJSON(t, base+"/v1/dlq?limit=1000", &dlqAnswer); code != http.StatusOK || dlqAnswer.Depth != len(msgs) ||
		len(dlqAnswer.Messages) != len(msgs) || dlqAnswer.Messages[0].ID != msgs[0].ID || !bytes.Equal(dlqAnswer.Messages[0].Body, msgs[0].Body) {
		t.Errorf("GET /v1/dlq = %d, depth %d, %d messages; want the queue's %d", code, dlqAnswer.Depth, len(dlqAnswer.Messages), len(msgs))
	}

	// The retry bound: once delivered, a healthy record waits at most through the bisections of its batch and
	// the retries of the poison records that share the batch, each a backoff and an invocation long.
	bisections := int(math.Ceil(math.Log2(float64(mcfg.BatchSize))))
	maxPoisonPerBatch := 0
	for _, recs := range byShard {
		for i := range recs {
			p := 0
			for j := i; j < len(recs) && j < i+mcfg.BatchSize*mcfg.ParallelizationFactor; j++ {
				if recs[j].poison {
					p++
				}
			}
			maxPoisonPerBatch = max(maxPoisonPerBatch, p)
		}
	}
	attempts := 1 + 2*bisections + maxPoisonPerBatch*(mcfg.MaximumRetryAttempts+1)
	bound := time.Duration(attempts) * (backoffMax + obs.slowest)
	if slowestWait > bound {
		t.Errorf("a healthy record waited %v from its first delivery to curation, over the retry bound %v", slowestWait, bound)
	}
	maxDeliveries := 0
	obs.mu.Lock()
	for _, c := range obs.count {
		maxDeliveries = max(maxDeliveries, c)
	}
	obs.mu.Unlock()
	if maxDeliveries > attempts {
		t.Errorf("a record was delivered %d times, over the retry bound of %d attempts", maxDeliveries, attempts)
	}

	// Aggregates equal the ground truth of the healthy events.
	got := checkAggregates(ctx, t, s, healthy)

	// The injected failures were retried within their executions, which then succeeded.
	if injected.Load() != 3 {
		t.Errorf("%d analytics failures injected, want 3", injected.Load())
	}
	recs, _, err := s.history.List(history.Filter{Limit: 0})
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, sum := range recs {
		rec, err := s.history.Get(sum.Name)
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range rec.Events {
			if ev.Type == "TaskFailed" && ev.Error == analytics.ErrorTypeStoreUnavailable {
				retried++
				if rec.Status != asl.StatusSucceeded || !slices.ContainsFunc(rec.Events[i:], func(e asl.HistoryEvent) bool {
					return e.Type == "TaskSucceeded" && e.RetryCount > 0
				}) {
					t.Errorf("execution %s: the analytics failure was not retried to success: %s", rec.Name, rec.Status)
				}
			}
		}
	}
	if retried != 3 {
		t.Errorf("%d recorded analytics task failures, want the 3 injected", retried)
	}

	t.Logf("%d events ingested in %v (%.0f events/s); pipeline drained %v after the first POST; "+
		"%d curated, %d on-failure records; slowest healthy wait after first delivery %v (bound %v: %d attempts x (backoff %v + slowest invocation %v)); "+
		"most deliveries of one record %d; slowest healthy arrival-to-curated %v; %d windows",
		n, ingested.Round(time.Millisecond), float64(n)/ingested.Seconds(), drained.Round(time.Millisecond),
		len(healthy), len(msgs), slowestWait.Round(time.Millisecond), bound.Round(time.Millisecond), attempts, backoffMax,
		obs.slowest.Round(time.Millisecond), maxDeliveries, slowestLatency.Round(time.Millisecond), len(got))
}
