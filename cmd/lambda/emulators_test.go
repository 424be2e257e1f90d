//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/serverless-data-platform/sdp/analytics"
	adyn "github.com/serverless-data-platform/sdp/analytics/dynamo"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/store/dynamo"
)

// The SDK's per-service endpoint variables, with which the functions under the Runtime Interface Emulator
// reach the AWS API emulators.
const (
	envKinesisEndpoint  = "AWS_ENDPOINT_URL_KINESIS"
	envDynamoDBEndpoint = "AWS_ENDPOINT_URL_DYNAMODB"
)

// Fixtures shared with the rest of the repository, relative to this package.
const (
	// sampleEvents is a JSON array of five valid CloudEvents (a direct invocation of ingest).
	sampleEvents = "../../events/sample.json"
	// apiGatewayEvent is an API Gateway HTTP API request (payload format 2.0) posting the same five events.
	apiGatewayEvent = "../../events/apigateway-v2.json"
)

// Bounds of the waits on the AWS API emulators.
const (
	// createTimeout bounds the creation of a stream or a table, until it is ACTIVE.
	createTimeout = 30 * time.Second
	// readTimeout bounds the reading of a stream's records.
	readTimeout = 15 * time.Second
)

// readRepoFile returns the content of a file of the repository, by its path relative to this package.
func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// sampleKeys returns the partition key (the subject, or else the id) of each event of sampleEvents, by id.
func sampleKeys(t *testing.T) map[string]string {
	t.Helper()
	var evs []struct{ ID, Subject string }
	if err := json.Unmarshal(readRepoFile(t, sampleEvents), &evs); err != nil {
		t.Fatalf("%s: %v", sampleEvents, err)
	}
	keys := make(map[string]string, len(evs))
	for _, e := range evs {
		keys[e.ID] = e.Subject
		if e.Subject == "" {
			keys[e.ID] = e.ID
		}
	}
	return keys
}

// uniqueName returns a stream or table name no other test uses.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:12])
}

// kinesisClient returns a Kinesis client of the emulator srv.
func kinesisClient(srv *emulator.Server) *awskinesis.Client {
	return awskinesis.NewFromConfig(srv.Config(), func(o *awskinesis.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
}

// dynamoClient returns a DynamoDB client of the emulator srv.
func dynamoClient(srv *emulator.Server) *dynamodb.Client {
	return dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
}

// createStream creates a stream of two shards on the Kinesis emulator and waits until it is ACTIVE.
func createStream(t *testing.T, api *awskinesis.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), createTimeout)
	defer cancel()
	if _, err := api.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	w := awskinesis.NewStreamExistsWaiter(api, func(o *awskinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String(name)}, createTimeout); err != nil {
		t.Fatalf("create stream %s: wait until active: %v", name, err)
	}
}

// streamRecords reads the stream's records from the start of each of its shards until it has read want of
// them, and returns their partition keys by event id (the "id" member of their JSON data). It fails the test
// when fewer arrive within readTimeout, or when a record is not a CloudEvent.
func streamRecords(t *testing.T, api *awskinesis.Client, name string, want int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	shards, err := api.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("list shards of %s: %v", name, err)
	}
	iters := make([]*string, 0, len(shards.Shards))
	for _, s := range shards.Shards {
		it, err := api.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(name),
			ShardId: s.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatalf("shard iterator of %s/%s: %v", name, aws.ToString(s.ShardId), err)
		}
		iters = append(iters, it.ShardIterator)
	}
	got := map[string]string{}
	n := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, it := range iters {
			if it == nil {
				continue
			}
			out, err := api.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it})
			if err != nil {
				t.Fatalf("get records of %s: %v (%d of %d read)", name, err, n, want)
			}
			for _, r := range out.Records {
				var ev struct{ ID string }
				if err := json.Unmarshal(r.Data, &ev); err != nil || ev.ID == "" {
					t.Fatalf("record %s of %s is not a CloudEvent: %q (%v)", aws.ToString(r.SequenceNumber), name, r.Data, err)
				}
				got[ev.ID] = aws.ToString(r.PartitionKey)
				n++
			}
			iters[i] = out.NextShardIterator
		}
		if n >= want {
			if n != len(got) {
				t.Errorf("stream %s holds %d records for %d event ids", name, n, len(got))
			}
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: %d of %d records within %v", name, n, want, readTimeout)
		case <-tick.C:
		}
	}
}

