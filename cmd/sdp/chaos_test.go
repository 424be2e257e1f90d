package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// logLines collects the JSON log lines of a stack, from concurrent writers.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines written so far.
func (l *logLines) lines() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Split(bytes.TrimSuffix(bytes.Clone(l.buf.Bytes()), []byte("\n")), []byte("\n"))
}

// fastClock is the workflow interpreter's clock in the chaos tests: the real time, with the waits between
// retries a hundred times shorter, so that the many retries the faults cause cost milliseconds instead of
// seconds. The interpreter waits on the same clock for the timeouts of tasks (30 s) and executions (120 s);
// those are longer than any Retry interval of the definition (MaxDelaySeconds 8) and are kept.
type fastClock struct{}

func (fastClock) Now() time.Time { return time.Now() }

func (fastClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 8*time.Second {
		d /= 100
	}
	return asl.RealClock.Sleep(ctx, d)
}

// envCount reads a positive event count from the environment variable name, or returns def.
func envCount(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 500 {
		t.Fatalf("%s=%q: a whole number from 500", name, v)
	}
	return n
}

// TestChaos is the reliability acceptance test of local mode: 100,000 events (SDP_CHAOS_EVENTS changes it)
// go through the stack while 20% of the stream's and the table's calls are throttled, 1% of their answers
// are lost after the write, 1% of workflow executions fail and consumer invocations now and then crash after
// their work. The producer retries what was not acknowledged. Then no acknowledged event is lost, no curated
// item is duplicated, the aggregates equal the ground truth, the dead-letter queue holds poison records only,
// every log line is JSON with its correlation fields, and /metrics agrees with what the producer saw.
func TestChaos(t *testing.T) {
	n := envCount(t, "SDP_CHAOS_EVENTS", 100_000)
	if testing.Short() {
		n = 10_000
	}
	runChaos(t, n, "kinesis.throttle=0.2,kinesis.timeout=0.03,table.throttle=0.2,table.timeout=0.01,"+
		"workflow.fail=0.01,consumer.crash=0.005", stackConfig{Shards: 4})
}

// TestChaosAWS runs the chaos test with the AWS backend: the stream on kinesis-local, the tables and the queue
// on moto, with the stream's, the tables' and the queue's faults injected into the AWS SDK's HTTP transport,
// below the SDK's own retries. It sends 1,000 events (SDP_CHAOS_AWS_EVENTS changes it): moto runs each
// DynamoDB transaction by copying its tables, so its time grows with every marker the aggregates keep, and
// 100,000 events would take hours there.
func TestChaosAWS(t *testing.T) {
	n := envCount(t, "SDP_CHAOS_AWS_EVENTS", 1_000)
	// With 1,000 events there are about 50 consumer invocations: failures and crashes are made likelier than
	// in TestChaos so that each happens several times. (The dead-letter queue sees a few calls only; SQS
	// throttling is tested against moto in internal/faults.)
	runChaos(t, n, "kinesis.throttle=0.2,kinesis.timeout=0.01,table.throttle=0.2,table.timeout=0.01,"+
		"workflow.fail=0.15,consumer.crash=0.15", stackConfig{AWS: emulatorBackend(t, "chaos")})
}

// sent is what the producer of a chaos test saw.
type sent struct {
	mu sync.Mutex
	// acked counts the acknowledgements of each event id; rejected holds the final rejections by id.
	acked    map[string]int
	rejected map[string]string
	// accepted and rejections total the answers' accepted and rejected counts, retries included; retryable
	// counts the events the stream did not take (answered retryable).
	accepted, rejections, retryable int
}

