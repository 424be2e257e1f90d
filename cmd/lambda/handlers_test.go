package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream/consumer"
	"github.com/serverless-data-platform/sdp/workflow"
)

// testConfig is an aws.Config with static credentials and a region; nothing comes from the environment.
func testConfig() aws.Config {
	return aws.Config{Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, "secret", "")}
}

// fakeProducer takes every record, numbering them.
type fakeProducer struct {
	mu   sync.Mutex
	recs []event.Record
}

// PutRecords takes every record.
func (p *fakeProducer) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	res := make([]event.PutResult, len(recs))
	for i := range recs {
		p.recs = append(p.recs, recs[i])
		res[i] = event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: strconv.Itoa(len(p.recs))}
	}
	return res, nil
}

// permanentError is a store error that a retry cannot fix.
type permanentError struct{ error }

// Permanent reports that a retry cannot help.
func (permanentError) Permanent() bool { return true }

// fakeCurated is a curated store that fails with err, or takes everything.
type fakeCurated struct{ err error }

// Put fails with s.err, or takes the items.
func (s fakeCurated) Put(context.Context, []event.Curated) error { return s.err }

// fakeAggregates is an aggregates store that fails with err, or counts every fact.
type fakeAggregates struct{ err error }

// Apply counts every fact, or fails with s.err.
func (s fakeAggregates) Apply(_ context.Context, facts []event.Fact) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	return len(facts), nil
}

// Query finds nothing.
func (s fakeAggregates) Query(context.Context, analytics.Query) ([]analytics.Window, error) {
	return nil, nil
}

// recorder records the resource names the adapter constructors were given.
type recorder struct {
	mu    sync.Mutex
	names []string
}

func (r *recorder) add(kind, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, kind+"="+name)
}

// testDeps returns deps over the fakes, recording into rec; curatedErr and aggregatesErr are the stores'
// errors.
func testDeps(rec *recorder, prod ingest.Producer, curatedErr, aggregatesErr error) deps {
	return deps{
		loadConfig: func(context.Context) (aws.Config, error) { return testConfig(), nil },
		newProducer: func(_ aws.Config, stream string, _ *slog.Logger) (ingest.Producer, error) {
			rec.add("stream", stream)
			return prod, nil
		},
		newCuratedStore: func(_ aws.Config, table string, _ *slog.Logger) (workflow.Store, error) {
			rec.add("curated", table)
			return fakeCurated{err: curatedErr}, nil
		},
		newAggregatesStore: func(_ aws.Config, table string, w analytics.Windowing, _ *slog.Logger) (analytics.Store, error) {
			rec.add("aggregates", table)
			rec.add("windowing", w.Size.String()+"+"+w.AllowedLateness.String())
			return fakeAggregates{err: aggregatesErr}, nil
		},
		newExportTarget: func(_ aws.Config, s settings) export.Target {
			rec.add("bucket", s.ExportBucket)
			return newMemTarget()
		},
	}
}