// checkStream checks that the stream holds exactly the events of sampleEvents, each with its partition key.
func checkStream(t *testing.T, srv *emulator.Server, name string) {
	t.Helper()
	want := sampleKeys(t)
	got := streamRecords(t, kinesisClient(srv), name, len(want))
	if len(got) != len(want) {
		t.Errorf("stream %s holds events %v, want %v", name, got, want)
	}
	for id, pk := range want {
		if g, ok := got[id]; !ok || g != pk {
			t.Errorf("stream %s: event %s with partition key %q (present %t), want %q", name, id, g, ok, pk)
		}
	}
}

// setupContext bounds the creation of a stream or a table on an emulator.
func setupContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), createTimeout)
	t.Cleanup(cancel)
	return ctx
}

// streamSetup creates a fresh stream on kinesis-local and returns the ingest function's settings for it.
func streamSetup(t *testing.T) map[string]string {
	t.Helper()
	srv := emulator.Require(t, emulator.KinesisLocal)
	name := uniqueName("sdp-rie-events")
	createStream(t, kinesisClient(srv), name)
	return map[string]string{envEventStream: name, envKinesisEndpoint: srv.Endpoint}
}

// curatedSetup returns the persist function's settings for a fresh table on dynalite, created when create is
// set.
func curatedSetup(t *testing.T, create bool) map[string]string {
	t.Helper()
	srv := emulator.Require(t, emulator.Dynalite)
	name := uniqueName("sdp-rie-curated")
	if create {
		if err := dynamo.CreateTable(setupContext(t), dynamoClient(srv), name); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{envCuratedTable: name, envDynamoDBEndpoint: srv.Endpoint}
}

// aggregatesSetup returns the analytics function's settings for a fresh table on moto (the store writes with
// TransactWriteItems, which dynalite lacks), created when create is set. The allowed lateness is a century,
// so that the fixture's windows are open whenever the test runs.
func aggregatesSetup(t *testing.T, create bool) map[string]string {
	t.Helper()
	srv := emulator.Require(t, emulator.Moto)
	name := uniqueName("sdp-rie-aggregates")
	if create {
		if err := adyn.CreateTable(setupContext(t), dynamoClient(srv), name); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{envAggregatesTable: name, envDynamoDBEndpoint: srv.Endpoint, envAllowedLateness: "876000h"}
}

// persistItems are the curated events of persistPayload.
func persistItems() []event.Curated {
	base := time.Date(2026, 11, 26, 9, 16, 11, 500e6, time.UTC)
	return []event.Curated{
		{
			ID: "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0003", Type: "purchase", Source: "https://shop.example.com/checkout",
			Subject: "customer-88213", Time: base,
			Data:     json.RawMessage(`{"order_id":"ord-2026-118842","currency":"EUR","amount":189.9,"item_count":2}`),
			Enriched: map[string]any{"amount_usd": 205.09, "currency_name": "Euro"},
			ShardID:  "shardId-000000000001", SequenceNumber: seq1, ArrivalTime: base.Add(300 * time.Millisecond),
		},
		{
			ID: "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0004", Type: "sensor_reading", Source: "urn:sdp:plant:hamburg:line-3",
			Subject: "device-ht-0042", Time: base.Add(18500 * time.Millisecond),
			Data:    json.RawMessage(`{"device_id":"device-ht-0042","metric":"temperature","value":21.7}`),
			ShardID: "shardId-000000000001", SequenceNumber: seq2, ArrivalTime: base.Add(19 * time.Second),
		},
	}
}

// persistPayload is the persist function's input for persistItems, as the workflow's Persist state sends it.
func persistPayload(t *testing.T) []byte {
	b, err := json.Marshal(workflow.PersistInput{BatchID: "shardId-000000000001:" + seq1 + "-" + seq2, Items: persistItems()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkCurated checks that the table holds persistItems, each as it was sent and stamped with a CuratedAt.
func checkCurated(t *testing.T, table string) {
	t.Helper()
	store := dynamo.New(dynamoClient(emulator.Require(t, emulator.Dynalite)), table)
	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	for _, want := range persistItems() {
		got, ok, err := store.Get(ctx, want.ID)
		if err != nil || !ok {
			t.Fatalf("item %s of table %s: found %t, %v", want.ID, table, ok, err)
		}
		if got.Type != want.Type || got.Source != want.Source || got.Subject != want.Subject ||
			!got.Time.Equal(want.Time) || got.ShardID != want.ShardID || got.SequenceNumber != want.SequenceNumber ||
			!got.ArrivalTime.Equal(want.ArrivalTime) || got.CuratedAt.IsZero() {
			t.Errorf("item %s = %+v, want %+v with a CuratedAt", want.ID, got, want)
		}
		if !sameJSON(t, got.Data, want.Data) {
			t.Errorf("item %s data = %s, want %s", want.ID, got.Data, want.Data)
		}
		if fmt.Sprint(got.Enriched) != fmt.Sprint(want.Enriched) {
			t.Errorf("item %s enriched = %v, want %v", want.ID, got.Enriched, want.Enriched)
		}
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// factsTime is the start of the minute the facts of factsPayload fall in.
var factsTime = time.Date(2026, 11, 26, 9, 16, 0, 0, time.UTC)

// factsPayload is the analytics function's input: three facts, two purchases of one source in one minute and
// a sensor reading, as the workflow's Analytics state sends them.
func factsPayload(t *testing.T) []byte {
	b, err := json.Marshal(event.FactBatch{BatchID: "shardId-000000000001:" + seq1 + "-" + seq3, Events: []event.Fact{
		{ID: "f-1", Type: "purchase", Source: "https://shop.example.com/checkout", Time: factsTime.Add(11 * time.Second),
			Measures: map[string]float64{"amount": 189.9, "item_count": 2}},
		{ID: "f-2", Type: "purchase", Source: "https://shop.example.com/checkout", Time: factsTime.Add(42 * time.Second),
			Measures: map[string]float64{"amount": 10.1, "item_count": 1}},
		{ID: "f-3", Type: "sensor_reading", Source: "urn:sdp:plant:hamburg:line-3", Time: factsTime.Add(30 * time.Second),
			Measures: map[string]float64{"value": 21.7}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAggregates checks the purchases' window of factsPayload in the table: each fact counted once.
func checkAggregates(t *testing.T, table string) {
	t.Helper()
	store := adyn.New(dynamoClient(emulator.Require(t, emulator.Moto)), table)
	ctx, cancel := context.WithTimeout(t.Context(), readTimeout)
	defer cancel()
	ws, err := store.Query(ctx, analytics.Query{Type: "purchase", Source: "https://shop.example.com/checkout"})
	if err != nil {
		t.Fatalf("query table %s: %v", table, err)
	}
	if len(ws) != 1 || !ws[0].Start.Equal(factsTime) || ws[0].Count != 2 {
		t.Fatalf("windows %+v, want one of count 2 starting %v", ws, factsTime)
	}
	if amount := ws[0].Measures["amount"]; math.Abs(amount.Sum-200) > 1e-9 || amount.Min != 10.1 ||
		amount.Max != 189.9 || amount.Count != 2 {
		t.Errorf("amount = %+v, want sum 200, min 10.1, max 189.9, count 2", amount)
	}
}

// functionError returns the type and message of the function error the emulator answered with.
func functionError(t *testing.T, status int, body []byte) (typ, msg string) {
	t.Helper()
	wantStatus(t, status, body, http.StatusOK)
	var fe struct{ ErrorMessage, ErrorType string }
	if err := json.Unmarshal(body, &fe); err != nil || fe.ErrorType == "" {
		t.Fatalf("answer %s (%v), want a function error", body, err)
	}
	return fe.ErrorType, fe.ErrorMessage
}
