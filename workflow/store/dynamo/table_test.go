package dynamo_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/workflow/store"
	"github.com/serverless-data-platform/sdp/workflow/store/dynamo"
	"github.com/serverless-data-platform/sdp/workflow/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// client returns a DynamoDB client of the emulator of the kind (skipping the test when it is unavailable).
func client(t testing.TB, kind emulator.Kind) *dynamodb.Client {
	t.Helper()
	srv := emulator.Require(t, kind)
	return dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
}

// newTable creates a table with a fresh name on the client's emulator and returns it.
func newTable(t testing.TB, api *dynamodb.Client, opts ...dynamo.Option) *dynamo.Table {
	t.Helper()
	name := "curated-" + rand.Text()[:10]
	if err := dynamo.CreateTable(emulator.Context(t), api, name); err != nil {
		t.Fatal(err)
	}
	return dynamo.New(api, name, opts...)
}

// TestContract runs the curated table's contract suite against Table, with Put and with PutBatch, on dynalite
// and on moto.
func TestContract(t *testing.T) {
	for _, kind := range []emulator.Kind{emulator.Dynalite, emulator.Moto} {
		t.Run(string(kind), func(t *testing.T) {
			api := client(t, kind)
			t.Run("Put", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) storetest.Store { return newTable(t, api) })
			})
			t.Run("PutBatch", func(t *testing.T) {
				storetest.Run(t, func(t *testing.T) storetest.Store { return batchPutter{newTable(t, api)} })
			})
		})
	}
}

// batchPutter is a Table whose Put is PutBatch.
type batchPutter struct{ *dynamo.Table }

// Put writes with PutBatch.
func (b batchPutter) Put(ctx context.Context, items []event.Curated) error {
	return b.PutBatch(ctx, items)
}

// fakeAPI wraps a real client and lets a test change the answers of the batch calls and PutItem.
type fakeAPI struct {
	dynamo.API
	batchWrite func(ctx context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error)
	putItem    func(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error)
}

// BatchWriteItem calls the test's function when there is one.
func (f *fakeAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if f.batchWrite != nil {
		return f.batchWrite(ctx, in)
	}
	return f.API.BatchWriteItem(ctx, in, opts...)
}

// PutItem calls the test's function when there is one.
func (f *fakeAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if f.putItem != nil {
		return f.putItem(ctx, in)
	}
	return f.API.PutItem(ctx, in, opts...)
}

// items returns n storetest items with ids prefix-0 … prefix-(n-1).
func items(prefix string, n int) []event.Curated {
	out := make([]event.Curated, n)
	for i := range out {
		out[i] = storetest.Item(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// throttled is the error DynamoDB answers a throttled call with.
var errThrottled = &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}

// TestRetries checks the Table's own retries on dynalite: unprocessed items of BatchWriteItem are sent again
// until written, throttled PutItem calls are retried, and a retry policy that gives up returns an error that
// names the table.
func TestRetries(t *testing.T) {
	api := client(t, emulator.Dynalite)
	tests := []struct {
		name    string
		put     func(tb *dynamo.Table, f *fakeAPI) error
		wantErr bool
		written int
	}{
		{"unprocessed items are sent again", func(tb *dynamo.Table, f *fakeAPI) error {
			calls := 0
			f.batchWrite = func(ctx context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				calls++
				reqs := in.RequestItems[tb.Name()]
				if calls > 3 || len(reqs) < 2 {
					return f.API.BatchWriteItem(ctx, in)
				}
				// Write the first half, hand back the rest as unprocessed.
				half := len(reqs) / 2
				if _, err := f.API.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
					RequestItems: map[string][]types.WriteRequest{tb.Name(): reqs[:half]}}); err != nil {
					return nil, err
				}
				return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]types.WriteRequest{tb.Name(): reqs[half:]}}, nil
			}
			return tb.PutBatch(context.Background(), items("evt", 40))
		}, false, 40},
		{"throttled batch writes are retried", func(tb *dynamo.Table, f *fakeAPI) error {
			var calls atomic.Int32
			f.batchWrite = func(ctx context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				if calls.Add(1) <= 2 {
					return nil, errThrottled
				}
				return f.API.BatchWriteItem(ctx, in)
			}
			return tb.PutBatch(context.Background(), items("evt", 10))
		}, false, 10},
		{"throttled puts are retried", func(tb *dynamo.Table, f *fakeAPI) error {
			var calls atomic.Int32
			f.putItem = func(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
				if calls.Add(1)%2 == 1 {
					return nil, errThrottled
				}
				return f.API.PutItem(ctx, in)
			}
			return tb.Put(context.Background(), items("evt", 10))
		}, false, 10},
		{"unprocessed for ever gives up", func(tb *dynamo.Table, f *fakeAPI) error {
			f.batchWrite = func(_ context.Context, in *dynamodb.BatchWriteItemInput) (*dynamodb.BatchWriteItemOutput, error) {
				return &dynamodb.BatchWriteItemOutput{UnprocessedItems: in.RequestItems}, nil
			}
			return tb.PutBatch(context.Background(), items("evt", 3))
		}, true, 0},
		{"a refused put fails the call, the others are written", func(tb *dynamo.Table, f *fakeAPI) error {
			f.putItem = func(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
				if in.Item["id"].(*types.AttributeValueMemberS).Value == "evt-1" {
					return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
				}
				return f.API.PutItem(ctx, in)
			}
			return tb.Put(context.Background(), items("evt", 3))
		}, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAPI{API: api}
			real := newTable(t, api)
			tb := dynamo.New(f, real.Name(), dynamo.WithBackOff(func() backoff.BackOff {
				return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 5)
			}))
			err := tc.put(tb, f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("put = %v; want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), real.Name()) {
				t.Errorf("error %q does not name the table", err)
			}
			if n, err := real.Count(context.Background()); err != nil || n != tc.written {
				t.Errorf("Count = %d, %v; want %d", n, err, tc.written)
			}
		})
	}
}