// discard is a logger that writes nothing.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestNewHandlerErrors checks that a function that cannot be built says why, naming the setting it lacks.
func TestNewHandlerErrors(t *testing.T) {
	t.Parallel()
	configErr := errors.New("no region")
	tests := []struct {
		name string
		s    settings
		// failConfig makes loading the AWS configuration fail.
		failConfig bool
		wantErr    string
	}{
		{name: "no handler", s: settings{}, wantErr: "_HANDLER is not set"},
		{name: "unknown handler", s: settings{Handler: "bootstrap"}, wantErr: `unknown handler "bootstrap"`},
		{name: "ingest without stream", s: settings{Handler: "ingest"}, wantErr: "the ingest function needs EVENT_STREAM"},
		{name: "consumer without workflow", s: settings{Handler: "consumer"}, wantErr: "the consumer function needs WORKFLOW_ARN"},
		{name: "persist without table", s: settings{Handler: "persist"}, wantErr: "the persist function needs CURATED_TABLE"},
		{name: "analytics without table", s: settings{Handler: "analytics"}, wantErr: "the analytics function needs AGGREGATES_TABLE"},
		{name: "analytics with a bad window size", s: settings{Handler: "analytics", AggregatesTable: "t", WindowSize: "7m"},
			wantErr: "the analytics function: SDP_WINDOW_SIZE"},
		{name: "export without table", s: settings{Handler: "export", ExportBucket: "b"}, wantErr: "the export function needs AGGREGATES_TABLE"},
		{name: "export without bucket", s: settings{Handler: "export", AggregatesTable: "t"}, wantErr: "the export function needs SDP_EXPORT_BUCKET"},
		{name: "export with a bad lateness", s: settings{Handler: "export", AggregatesTable: "t", ExportBucket: "b", AllowedLateness: "soon"},
			wantErr: "SDP_ALLOWED_LATENESS"},
		{name: "export with a bad horizon", s: settings{Handler: "export", AggregatesTable: "t", ExportBucket: "b", ExportLateHorizon: "-1h"},
			wantErr: "SDP_EXPORT_LATE_HORIZON"},
		{name: "export with a bad prefix", s: settings{Handler: "export", AggregatesTable: "t", ExportBucket: "b", ExportPrefix: "a/../b"},
			wantErr: "SDP_EXPORT_PREFIX"},
		{name: "enrich with a bad rule", s: settings{Handler: "enrich", ProcessingRules: "bad"}, wantErr: "PROCESSING_RULES"},
		{name: "enrich with bad reference data", s: settings{Handler: "enrich", ReferenceData: "{"}, wantErr: "REFERENCE_DATA"},
		{
			name: "consumer without AWS configuration", s: settings{Handler: "consumer", WorkflowARN: testWorkflowARN},
			failConfig: true, wantErr: "the consumer function: loading the AWS configuration: no region",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := testDeps(&recorder{}, &fakeProducer{}, nil, nil)
			if tt.failConfig {
				d.loadConfig = func(context.Context) (aws.Config, error) { return aws.Config{}, configErr }
			}
			h, err := newHandler(t.Context(), tt.s, d, discard())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("newHandler(%+v) = %v, %v; want an error containing %q", tt.s, h, err, tt.wantErr)
			}
			if tt.failConfig && !errors.Is(err, configErr) {
				t.Errorf("error %v does not wrap the configuration error", err)
			}
		})
	}
}

// TestAdapters checks the adapter constructors of adapters.go: each builds its AWS adapter without I/O from
// a resource name (or a stream ARN), and refuses an empty one naming its function.
func TestAdapters(t *testing.T) {
	t.Parallel()
	d := awsDeps()
	const streamARN = "arn:aws:kinesis:us-east-1:123456789012:stream/sdp-EventStream-1"
	tests := []struct {
		name  string
		build func() (any, error)
		// wantType is the adapter's type (%T); wantErr is in the error when the constructor must fail.
		wantType, wantErr string
	}{
		{name: "kinesis producer by name", wantType: "*kinesis.Producer", build: func() (any, error) {
			return d.newProducer(testConfig(), "sdp-EventStream-1", discard())
		}},
		{name: "kinesis producer by ARN", wantType: "*kinesis.Producer", build: func() (any, error) {
			return d.newProducer(testConfig(), streamARN, discard())
		}},
		{name: "kinesis producer without stream", wantErr: "the ingest function: the Kinesis producer", build: func() (any, error) {
			return d.newProducer(testConfig(), "", discard())
		}},
		{name: "curated store", wantType: "*dynamo.Table", build: func() (any, error) {
			return d.newCuratedStore(testConfig(), "sdp-Curated", discard())
		}},
		{name: "curated store without table", wantErr: "the persist function needs CURATED_TABLE", build: func() (any, error) {
			return d.newCuratedStore(testConfig(), "", discard())
		}},
		{name: "aggregates store", wantType: "*dynamo.Store", build: func() (any, error) {
			return d.newAggregatesStore(testConfig(), "sdp-Aggregates", analytics.Windowing{}, discard())
		}},
		{name: "aggregates store without table", wantErr: "the analytics function needs AGGREGATES_TABLE", build: func() (any, error) {
			return d.newAggregatesStore(testConfig(), "", analytics.Windowing{}, discard())
		}},
		{name: "export bucket", wantType: "*export.Bucket", build: func() (any, error) {
			return d.newExportTarget(testConfig(), settings{ExportBucket: "sdp-exports", S3Endpoint: "http://127.0.0.1:1"}), nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := tt.build()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("error = %v, want the adapter", err)
			}
			if got := fmt.Sprintf("%T", a); got != tt.wantType {
				t.Errorf("adapter of type %s, want %s", got, tt.wantType)
			}
		})
	}
}

