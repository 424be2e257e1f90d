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
// DynamoDB isolates transactions (serializable with other writes). Reads still run concurrently with each
// other, so concurrent Applies still read a slot item, one after the other write it, and meet on its
// version condition.
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

// BatchGetItem does not run during a transaction.
func (i *isolated) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.API.BatchGetItem(ctx, in, opts...)
}

// Query does not run during a transaction.
func (i *isolated) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.API.Query(ctx, in, opts...)
}

// Scan does not run during a transaction.
func (i *isolated) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.API.Scan(ctx, in, opts...)
}

// several is one analytics.Store made of several Stores on one table: calls go to each in turn, so that
// the contract suite's concurrent cases have separate Store values race on one table, as Lambda instances do.
type several struct {
	stores []*dynamo.Store
	next   atomic.Int64
}

// pick returns the next Store.
func (s *several) pick() *dynamo.Store { return s.stores[int(s.next.Add(1))%len(s.stores)] }

// Apply applies through the next Store.
func (s *several) Apply(ctx context.Context, facts []event.Fact) (int, error) {
	return s.pick().Apply(ctx, facts)
}

// Query queries through the next Store.
func (s *several) Query(ctx context.Context, q analytics.Query) ([]analytics.Window, error) {
	return s.pick().Query(ctx, q)
}

// TestContract runs the aggregates' contract suite against Store on moto: with the default settings, with
// one slot a window (every writer of a window meets on one item), with a query-hours limit of one (so that
// range queries take the index Scan path), and as three Stores on one table.
//
// moto copies the whole table for each action of a transaction, so a transaction costs time in proportion
// to the table's size and the Sketches case's time grows with the square of its facts (5,000 facts take
// six minutes): it runs with 1,000 facts here, 500 in the variants, and with 5,000 against analytics.Local.
func TestContract(t *testing.T) {
	raw := client(t)
	api := &isolated{API: raw}
	for _, c := range []struct {
		name        string
		stores      int
		sketchFacts int
		opts        []dynamo.Option
	}{
		{"default", 1, 1000, nil},
		{"one slot", 1, 500, []dynamo.Option{dynamo.WithSlots(1), dynamo.WithConcurrency(1)}},
		{"scan the index", 1, 500, []dynamo.Option{dynamo.WithQueryHours(1)}},
		{"three stores on one table", 3, 500, []dynamo.Option{dynamo.WithSlots(2)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			analyticstest.Run(t, func(t *testing.T, cfg analyticstest.Config) analytics.Store {
				name := newTable(t, raw)
				opts := append([]dynamo.Option{dynamo.WithWindowing(cfg.Windowing), dynamo.WithClock(cfg.Now)}, c.opts...)
				if c.stores == 1 {
					return dynamo.New(api, name, opts...)
				}
				s := &several{}
				for range c.stores {
					s.stores = append(s.stores, dynamo.New(api, name, opts...))
				}
				return s
			}, analyticstest.WithSketchFacts(c.sketchFacts))
		})
	}
}

// fakeAPI wraps a real client, lets a test change the answers of TransactWriteItems and BatchGetItem, and
// counts the facts of the transactions that committed.
type fakeAPI struct {
	dynamo.API
	// real is a Store on the same table through the real client.
	real     *dynamo.Store
	transact func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error)
	batchGet func(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error)
	// delivered counts the markers of committed transactions whose success reached the Store; hidden those
	// whose success was replaced by an error; cancelled the transactions cancelled.
	delivered, hidden, cancelled atomic.Int64
}

// TransactWriteItems calls the test's function when there is one.
func (f *fakeAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if f.transact != nil {
		return f.transact(ctx, in)
	}
	return f.commit(ctx, in)
}

// commit runs a transaction on the real table and counts its markers when it commits.
func (f *fakeAPI) commit(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := f.API.TransactWriteItems(ctx, in)
	var tce *types.TransactionCanceledException
	switch {
	case err == nil:
		f.delivered.Add(markers(in))
	case errors.As(err, &tce):
		f.cancelled.Add(1)
	}
	return out, err
}

// markers counts the marker Puts of a transaction.
func markers(in *dynamodb.TransactWriteItemsInput) int64 {
	var n int64
	for _, it := range in.TransactItems {
		if pk, ok := it.Put.Item[dynamo.PartitionKey].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "applied#") {
			n++
		}
	}
	return n
}