// TestServerRefusesLargeItem checks that DynamoDB's own refusal of an item over its size limit (should the
// Table's estimate be low) is a permanent *store.ItemError.
func TestServerRefusesLargeItem(t *testing.T) {
	api := client(t, emulator.Dynalite)
	real := newTable(t, api)
	f := &fakeAPI{API: api, putItem: func(context.Context, *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "Item size has exceeded the maximum allowed size"}
	}}
	err := dynamo.New(f, real.Name()).Put(context.Background(), items("evt", 1))
	var ie *store.ItemError
	if !errors.Is(err, store.ErrItemTooLarge) || !errors.As(err, &ie) || !ie.Permanent() || ie.ID != "evt-0" {
		t.Fatalf("Put = %v; want a permanent *store.ItemError about evt-0", err)
	}
}

// TestMissingTable checks that the errors about a table that does not exist name the operation and the table.
func TestMissingTable(t *testing.T) {
	tb := dynamo.New(client(t, emulator.Dynalite), "no-such-table")
	ctx := emulator.Context(t)
	calls := []struct {
		name, op string
		call     func() error
	}{
		{"Put", "put", func() error { return tb.Put(ctx, items("evt", 1)) }},
		{"PutBatch", "put batch", func() error { return tb.PutBatch(ctx, items("evt", 1)) }},
		{"Get", "get", func() error { _, _, err := tb.Get(ctx, "x"); return err }},
		{"Count", "count", func() error { _, err := tb.Count(ctx); return err }},
		{"Scan", "scan", func() error { return tb.Scan(ctx, func(event.Curated) bool { return true }) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var rnf *types.ResourceNotFoundException
			if !errors.As(err, &rnf) {
				t.Fatalf("%s = %v; want ResourceNotFoundException", c.name, err)
			}
			if !strings.Contains(err.Error(), c.op) || !strings.Contains(err.Error(), "no-such-table") {
				t.Errorf("error %q does not name the operation %q and the table", err, c.op)
			}
		})
	}
}

// BenchmarkPut100 measures a Put of 100 new items on dynalite.
func BenchmarkPut100(b *testing.B) {
	benchmarkPut(b, func(tb *dynamo.Table, ctx context.Context, items []event.Curated) error { return tb.Put(ctx, items) })
}

// BenchmarkPutBatch100 measures a PutBatch of 100 new items on dynalite.
func BenchmarkPutBatch100(b *testing.B) {
	benchmarkPut(b, func(tb *dynamo.Table, ctx context.Context, items []event.Curated) error {
		return tb.PutBatch(ctx, items)
	})
}

// benchmarkPut runs put with batches of 100 new items.
func benchmarkPut(b *testing.B, put func(*dynamo.Table, context.Context, []event.Curated) error) {
	tb := newTable(b, client(b, emulator.Dynalite))
	ctx := context.Background()
	batch := make([]event.Curated, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = storetest.Item(fmt.Sprintf("evt-%d-%d", i, j))
		}
		if err := put(tb, ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}