// invoke calls h as the runtime does: it type-asserts a function error to messages.InvokeResponse_Error.
func invoke(t *testing.T, h lambda.Handler, payload string) (out []byte, errType string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err = h.Invoke(ctx, []byte(payload))
	if ive, ok := err.(messages.InvokeResponse_Error); ok { //nolint:errorlint // the runtime asserts the type
		errType = ive.Type
	}
	return out, errType, err
}

// TestHandlersInvoke builds ingest, persist and analytics over fake adapters and invokes them. Store errors
// must reach the runtime as messages.InvokeResponse_Error values, so that the workflow's Retry sees their type.
func TestHandlersInvoke(t *testing.T) {
	t.Parallel()
	storeDown := errors.New("table unavailable")
	const persistInput = `{"batchId":"b-1","items":[{"id":"e-1","type":"purchase","source":"s","time":"2026-11-26T09:16:11Z",` +
		`"shardId":"shardId-000000000001","sequenceNumber":"1","arrivalTime":"2026-11-26T09:16:12Z"}]}`
	const factsInput = `{"batchId":"b-1","events":[{"id":"e-1","type":"purchase","source":"s","time":"2026-11-26T09:16:11Z"},` +
		`{"id":"e-2","type":"purchase","source":"s","time":"2026-11-26T09:16:12Z"}]}`
	sample := `[{"specversion":"1.0","id":"e-1","source":"https://shop.example.com/web","type":"page_view",` +
		`"time":"2026-11-26T09:15:02Z","data":{"url":"https://shop.example.com/","session_id":"s-1"}},{"id":"bad"}]`
	tests := []struct {
		name          string
		s             settings
		curatedErr    error
		aggregatesErr error
		payload       string
		// wantOut must be in the output; wantErrType is the runtime's error type when the call fails.
		wantOut     string
		wantErrType string
		// wantNames are the resources given to the adapter constructors.
		wantNames string
	}{
		{
			name: "ingest direct invocation", s: settings{Handler: "ingest", EventStream: "sdp-EventStream-1"},
			payload: sample, wantOut: `"accepted":1,"rejected":1`, wantNames: "stream=sdp-EventStream-1",
		},
		{
			name: "persist writes the batch", s: settings{Handler: "persist", CuratedTable: "sdp-Curated"},
			payload: persistInput, wantOut: `{"written":1}`, wantNames: "curated=sdp-Curated",
		},
		{
			name: "persist store unavailable", s: settings{Handler: "persist", CuratedTable: "sdp-Curated"},
			curatedErr: storeDown, payload: persistInput, wantErrType: workflow.ErrorTypeStoreUnavailable,
			wantNames: "curated=sdp-Curated",
		},
		{
			name: "persist item the table refuses", s: settings{Handler: "persist", CuratedTable: "sdp-Curated"},
			curatedErr: fmt.Errorf("item 0: %w", permanentError{errors.New("too large")}), payload: persistInput,
			wantErrType: workflow.ErrorTypeInvalidItem, wantNames: "curated=sdp-Curated",
		},
		{
			name: "analytics counts the facts", s: settings{Handler: "analytics", AggregatesTable: "sdp-Aggregates"},
			payload: factsInput, wantOut: `"applied":2`, wantNames: "aggregates=sdp-Aggregates,windowing=1m0s+5m0s",
		},
		{
			name: "analytics store unavailable", s: settings{Handler: "analytics", AggregatesTable: "sdp-Aggregates"},
			aggregatesErr: storeDown, payload: factsInput, wantErrType: analytics.ErrorTypeStoreUnavailable,
			wantNames: "aggregates=sdp-Aggregates,windowing=1m0s+5m0s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h, err := newHandler(t.Context(), tt.s, testDeps(rec, &fakeProducer{}, tt.curatedErr, tt.aggregatesErr), discard())
			if err != nil {
				t.Fatalf("newHandler: %v", err)
			}
			if got := strings.Join(rec.names, ","); got != tt.wantNames {
				t.Errorf("adapters built for %q, want %q", got, tt.wantNames)
			}
			out, errType, err := invoke(t, h, tt.payload)
			if tt.wantErrType != "" {
				if errType != tt.wantErrType {
					t.Fatalf("Invoke error = %T %v (type %q), want an InvokeResponse_Error of type %q", err, err, errType, tt.wantErrType)
				}
				return
			}
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("Invoke = %s, want %s in it", out, tt.wantOut)
			}
		})
	}
}