// BatchGetItem calls the test's function when there is one.
func (f *fakeAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if f.batchGet != nil {
		return f.batchGet(ctx, in)
	}
	return f.API.BatchGetItem(ctx, in, opts...)
}

// facts returns n facts of one type and source, spread over windows minutes.
func facts(prefix string, n, windows int) []event.Fact {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	out := make([]event.Fact, n)
	for i := range out {
		out[i] = event.Fact{ID: fmt.Sprintf("%s-%03d", prefix, i), Type: "t", Source: "s", Subject: fmt.Sprint("u", i%7),
			Time: base.Add(time.Duration(i%windows) * time.Minute), Measures: map[string]float64{"v": float64(i)}}
	}
	return out
}

// clock is the time of the facts above: their windows are open.
func clock() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }

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
// concurrent Apply would between this one's reads and its transaction), then calls next.
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

// failCall returns a TransactWriteItems that fails its k-th call with a permanent error.
func failCall(f *fakeAPI, k int32) func(context.Context, *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
	var calls atomic.Int32
	return func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
		if calls.Add(1) == k {
			return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "denied"}
		}
		return f.commit(ctx, in)
	}
}

// TestFaults checks that failures, lost answers and races in the middle of an Apply never count a fact twice
// nor lose one, that Apply reports exactly the facts of the transactions it saw commit, and that the Store's
// retries take it to the end.
func TestFaults(t *testing.T) {
	api := client(t)
	all := facts("f", 20, 2)
	// 400 facts over two windows: per window two full transactions and a rest; five transactions.
	big := facts("big", 400, 2)
	tests := []struct {
		name string
		// opts configure the faulty Store; fault installs the failure on f, given the facts another writer
		// applies meanwhile.
		opts  []dynamo.Option
		fault func(f *fakeAPI, others []event.Fact)
		facts []event.Fact
		// wantErr says that the first Apply fails.
		wantErr bool
		others  []event.Fact
		// check, when set, checks the fake's record.
		check func(t *testing.T, f *fakeAPI)
	}{
		{"first transaction fails", []dynamo.Option{dynamo.WithConcurrency(1)},
			func(f *fakeAPI, _ []event.Fact) { f.transact = failCall(f, 1) }, big, true, nil, nil},
		{"third transaction fails, one at a time", []dynamo.Option{dynamo.WithConcurrency(1)},
			func(f *fakeAPI, _ []event.Fact) { f.transact = failCall(f, 3) }, big, true, nil,
			func(t *testing.T, f *fakeAPI) {
				if got := f.delivered.Load(); got != 198 {
					t.Errorf("%d facts committed before the failure; want 198 (two full transactions)", got)
				}
			}},
		{"third transaction fails, four at a time", []dynamo.Option{dynamo.WithConcurrency(4)},
			func(f *fakeAPI, _ []event.Fact) { f.transact = failCall(f, 3) }, big, true, nil, nil},
		{"last transaction fails", []dynamo.Option{dynamo.WithConcurrency(1)},
			func(f *fakeAPI, _ []event.Fact) { f.transact = failCall(f, 5) }, big, true, nil, nil},
		{"answer lost after the commit", nil, func(f *fakeAPI, _ []event.Fact) {
			var calls atomic.Int32
			f.transact = func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				out, err := f.API.TransactWriteItems(ctx, in)
				if err == nil && calls.Add(1) == 1 {
					f.hidden.Add(markers(in))
					return nil, errUnavailable
				}
				if err == nil {
					f.delivered.Add(markers(in))
				}
				return out, err
			}
		}, all, false, nil, nil},
		{"markers written by another Apply meanwhile", nil, func(f *fakeAPI, others []event.Fact) {
			f.transact = racer(f, others, f.commit)
		}, all, false, all[:7], nil},
		{"cancellation reasons missing", nil, func(f *fakeAPI, others []event.Fact) {
			f.transact = racer(f, others, func(ctx context.Context, in *dynamodb.TransactWriteItemsInput) (*dynamodb.TransactWriteItemsOutput, error) {
				out, err := f.commit(ctx, in)
				if tce := (*types.TransactionCanceledException)(nil); errors.As(err, &tce) {
					return nil, &types.TransactionCanceledException{Message: tce.Message}
				}
				return out, err
			})
		}, all, false, all[5:15], nil},
		{"slot item written by another writer meanwhile", []dynamo.Option{dynamo.WithSlots(1)}, func(f *fakeAPI, others []event.Fact) {
			f.transact = racer(f, others, f.commit)
		}, facts("mine", 12, 1), false, facts("other", 5, 1), func(t *testing.T, f *fakeAPI) {
			if f.cancelled.Load() == 0 {
				t.Error("no transaction was cancelled: the slot's version condition did not meet the other writer")
			}
		}},
		{"conflicts are retried", nil, func(f *fakeAPI, _ []event.Fact) {
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
				return f.commit(ctx, in)
			}
		}, all, false, nil, nil},
		{"throttled reads are retried", nil, func(f *fakeAPI, _ []event.Fact) {
			var calls atomic.Int32
			f.batchGet = func(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
				if calls.Add(1)%2 == 1 {
					return nil, &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
				}
				return f.API.BatchGetItem(ctx, in)
			}
		}, all, false, nil, nil},
		{"unprocessed keys are read again", nil, func(f *fakeAPI, _ []event.Fact) {
			f.batchGet = func(ctx context.Context, in *dynamodb.BatchGetItemInput) (*dynamodb.BatchGetItemOutput, error) {
				// Half the keys of every call are left unprocessed.
				part := map[string]types.KeysAndAttributes{}
				rest := map[string]types.KeysAndAttributes{}
				for table, ka := range in.RequestItems {
					half := (len(ka.Keys) + 1) / 2
					now, later := ka, ka
					now.Keys, later.Keys = ka.Keys[:half], ka.Keys[half:]
					part[table] = now
					if len(later.Keys) > 0 {
						rest[table] = later
					}
				}
				out, err := f.API.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: part})
				if err == nil {
					out.UnprocessedKeys = rest
				}
				return out, err
			}
		}, all, false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := newTable(t, api)
			opts := append([]dynamo.Option{dynamo.WithClock(clock)}, tc.opts...)
			f := &fakeAPI{API: api, real: dynamo.New(api, name, opts...)}
			tc.fault(f, tc.others)
			s := dynamo.New(f, name, append(opts, dynamo.WithBackOff(quick))...)
			n, err := s.Apply(emulator.Context(t), tc.facts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Apply = %d, %v; want an error: %v", n, err, tc.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "denied")) {
				t.Errorf("error %q does not name the table and the cause", err)
			}
			if got := f.delivered.Load(); int64(n) != got {
				t.Errorf("Apply counted %d facts; the transactions it saw commit hold %d", n, got)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
			// The retry, without faults, counts the rest: together with the answers lost and the facts the
			// other writer took, every fact once.
			rest, err := f.real.Apply(emulator.Context(t), tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			mine, theirs, both := overlap(tc.facts, tc.others)
			if got := n + int(f.hidden.Load()) + rest; got != mine-both {
				t.Errorf("applied %d, lost answers %d, retry %d: %d in all; want %d (%d facts, %d taken by the other writer)",
					n, f.hidden.Load(), rest, got, mine-both, mine, both)
			}
			if got, want := total(t, f.real), int64(mine+theirs-both); got != want {
				t.Errorf("windows count %d events; want %d", got, want)
			}
		})
	}
}

