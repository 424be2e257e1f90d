package dynamo_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/analyticstest"
	"github.com/serverless-data-platform/sdp/analytics/dynamo"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// client returns a DynamoDB client of moto (the emulator with transactions), skipping the test when it is
// unavailable.
func client(t testing.TB) *dynamodb.Client {
	t.Helper()
	srv := emulator.Require(t, emulator.Moto)
	return dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
}

// newTable creates an aggregates table with a fresh name and returns its name.
func newTable(t testing.TB, api *dynamodb.Client) string {
	t.Helper()
	name := "aggregates-" + rand.Text()[:10]
	if err := dynamo.CreateTable(emulator.Context(t), api, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// quick is a retry policy without waits, for tests.
func quick() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 5) }

// isolated serialises moto's transactions with every other call. moto rolls a cancelled transaction back by
// restoring a copy of the whole table taken before it, which undoes the writes other requests made meanwhile;
// DynamoDB isolates transactions (serializable with other writes). Calls other than transactions still run
// concurrently with each other.
type isolated struct {
	dynamo.API
	mu sync.RWMutex
}

// TransactWriteItems runs alone.
func (i *isolated) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.API.TransactWriteItems(ctx, in, opts...)
}

// UpdateItem does not run during a transaction.
func (i *isolated) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.API.UpdateItem(ctx, in, opts...)
}

// BatchGetItem does not run during a transaction.
func (i *isolated) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.API.BatchGetItem(ctx, in, opts...)
}