// send posts the events in bodies of 500, eight at a time, and sends again every event an answer says to
// retry (the stream did not take it), until every event is acknowledged or finally rejected.
func (p *sent) send(t *testing.T, base string, gen []genEvent) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for off := 0; off < len(gen); off += 500 {
		body := make([]*genEvent, 0, 500)
		for i := off; i < min(off+500, len(gen)); i++ {
			body = append(body, &gen[i])
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for attempt := 1; len(body) > 0; attempt++ {
				if time.Now().After(deadline) {
					t.Errorf("%d events still not acknowledged after 5 minutes", len(body))
					return
				}
				var b bytes.Buffer
				b.WriteByte('[')
				for i, g := range body {
					if i > 0 {
						b.WriteByte(',')
					}
					b.Write(g.raw)
				}
				b.WriteByte(']')
				status, r := postEvents(t, base, event.ContentTypeBatch, b.Bytes())
				if status >= 500 && status != http.StatusServiceUnavailable {
					t.Errorf("POST: status %d: %+v", status, r)
					return
				}
				again := map[int]bool{}
				p.mu.Lock()
				p.accepted += r.Accepted
				p.rejections += r.Rejected
				for _, e := range r.Errors {
					if e.Retryable {
						again[e.Index] = true
						p.retryable++
					} else {
						p.rejected[body[e.Index].id] = e.Reason
					}
				}
				failedAt := map[int]bool{}
				for _, e := range r.Errors {
					failedAt[e.Index] = true
				}
				for i, g := range body {
					if !failedAt[i] {
						p.acked[g.id]++
					}
				}
				p.mu.Unlock()
				next := body[:0:0]
				for i, g := range body {
					if again[i] {
						next = append(next, g)
					}
				}
				body = next
				if len(body) > 0 {
					time.Sleep(time.Duration(attempt) * 5 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

// runChaos sends n events through the stack cfg configures with the faults spec injected, and checks that
// nothing acknowledged is lost or duplicated, that the aggregates are exact, that the DLQ holds poison only,
// and what the logs and the metrics say.
func runChaos(t *testing.T, n int, spec string, cfg stackConfig) {
	sp, err := faults.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	inj := faults.New(sp, 20261126)
	logs := &logLines{}
	cfg.Faults = inj
	// At debug level ingest logs every body and the consumer every batch, so that every stage's lines are
	// checked whatever the faults did.
	cfg.Logger = slog.New(telemetry.NewHandler(logs, telemetry.HandlerOptions{Level: slog.LevelDebug}))
	cfg.WorkflowClock = fastClock{}
	cfg.Rules = []workflow.Rule{{Name: "quarantine-test-subjects", Pointer: "/subject", Prefix: "poison-"}}
	var mcfg esm.Config
	cfg.Mapping = func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 2 * time.Millisecond, Max: 20 * time.Millisecond}
		if cfg.AWS != nil {
			c.BatchSize = 25
		}
		mcfg = *c
	}
	base, s := startStack(t, cfg)
	ctx := context.Background()
	t.Cleanup(func() {
		if t.Failed() {
			lines := logs.lines()
			t.Logf("the last of %d log lines:\n%s", len(lines), bytes.Join(lines[max(0, len(lines)-40):], []byte("\n")))
		}
	})

	gen := generate(n, 11)
	byID := map[string]*genEvent{}
	var healthy, poison, invalid []*genEvent
	for i := range gen {
		g := &gen[i]
		byID[g.id] = g
		switch {
		case g.invalid != "":
			invalid = append(invalid, g)
		case g.poison:
			poison = append(poison, g)
		default:
			healthy = append(healthy, g)
		}
	}

	start := time.Now()
	p := &sent{acked: map[string]int{}, rejected: map[string]string{}}
	p.send(t, base, gen)
	ingested := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}
	// Every valid event was acknowledged (some more than once: an answer lost after the write is a 503, and
	// the retry is acknowledged again), every invalid one rejected with its reason.
	for _, g := range append(append([]*genEvent{}, healthy...), poison...) {
		if p.acked[g.id] == 0 {
			t.Fatalf("valid event %s was never acknowledged", g.id)
		}
	}
	for _, g := range invalid {
		if reason := p.rejected[g.id]; !strings.Contains(reason, g.invalid) {
			t.Errorf("%s rejected with %q, want a reason containing %q", g.id, reason, g.invalid)
		}
	}

	// Drained: the mapping has checkpointed the last record of every shard.
	var byShard map[string][]located
	eventually(t, 8*time.Minute, "the mapping checkpointed every shard's last record", func() bool {
		byShard = readStream(ctx, t, s)
		done := map[string]string{}
		for _, st := range s.mapping.Stats() {
			done[st.ShardID] = st.Checkpoint
		}
		for shard, recs := range byShard {
			if done[shard] != recs[len(recs)-1].seq {
				return false
			}
		}
		return true
	})
	drained := time.Since(start)
	// The faults end here: the checks read the final state of the stores, not their throttles.
	inj.Stop()
	records := 0
	for _, recs := range byShard {
		records += len(recs)
	}

	// Nothing acknowledged is lost and nothing is curated twice: the curated table holds each healthy event
	// once, and nothing else.
	seen := map[string]int{}
	if err := s.curated.Scan(ctx, func(c event.Curated) bool {
		seen[c.ID]++
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for id, k := range seen {
		if g := byID[id]; g == nil || g.poison || g.invalid != "" || k != 1 {
			t.Errorf("curated item %s (seen %d times) is not one healthy event", id, k)
		}
	}
	for _, g := range healthy {
		if seen[g.id] != 1 {
			t.Errorf("acknowledged event %s is not curated", g.id)
		}
	}
	if c, err := s.curated.Count(ctx); err != nil || c != len(healthy) {
		t.Errorf("curated count %d (%v), want %d", c, err, len(healthy))
	}
	msgs := checkPoisonOnlyDLQ(ctx, t, s, mcfg.StreamARN, byShard, func(id string) bool { return byID[id].poison })
	checkAggregates(ctx, t, s, healthy)

	// Every configured fault happened.
	injected := inj.Injected()
	for point := range sp {
		if injected[point] == 0 {
			t.Errorf("fault %s never injected (%v)", point, injected)
		}
	}
	checkChaosLogs(t, logs.lines())
	checkChaosMetrics(t, base, p, len(invalid), len(msgs), len(healthy))

	t.Logf("%d events (%d healthy, %d poison, %d invalid): acknowledged in %v with %d retried for the stream; "+
		"drained %v after the first POST; %d stream records (%d over the events acknowledged, from answers lost after the write); "+
		"%d curated, %d dead letters; faults injected %v; %d log lines",
		n, len(healthy), len(poison), len(invalid), ingested.Round(time.Millisecond), p.retryable,
		drained.Round(time.Millisecond), records, records-len(healthy)-len(poison), len(seen), len(msgs), injected,
		len(logs.lines()))
}

// checkChaosLogs checks every log line of a chaos run: JSON with a timestamp, a level and a message, no event
// payload in it, and each stage's correlation fields on the lines of that stage. Each stage must have logged.
func checkChaosLogs(t *testing.T, lines [][]byte) {
	t.Helper()
	need := map[string][]string{
		"ingest":   {telemetry.KeyRequestID, telemetry.KeyFunction, telemetry.KeyColdStart, telemetry.KeyTraceID},
		"consumer": {telemetry.KeyRequestID, telemetry.KeyFunction, telemetry.KeyColdStart, telemetry.KeyTraceID, telemetry.KeyShard, telemetry.KeyFirstSeq, telemetry.KeyLastSeq},
		"mapping":  {telemetry.KeyShard, telemetry.KeyFirstSeq, telemetry.KeyLastSeq},
	}
	counts := map[string]int{}
	bad := 0
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("log line is not JSON (%v): %s", err, line)
			continue
		}
		msg, _ := m["message"].(string)
		if _, ok := m["timestamp"].(string); !ok || m["level"] == nil || msg == "" {
			t.Errorf("log line without timestamp, level or message: %s", line)
		}
		if bytes.Contains(line, []byte("specversion")) {
			t.Errorf("log line carries an event payload: %s", line)
		}
		var stage string
		switch {
		case strings.HasPrefix(msg, "ingest:"):
			stage = "ingest"
		case strings.HasPrefix(msg, "consumer:"):
			stage = "consumer"
		case msg == "batch failed" || msg == "discarding records" || msg == "bisecting failed batch":
			stage = "mapping"
		default:
			continue
		}
		counts[stage]++
		keys := need[stage]
		if msg == "consumer: execution failed" {
			// A line about one execution names its batch as well.
			keys = append(slices.Clip(keys), telemetry.KeyBatchID)
		}
		for _, k := range keys {
			if v, ok := m[k]; !ok || v == "" {
				if bad++; bad <= 10 {
					t.Errorf("%s log line lacks %s: %s", stage, k, line)
				}
			}
		}
		if fn := m[telemetry.KeyFunction]; (stage == "ingest" || stage == "consumer") && fn != stage {
			t.Errorf("%s log line names function %v: %s", stage, fn, line)
		}
	}
	for stage := range need {
		if counts[stage] == 0 {
			t.Errorf("no %s log line among %d lines: the faults should have made some", stage, len(lines))
		}
	}
	t.Logf("log lines checked: %d (by stage %v)", len(lines), counts)
}

// checkChaosMetrics scrapes /metrics, parses it as Prometheus text, and checks it against what the producer
// saw: events accepted and rejected (by reason), dead letters, and that retries, partial failures, batch
// sizes, workflow durations, curated writes and end-to-end latencies were recorded.
func checkChaosMetrics(t *testing.T, base string, p *sent, invalid, deadLetters, healthy int) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	// value sums a family's samples whose labels include want: counters' values, histograms' counts.
	value := func(name string, want map[string]string) float64 {
		f := families[name]
		if f == nil {
			t.Errorf("/metrics has no %s", name)
			return 0
		}
		var total float64
	metric:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if !hasLabel(m, k, v) {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return total
	}
	p.mu.Lock()
	accepted, rejections, retryable := p.accepted, p.rejections, p.retryable
	p.mu.Unlock()
	if got := value("sdp_events_accepted_total", map[string]string{"function": "ingest"}); got != float64(accepted) {
		t.Errorf("sdp_events_accepted_total = %v, the producer was told %d", got, accepted)
	}
	if got := value("sdp_events_rejected_total", nil); got != float64(rejections) {
		t.Errorf("sdp_events_rejected_total = %v, the producer was told %d", got, rejections)
	}
	schema := value("sdp_events_rejected_total", map[string]string{"reason": "invalid"}) +
		value("sdp_events_rejected_total", map[string]string{"reason": "unknown_type"})
	if schema != float64(invalid) {
		t.Errorf("rejections for schema reasons = %v, want the %d invalid events", schema, invalid)
	}
	stream := value("sdp_events_rejected_total", map[string]string{"reason": "throttled"}) +
		value("sdp_events_rejected_total", map[string]string{"reason": "stream_error"})
	if stream != float64(retryable) {
		t.Errorf("rejections by the stream = %v, the producer was told %d", stream, retryable)
	}
	if got := value("sdp_dlq_writes_total", nil); got != float64(deadLetters) {
		t.Errorf("sdp_dlq_writes_total = %v, the DLQ holds %d", got, deadLetters)
	}
	for name, least := range map[string]float64{
		"sdp_retries_total": 1, "sdp_partial_failures_total": 1, "sdp_batch_size": 1,
		"sdp_workflow_duration": 1, "sdp_curated_total": float64(healthy),
		"sdp_end_to_end_latency": float64(healthy),
	} {
		if got := value(name, nil); got < least {
			t.Errorf("%s = %v, want at least %v", name, got, least)
		}
	}
	t.Logf("/metrics: %d families; accepted %d, rejected %d (%d by the stream), %d dead letters", len(families),
		accepted, rejections, retryable, deadLetters)
}

// hasLabel reports whether m has the label name=value.
func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return false
}