// overlap returns the number of distinct ids of a, of b, and of both.
func overlap(a, b []event.Fact) (na, nb, both int) {
	ids := map[string]int{}
	for _, f := range a {
		ids[f.ID] |= 1
	}
	for _, f := range b {
		ids[f.ID] |= 2
	}
	for _, m := range ids {
		if m&1 != 0 {
			na++
		}
		if m&2 != 0 {
			nb++
		}
		if m == 3 {
			both++
		}
	}
	return na, nb, both
}

// barrier holds the first n reads of window items until all n have read, so that n writers read the same
// version of a slot item before any of them writes it.
type barrier struct {
	dynamo.API
	n       int
	arrived atomic.Int64
	all     chan struct{}
	// conflicts counts the transactions cancelled.
	conflicts atomic.Int64
}

// BatchGetItem reads, then waits for the others when it is one of the first n reads of window items.
func (b *barrier) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := b.API.BatchGetItem(ctx, in, opts...)
	if !readsWindows(in) {
		return out, err
	}
	if k := b.arrived.Add(1); k == int64(b.n) {
		close(b.all)
	} else if k > int64(b.n) {
		return out, err
	}
	select {
	case <-b.all:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return out, err
}

// TransactWriteItems counts the cancelled transactions.
func (b *barrier) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := b.API.TransactWriteItems(ctx, in, opts...)
	if tce := (*types.TransactionCanceledException)(nil); errors.As(err, &tce) {
		b.conflicts.Add(1)
	}
	return out, err
}