// TestContract runs the aggregates' contract suite against Store on moto, with the default settings and
// with a query-hours limit of one (so that range queries take the index Scan path).
func TestContract(t *testing.T) {
	api := &isolated{API: client(t)}
	for _, c := range []struct {
		name string
		opts []dynamo.Option
	}{
		{"default", nil},
		{"scan the index", []dynamo.Option{dynamo.WithQueryHours(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			analyticstest.Run(t, func(t *testing.T) analytics.Store {
				return dynamo.New(api, newTable(t, api.API.(*dynamodb.Client)), c.opts...)
			})
		})
	}
}

// fakeAPI wraps a real client and lets a test change the answers of TransactWriteItems and UpdateItem.
type fakeAPI struct {
	dynamo.API
	// real is a Store on the same table through the real client.
	real     *dynamo.Store
	transact func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)
	update   func(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

// TransactWriteItems calls the test's function when there is one.
func (f *fakeAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if f.transact != nil {
		return f.transact(ctx, in)
	}
	return f.API.TransactWriteItems(ctx, in, opts...)
}

// UpdateItem calls the test's function when there is one.
func (f *fakeAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if f.update != nil {
		return f.update(ctx, in)
	}
	return f.API.UpdateItem(ctx, in, opts...)
}

// facts returns n facts of one type and source, spread over windows minutes.
func facts(prefix string, n, windows int) []event.Fact {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	out := make([]event.Fact, n)
	for i := range out {
		out[i] = event.Fact{ID: fmt.Sprintf("%s-%03d", prefix, i), Type: "t", Source: "s",
			Time: base.Add(time.Duration(i%windows) * time.Minute), Measures: map[string]float64{"v": float64(i)}}
	}
	return out
}

// total returns the number of events the windows count.
func total(t *testing.T, s analytics.Store) int64 {
	t.Helper()
	ws, err := s.Query(context.Background(), analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, w := range ws {
		n += w.Count
	}
	return n
}

var errUnavailable = &smithy.GenericAPIError{Code: "ServiceUnavailable", Message: "try later"}

// racer returns a TransactWriteItems that, on its first call, has another writer apply facts first (as a
// concurrent Apply would between this one's read of the markers and its transaction), then calls next.
func racer(f *fakeAPI, other []event.Fact, next func(context.Context, *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)) func(context.Context, *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
	var once sync.Once
	return func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		var err error
		once.Do(func() { _, err = f.real.Apply(ctx, other) })
		if err != nil {
			return nil, err
		}
		return next(ctx, in)
	}
}

// TestFaults checks that failures, lost answers and races in the middle of an Apply never count a fact twice,
// and that the Store's retries and fallbacks take it to the end.
func TestFaults(t *testing.T) {
	api := client(t)
	all := facts("f", 20, 2)
	tests := []struct {
		name string
		// fault installs the failure on f.
		fault func(f *fakeAPI)
		// facts are applied; the first Apply (with the fault) counts first and fails when wantErr; other is how
		// many facts were counted meanwhile by others or without the Store knowing it (an answer lost).
		facts   []event.Fact
		first   int
		wantErr bool
		other   int
	}{
		{"second transaction fails", func(f *fakeAPI) {
			var calls atomic.Int32
			f.transact = func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				if calls.Add(1) == 2 {
					return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "denied"}
				}
				return f.API.TransactWriteItems(ctx, in)
			}
		}, facts("big", 150, 3), 98, true, 0},
		{"answer lost after the commit", func(f *fakeAPI) {
			var calls atomic.Int32
			f.transact = func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				out, err := f.API.TransactWriteItems(ctx, in)
				if err == nil && calls.Add(1) == 1 {
					return nil, errUnavailable
				}
				return out, err
			}
		}, all, 0, false, 20},
		{"markers written by another Apply meanwhile", func(f *fakeAPI) {
			f.transact = racer(f, all[:7], func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				return f.API.TransactWriteItems(ctx, in)
			})
		}, all, 13, false, 7},
		{"cancellation reasons missing", func(f *fakeAPI) {
			f.transact = racer(f, all[5:15], func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				out, err := f.API.TransactWriteItems(ctx, in)
				if tce := (*types.TransactionCanceledException)(nil); errors.As(err, &tce) {
					return nil, &types.TransactionCanceledException{Message: tce.Message}
				}
				return out, err
			})
		}, all, 10, false, 10},
		{"conflicts are retried", func(f *fakeAPI) {
			var calls atomic.Int32
			f.transact = func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				if calls.Add(1) <= 2 {
					reasons := make([]types.CancellationReason, len(in.TransactItems))
					for i := range reasons {
						reasons[i].Code = aws.String("None")
					}
					reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
					return nil, &types.TransactionCanceledException{Message: aws.String("conflict"), CancellationReasons: reasons}
				}
				return f.API.TransactWriteItems(ctx, in)
			}
		}, all, 20, false, 0},
		{"throttled extremes are retried", func(f *fakeAPI) {
			var calls atomic.Int32
			f.update = func(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
				if calls.Add(1)%2 == 1 {
					return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}
				}
				return f.API.UpdateItem(ctx, in)
			}
		}, all, 20, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := newTable(t, api)
			f := &fakeAPI{API: api, real: dynamo.New(api, name)}
			tc.fault(f)
			s := dynamo.New(f, name, dynamo.WithBackOff(quick))
			n, err := s.Apply(context.Background(), tc.facts)
			if (err != nil) != tc.wantErr || n != tc.first {
				t.Fatalf("Apply = %d, %v; want %d, error %v", n, err, tc.first, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the table", err)
			}
			// The retry, without faults, counts the rest.
			rest, err := f.real.Apply(context.Background(), tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			if got := n + tc.other + rest; got != len(tc.facts) {
				t.Errorf("applied %d, others %d, retry %d: %d in all; want %d", n, tc.other, rest, got, len(tc.facts))
			}
			if got := total(t, f.real); got != int64(len(tc.facts)) {
				t.Errorf("windows count %d events; want %d", got, len(tc.facts))
			}
		})
	}
}

// TestErrorsNameTheTable checks that errors name the operation and the table.
func TestErrorsNameTheTable(t *testing.T) {
	s := dynamo.New(client(t), "no-such-table", dynamo.WithBackOff(quick))
	ctx := emulator.Context(t)
	calls := []struct {
		name, op string
		call     func() error
	}{
		{"Apply", "apply", func() error { _, err := s.Apply(ctx, facts("x", 2, 1)); return err }},
		{"Query one partition", "query", func() error { _, err := s.Query(ctx, analytics.Query{Type: "t", Source: "s"}); return err }},
		{"Query the index", "query", func() error { _, err := s.Query(ctx, analytics.Query{}); return err }},
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

// BenchmarkApply100 measures an Apply of 100 new facts over 5 windows on moto.
func BenchmarkApply100(b *testing.B) {
	api := client(b)
	s := dynamo.New(api, newTable(b, api))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Apply(ctx, facts(fmt.Sprint("b", i), 100, 5)); err != nil {
			b.Fatal(err)
		}
	}
}