// TestConsumerHandler runs the consumer on the Kinesis fixture against a Step Functions server.
func TestConsumerHandler(t *testing.T) {
	t.Parallel()
	srv := newFakeSFN(t)
	s := settings{Handler: "consumer", WorkflowARN: testWorkflowARN, SFNEndpoint: srv.URL()}
	h, err := newHandler(t.Context(), s, testDeps(&recorder{}, nil, nil, nil), discard())
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	out, _, err := invoke(t, h, string(readFixture(t, kinesisFixture)))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	checkConsumerResponse(t, out)
	srv.checkRequests(t)

	// A payload that is not a Kinesis event fails the whole batch.
	if _, _, err := invoke(t, h, `{"Records": "none"}`); err == nil || !strings.Contains(err.Error(), "not a Kinesis event") {
		t.Errorf("Invoke of a bad payload = %v, want an error saying it is not a Kinesis event", err)
	}
}

// TestEnrichHandler runs the enrich function on the enrich fixture.
func TestEnrichHandler(t *testing.T) {
	t.Parallel()
	s := settings{Handler: "enrich", ProcessingRules: testRules, ReferenceData: testReference}
	h, err := newHandler(t.Context(), s, deps{}, discard())
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	out, _, err := invoke(t, h, string(readFixture(t, enrichFixture)))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	checkEnrichOutput(t, out)
}

// TestKinesisFixtureShape checks that the consumer's own payload decoder reads the fixture as the
// aws-lambda-go event type does: base64 data, partition keys and arrival times in epoch seconds.
func TestKinesisFixtureShape(t *testing.T) {
	t.Parallel()
	payload := readFixture(t, kinesisFixture)
	var typed events.KinesisEvent
	if err := json.Unmarshal(payload, &typed); err != nil || len(typed.Records) != 3 {
		t.Fatalf("fixture has %d records (%v), want 3", len(typed.Records), err)
	}
	var inputs []event.Batch
	wf := workflowFunc(func(_ context.Context, in []byte) ([]byte, error) {
		var b event.Batch
		if err := json.Unmarshal(in, &b); err != nil {
			return nil, err
		}
		inputs = append(inputs, b)
		return []byte(`{"processed":2,"failed":[]}`), nil
	})
	out, _, err := invoke(t, consumer.New(wf), string(payload))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	// The third record's data is not JSON: the consumer fails it itself.
	if want := `{"batchItemFailures":[{"itemIdentifier":"` + seq3 + `"}]}`; string(out) != want {
		t.Errorf("response = %s, want %s", out, want)
	}
	if len(inputs) != 1 || len(inputs[0].Items) != 2 {
		t.Fatalf("executions = %+v, want one with the two JSON records", inputs)
	}
	for i, it := range inputs[0].Items {
		r := typed.Records[i]
		got := fmt.Sprintf("%s %s %s %d", it.SequenceNumber, it.PartitionKey, it.Event, it.ArrivalTime.UnixMilli())
		want := fmt.Sprintf("%s %s %s %d", r.Kinesis.SequenceNumber, r.Kinesis.PartitionKey, r.Kinesis.Data,
			r.Kinesis.ApproximateArrivalTimestamp.UnixMilli())
		if got != want {
			t.Errorf("item %d = %s\nwant %s", i, got, want)
		}
	}
}

// workflowFunc adapts a function to consumer.Workflow.
type workflowFunc func(ctx context.Context, input []byte) ([]byte, error)

func (f workflowFunc) Execute(ctx context.Context, input []byte) ([]byte, error) {
	return f(ctx, input)
}