// readsWindows reports whether a BatchGetItem reads window items (not markers).
func readsWindows(in *dynamodb.BatchGetItemInput) bool {
	for _, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			if pk, ok := k[dynamo.PartitionKey].(*types.AttributeValueMemberS); ok && strings.HasPrefix(pk.Value, "window#") {
				return true
			}
		}
	}
	return false
}

// TestConflictingWritersOneSlot has several Stores write one window with one slot, all having read its item
// before any writes it: all but one transaction fail their version condition, read again and retry, and in
// the end the window holds the exact count and statistics of the distinct facts.
func TestConflictingWritersOneSlot(t *testing.T) {
	raw := client(t)
	name := newTable(t, raw)
	const writers, own, shared = 5, 30, 10
	b := &barrier{API: &isolated{API: raw}, n: writers, all: make(chan struct{})}
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	fact := func(id string, i int) event.Fact {
		return event.Fact{ID: id, Type: "t", Source: "s", Subject: fmt.Sprint("u", i%13),
			Time: base.Add(time.Duration(i%60) * time.Second), Measures: map[string]float64{"v": float64(i)}}
	}
	var sharedFacts []event.Fact
	for i := range shared {
		sharedFacts = append(sharedFacts, fact(fmt.Sprint("shared-", i), i))
	}
	var sum float64
	for i := range shared + writers*own {
		sum += float64(i)
	}
	applied := make([]int, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	ctx := emulator.Context(t)
	for w := range writers {
		s := dynamo.New(b, name, dynamo.WithSlots(1), dynamo.WithClock(clock))
		mine := append([]event.Fact(nil), sharedFacts...)
		for i := range own {
			mine = append(mine, fact(fmt.Sprintf("w%d-%d", w, i), shared+w*own+i))
		}
		wg.Go(func() { applied[w], errs[w] = s.Apply(ctx, mine) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := applied[0] + applied[1] + applied[2] + applied[3] + applied[4]; n != shared+writers*own {
		t.Errorf("Apply counted %v = %d facts; want %d", applied, n, shared+writers*own)
	}
	if c := b.conflicts.Load(); c < writers-1 {
		t.Errorf("%d transactions cancelled; want at least %d (every writer but one read a stale version)", c, writers-1)
	}
	ws, err := dynamo.New(raw, name, dynamo.WithClock(clock)).Query(ctx, analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Count != shared+writers*own || ws[0].Measures["v"].Sum != sum ||
		ws[0].Measures["v"].Max != float64(shared+writers*own-1) || ws[0].UniqueSubjects != 13 {
		t.Errorf("windows %s; want one of %d facts, sum %v, 13 subjects", analyticstest.Format(ws), shared+writers*own, sum)
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

// nopAPI answers every call at once: no markers, no slot items, every transaction commits. It measures the
// Store's own work.
type nopAPI struct{ dynamo.API }

// TransactWriteItems commits.
func (nopAPI) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// BatchGetItem finds nothing.
func (nopAPI) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return &dynamodb.BatchGetItemOutput{}, nil
}

// BenchmarkApplyCPU measures the Store's own work for an Apply of 500 facts over 5 windows (reading the
// answers, folding the facts into the aggregates, encoding the items), without a server.
func BenchmarkApplyCPU(b *testing.B) {
	s := dynamo.New(nopAPI{}, "aggregates", dynamo.WithClock(clock))
	fs := facts("cpu", 500, 5)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply(ctx, fs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fs)), "ns/fact")
}

// BenchmarkApply100 measures an Apply of 100 new facts over 5 windows on moto. moto copies the table for
// each action of a transaction, so its time grows with the table and says little about DynamoDB's.
func BenchmarkApply100(b *testing.B) {
	api := client(b)
	s := dynamo.New(api, newTable(b, api), dynamo.WithClock(clock))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Apply(ctx, facts(fmt.Sprint("b", i), 100, 5)); err != nil {
			b.Fatal(err)
		}
	}
}
