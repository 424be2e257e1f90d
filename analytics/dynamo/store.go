// Package dynamo is the DynamoDB adapter of the analytics aggregates (analytics.Store): windows per event
// type and source, each an analytics.Aggregate (counts, unique subjects, quantile sketches, heavy hitters),
// counted exactly once per event id under retries, bisections, replays and concurrent writers.
//
// # Table
//
// One table, with the string key attributes pk (partition) and sk (sort), and one global secondary index,
// byHour (partition key hour, sort key sk, all attributes projected). It holds two kinds of items:
//
//   - a window slot: pk "window#<len(type)>#<type>#<source>", sk "<start>#<slot>" where start is the
//     window's start as 16 hex digits that sort by time and slot is 0 to n−1 (WithSlots). A window is the
//     merge of its slot items: each holds the Aggregate of the facts written to it, so that concurrent
//     writers of one window rarely write one item. Attributes: agg (binary, the slot's
//     analytics.Aggregate encoding, which the read API merges), version (number, raised by each write),
//     and plain attributes for tools that read the table directly (QuickSight through Athena's DynamoDB
//     connector): type, source, start and end (RFC 3339), hour (RFC 3339, the index key), slot, count,
//     late, uniques, and per measure m the numbers sum_m, count_m, min_m and max_m. Counts and sums add up
//     over a window's slots, minimum and maximum combine as such; uniques do not add up (a subject seen by
//     two slots counts in both): the read API merges the slots' sketches instead;
//   - an applied marker: pk "applied#<event id>", sk "applied", appliedAt (Unix seconds). Markers have no
//     hour attribute, so the index holds windows only.
//
// A table keeps the window size it is written with: a Store with another size places new facts in windows
// of its size, beside the old ones.
//
// # Writes
//
// Apply fences each fact by its marker, and each slot item by its version. It first reads the markers of
// its facts (BatchGetItem, strongly consistent) and drops the facts applied before, then groups the rest by
// window and packs them into transactions of at most 100 actions and 8 windows: per window, one Put of a
// slot item, and per fact one Put of its marker with the condition attribute_not_exists(pk). A window with
// more facts than a transaction holds is split into chunks of 99, written to different slots. Each
// transaction reads its slot items (BatchGetItem, strongly consistent), folds its facts into their
// aggregates (into Late only, for a fact that arrived after its window closed), and puts them back with the
// condition that their version is the one read (or that they do not exist yet). A transaction is cancelled
// as a whole when a condition fails: a marker that exists names a fact applied meanwhile, which is dropped;
// a slot item written meanwhile is read again; and the transaction is tried again with backoff. An answer
// lost after a commit is no risk either: the retry finds the markers and drops the facts. Transactions of one
// call run a few at a time (WithConcurrency), never two on one slot item at once. If one fails, those that
// committed stay counted, and retrying the call counts only the rest.
//
// Cost: each fact costs a marker write (2 write units in a transaction, markers being under 1 KB) and a
// strongly consistent marker read (1 read unit). Each transaction also reads its slot items (1 read unit
// per 4 KB) and writes them whole (2 write units per KB), a cost its facts share: a slot item is about
// 1 KB with a few subjects and five measures, 3 KB with a hundred subjects, 11 KB with a thousand, and at
// most about 30 KB however many (the HyperLogLog's sparse list grows up to 16,384 subjects, then turns into
// 16 KB of registers). A full transaction shares one slot write among 99 facts.
//
// # Reads
//
// Query of one type and one source is a Query of the table on the window partition, by sort key range,
// strongly consistent. Any other query is a Query of the index per hour of the range (strongly consistent
// reads are not available on a global secondary index: a window written a moment ago may be missing or
// stale), or a Scan of the index when the range is open or spans more than the Store's query-hours limit.
// The slot items of each window are merged, and the window's read model (analytics.NewWindow) is built with
// the Store's windowing and clock. Query reads every slot of a window whatever WithSlots says, so the number
// of slots can change on a table in use.
package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/awsretry"
)

// API is the part of the DynamoDB client the Store uses. *dynamodb.Client satisfies it.
type API interface {
	TransactWriteItems(ctx context.Context, params *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchGetItem(ctx context.Context, params *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Limits of a transaction.
const (
	// maxTransactItems is DynamoDB's limit of actions in one TransactWriteItems.
	maxTransactItems = 100
	// maxTransactWindows bounds the slot items of one transaction, so that it stays within DynamoDB's 4 MB
	// per transaction even when every slot item is near the 400 KB item limit.
	maxTransactWindows = 8
	// batchGetKeys is DynamoDB's limit of keys in one BatchGetItem.
	batchGetKeys = 100
)

// Defaults of the options.
const (
	// DefaultSlots is the default number of slot items per window.
	DefaultSlots = 4
	// defaultConcurrency is how many transactions one Apply runs at a time by default.
	defaultConcurrency = 4
	// defaultQueryHours is the longest range Query reads hour by hour by default: a week.
	defaultQueryHours = 168
)

// Store is the analytics aggregates in a DynamoDB table. It is safe for concurrent use, and several Stores
// (in one process or many) may write one table at once.
type Store struct {
	api         API
	name        string
	win         analytics.Windowing
	size        time.Duration
	winErr      error
	slots       int
	concurrency int
	queryHours  int
	newBackOff  func() backoff.BackOff
	now         func() time.Time
}

var _ analytics.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithConcurrency sets how many transactions one Apply runs at a time (default 4). Transactions of one call
// never write one slot item at the same time.
func WithConcurrency(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.concurrency = n
		}
	}
}

// WithQueryHours sets the longest time range, in hours, that Query reads from the index hour by hour;
// a longer or open range is a Scan of the index (default 168, a week).
func WithQueryHours(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.queryHours = n
		}
	}
}

// WithBackOff sets the policy of the Store's retries of throttled calls and of transactions that conflict
// with others, on top of the SDK client's retries; each retried call gets a fresh policy. The default is
// exponential with jitter, from 20 ms up to 1 s between tries, for at most 15 s; every wait also ends with
// the call's context.
func WithBackOff(newBackOff func() backoff.BackOff) Option {
	return func(s *Store) {
		if newBackOff != nil {
			s.newBackOff = newBackOff
		}
	}
}

// WithClock sets the Store's clock (default time.Now): it judges facts without an arrival time (one that
// arrived after its window closed counts only in its Late), decides which windows Query reports closed
// (Window.Closed), and stamps the applied markers.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// WithWindowing sets the window size and allowed lateness (zero fields mean analytics.WindowSize and
// analytics.AllowedLateness). A size that does not divide a day into whole seconds makes every call fail.
func WithWindowing(w analytics.Windowing) Option {
	return func(s *Store) { s.win = w }
}

// WithSlots sets how many slot items a window is spread over (default DefaultSlots): more slots let more
// writers update one window at once without conflicts, and cost one item more to read per slot. Query
// reads whatever slots a window has, so the number may change on a table in use.
func WithSlots(n int) Option {
	return func(s *Store) {
		if n > 0 {
			s.slots = n
		}
	}
}

// New returns the Store on the table name reached through api. It does no I/O.
func New(api API, name string, opts ...Option) *Store {
	s := &Store{api: api, name: name, slots: DefaultSlots, concurrency: defaultConcurrency,
		queryHours: defaultQueryHours, newBackOff: defaultBackOff, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.winErr = s.win.Check()
	s.size = s.win.Size
	if s.size <= 0 {
		s.size = analytics.WindowSize
	}
	return s
}

// defaultBackOff is exponential with jitter, bounded to 15 s.
func defaultBackOff() backoff.BackOff {
	return awsretry.Exponential(20*time.Millisecond, time.Second, 15*time.Second)
}

// Name returns the table's name.
func (s *Store) Name() string { return s.name }

// Windowing returns the Store's windowing, as set by WithWindowing.
func (s *Store) Windowing() analytics.Windowing { return s.win }

// window is one window of one type and source.
type window struct {
	pk, typ, src string
	start        time.Time
}

// group is the facts of one call that fall in one window.
type group struct {
	window
	facts []*event.Fact
}

// part is the facts of one transaction that go to one slot item of a window.
type part struct {
	window
	slot  int
	facts []*event.Fact
}

// sk is the sort key of the part's slot item.
func (p *part) sk() string { return windowSK(p.start, p.slot) }

// itemKey identifies the part's slot item within a call.
func (p *part) itemKey() string { return p.pk + "\x00" + p.sk() }

// Apply implements analytics.Store: it counts each fact whose id has no marker yet and writes its marker in
// the same transaction (see the package documentation). Facts whose marker exists, and later facts with an
// id seen earlier in facts, are skipped. An invalid fact fails the call, before any write, with an error
// wrapping analytics.ErrInvalidFact.
//
// Throttled calls, transactions that conflict with others and slot items written meanwhile are retried
// with backoff. On another error, the transactions that committed stay counted, and applied says how many
// facts they counted: retrying the call counts only the others. Measures that are NaN or infinite are
// ignored, as by analytics.Local. A window whose slot item would grow beyond DynamoDB's 400 KB fails the
// call.
func (s *Store) Apply(ctx context.Context, facts []event.Fact) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.errorf("apply", err)
	}
	if s.winErr != nil {
		return 0, s.errorf("apply", s.winErr)
	}
	for i := range facts {
		if err := validate(&facts[i]); err != nil {
			return 0, s.errorf(fmt.Sprintf("apply: fact %d", i), err)
		}
	}
	fresh := unique(facts)
	if len(fresh) == 0 {
		return 0, nil
	}
	done, err := s.applied(ctx, fresh)
	if err != nil {
		return 0, s.errorf(fmt.Sprintf("apply %d facts", len(facts)), err)
	}
	fresh = slices.DeleteFunc(fresh, func(f *event.Fact) bool { return done[f.ID] })
	txs := pack(groupFacts(fresh, s.win), s.slots, rand.IntN)
	if len(txs) == 0 {
		return 0, nil
	}
	applied, err := s.commitAll(ctx, txs, s.now())
	if err != nil {
		return applied, s.errorf(fmt.Sprintf("apply %d facts", len(facts)), err)
	}
	return applied, nil
}

// unique returns the first fact of each id in facts.
func unique(facts []event.Fact) []*event.Fact {
	seen := make(map[string]bool, len(facts))
	out := make([]*event.Fact, 0, len(facts))
	for i := range facts {
		if !seen[facts[i].ID] {
			seen[facts[i].ID] = true
			out = append(out, &facts[i])
		}
	}
	return out
}

// groupFacts groups facts by window, in the order of their first fact.
func groupFacts(facts []*event.Fact, w analytics.Windowing) []*group {
	byKey := make(map[string]*group)
	var groups []*group
	for _, f := range facts {
		start := w.Start(f.Time)
		pk := windowPK(f.Type, f.Source)
		key := pk + "\x00" + startKey(start)
		g := byKey[key]
		if g == nil {
			g = &group{window: window{pk: pk, typ: f.Type, src: f.Source, start: start}}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.facts = append(g.facts, f)
	}
	return groups
}

// pack splits the groups into transactions of at most 100 actions (one per fact, one per slot item) and
// maxTransactWindows slot items. A group of more than 99 facts is cut into chunks of 99, each a transaction
// of its own, on consecutive slots from a random one (pick(n) returns a number in [0, n)); the rest of each
// group goes whole into the first transaction with room for it, on the group's next slot.
func pack(groups []*group, slots int, pick func(int) int) [][]*part {
	const chunk = maxTransactItems - 1
	var txs [][]*part
	var open []int // indexes in txs of the transactions that are not full
	actions := map[int]int{}
	for _, g := range groups {
		slot := pick(slots)
		rest := g.facts
		for len(rest) > chunk {
			txs = append(txs, []*part{{window: g.window, slot: slot, facts: rest[:chunk]}})
			slot = (slot + 1) % slots
			rest = rest[chunk:]
		}
		if len(rest) == 0 {
			continue
		}
		p := &part{window: g.window, slot: slot, facts: rest}
		need := len(rest) + 1
		placed := false
		for _, i := range open {
			if actions[i]+need <= maxTransactItems && len(txs[i]) < maxTransactWindows {
				txs[i] = append(txs[i], p)
				actions[i] += need
				placed = true
				break
			}
		}
		if !placed {
			txs = append(txs, []*part{p})
			actions[len(txs)-1] = need
			open = append(open, len(txs)-1)
		}
		// Transactions with no room for a window of one fact are full.
		open = slices.DeleteFunc(open, func(i int) bool {
			return actions[i]+2 > maxTransactItems || len(txs[i]) >= maxTransactWindows
		})
	}
	return txs
}

// commitAll runs the transactions, up to the Store's concurrency at a time, and returns how many facts
// they counted. After the first failure no other transaction starts; those under way finish.
func (s *Store) commitAll(ctx context.Context, txs [][]*part, now time.Time) (int, error) {
	var (
		applied atomic.Int64
		failed  atomic.Bool
		locks   itemLocks
		errs    = make([]error, len(txs))
		next    = make(chan int)
		wg      sync.WaitGroup
	)
	for range min(s.concurrency, len(txs)) {
		wg.Go(func() {
			for i := range next {
				if failed.Load() {
					continue
				}
				unlock := locks.lock(txs[i])
				n, err := s.commit(ctx, txs[i], now)
				unlock()
				applied.Add(int64(n))
				if err != nil {
					errs[i] = fmt.Errorf("transaction of %d windows: %w", len(txs[i]), err)
					failed.Store(true)
				}
			}
		})
	}
	for i := range txs {
		next <- i
	}
	close(next)
	wg.Wait()
	return int(applied.Load()), errors.Join(errs...)
}

// itemLocks keeps the transactions of one call off each other's slot items.
type itemLocks struct {
	mu    sync.Mutex
	items map[string]*sync.Mutex
}

// lock locks the slot items of tx, in key order so that two transactions cannot wait for each other, and
// returns the function that unlocks them.
func (l *itemLocks) lock(tx []*part) (unlock func()) {
	keys := make([]string, len(tx))
	for i, p := range tx {
		keys[i] = p.itemKey()
	}
	slices.Sort(keys)
	mus := make([]*sync.Mutex, len(keys))
	l.mu.Lock()
	if l.items == nil {
		l.items = map[string]*sync.Mutex{}
	}
	for i, k := range keys {
		if l.items[k] == nil {
			l.items[k] = &sync.Mutex{}
		}
		mus[i] = l.items[k]
	}
	l.mu.Unlock()
	for _, mu := range mus {
		mu.Lock()
	}
	return func() {
		for _, mu := range mus {
			mu.Unlock()
		}
	}
}

// slotState is a slot item as read: its encoded aggregate and its version (0 when it does not exist).
type slotState struct {
	agg     []byte
	version int64
}

// commit writes one transaction's parts, dropping the facts whose marker turns out to exist and reading
// again the slot items written meanwhile, until the rest is written. It returns how many facts it counted.
func (s *Store) commit(ctx context.Context, tx []*part, now time.Time) (int, error) {
	b := backoff.WithContext(s.newBackOff(), ctx)
	stamp := strconv.FormatInt(now.Unix(), 10)
	for {
		live := slices.DeleteFunc(slices.Clone(tx), func(p *part) bool { return len(p.facts) == 0 })
		if len(live) == 0 {
			return 0, nil
		}
		states, err := s.readSlots(ctx, live)
		if err != nil {
			return 0, err
		}
		items, markers, n, err := s.transactItems(live, states, now, stamp)
		if err != nil {
			return 0, err
		}
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return n, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			if !awsretry.DynamoDBTransient(err) {
				return 0, err
			}
			if werr := awsretry.Wait(ctx, b); werr != nil {
				return 0, errors.Join(err, werr)
			}
			continue
		}
		dropped, again, err := s.dropApplied(ctx, live, len(items), markers, tce)
		if err != nil {
			return 0, err
		}
		if again || dropped == 0 {
			if werr := awsretry.Wait(ctx, b); werr != nil {
				return 0, errors.Join(tce, werr)
			}
		}
	}
}

// marker says which fact of which part a transaction action marks.
type marker struct {
	part, fact int
	action     int
}

// transactItems builds the transaction of the parts: per part the Put of its slot item, with the facts
// folded into the aggregate read, then the Puts of its facts' markers. It returns the markers' actions and
// the number of facts.
func (s *Store) transactItems(parts []*part, states map[string]slotState, now time.Time, stamp string) (
	[]types.TransactWriteItem, []marker, int, error) {
	var items []types.TransactWriteItem
	var markers []marker
	table := aws.String(s.name)
	for pi, p := range parts {
		st := states[p.itemKey()]
		var a analytics.Aggregate
		if st.version > 0 {
			if err := a.UnmarshalBinary(st.agg); err != nil {
				return nil, nil, 0, fmt.Errorf("window %s %s: %w", p.pk, p.sk(), err)
			}
		}
		for _, f := range p.facts {
			// A fact is late when it arrived after its window closed (or, without an arrival time, when
			// the window is closed now).
			if s.win.Late(f, now) {
				a.Late++
			} else {
				a.Add(f)
			}
		}
		item, err := s.slotItem(p, &a, st.version+1)
		if err != nil {
			return nil, nil, 0, err
		}
		put := &types.Put{TableName: table, Item: item, ExpressionAttributeNames: map[string]string{}}
		if st.version == 0 {
			put.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			put.ExpressionAttributeNames["#pk"] = PartitionKey
		} else {
			put.ConditionExpression = aws.String("#v = :v")
			put.ExpressionAttributeNames["#v"] = attrVersion
			put.ExpressionAttributeValues = map[string]types.AttributeValue{
				":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(st.version, 10)}}
		}
		items = append(items, types.TransactWriteItem{Put: put})
		for fi, f := range p.facts {
			markers = append(markers, marker{part: pi, fact: fi, action: len(items)})
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName: table,
				Item: map[string]types.AttributeValue{
					PartitionKey:  &types.AttributeValueMemberS{Value: markerPK(f.ID)},
					SortKey:       &types.AttributeValueMemberS{Value: markerSort},
					attrAppliedAt: &types.AttributeValueMemberN{Value: stamp},
				},
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
			}})
		}
	}
	return items, markers, len(markers), nil
}

// slotItem is the item of p's slot holding the aggregate a, at the version given.
func (s *Store) slotItem(p *part, a *analytics.Aggregate, version int64) (map[string]types.AttributeValue, error) {
	enc, err := a.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("window %s %s: %w", p.pk, p.sk(), err)
	}
	num := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	item := map[string]types.AttributeValue{
		PartitionKey:  str(p.pk),
		SortKey:       str(p.sk()),
		HourAttribute: str(hourKey(p.start)),
		attrType:      str(p.typ),
		attrSource:    str(p.src),
		attrStart:     str(p.start.UTC().Format(time.RFC3339)),
		attrEnd:       str(p.start.Add(s.size).UTC().Format(time.RFC3339)),
		attrSlot:      num(int64(p.slot)),
		attrCount:     num(a.Count),
		attrLate:      num(a.Late),
		attrUniques:   num(a.Uniques()),
		attrVersion:   num(version),
		attrAgg:       &types.AttributeValueMemberB{Value: enc},
	}
	// The plain statistics of a measure are left out when a value is beyond DynamoDB's numbers; the
	// aggregate holds them.
	for name, st := range a.Measures() {
		sum, ok1 := dynamoNumber(st.Sum)
		lo, ok2 := dynamoNumber(st.Min)
		hi, ok3 := dynamoNumber(st.Max)
		if ok1 && ok2 && ok3 {
			item[prefixSum+name] = &types.AttributeValueMemberN{Value: sum}
			item[prefixCount+name] = num(st.Count)
			item[prefixMin+name] = &types.AttributeValueMemberN{Value: lo}
			item[prefixMax+name] = &types.AttributeValueMemberN{Value: hi}
		}
	}
	if n := itemSize(item); n > maxItemBytes {
		return nil, fmt.Errorf("window %s %s would be a %d-byte item, beyond DynamoDB's 400 KB: "+
			"give the event type fewer measures, or spread its windows over more slots", p.pk, p.sk(), n)
	}
	return item, nil
}

// readSlots reads the slot items of the parts (BatchGetItem, strongly consistent), retrying throttled
// reads and unprocessed keys with backoff.
func (s *Store) readSlots(ctx context.Context, parts []*part) (map[string]slotState, error) {
	keys := make([]map[string]types.AttributeValue, len(parts))
	for i, p := range parts {
		keys[i] = map[string]types.AttributeValue{
			PartitionKey: &types.AttributeValueMemberS{Value: p.pk},
			SortKey:      &types.AttributeValueMemberS{Value: p.sk()},
		}
	}
	states := make(map[string]slotState, len(parts))
	names := map[string]string{"#pk": PartitionKey, "#sk": SortKey, "#agg": attrAgg, "#v": attrVersion}
	err := s.batchGet(ctx, keys, "#pk, #sk, #agg, #v", names,
		func(av map[string]types.AttributeValue) error {
			pk, _ := av[PartitionKey].(*types.AttributeValueMemberS)
			sk, _ := av[SortKey].(*types.AttributeValueMemberS)
			agg, _ := av[attrAgg].(*types.AttributeValueMemberB)
			v, _ := av[attrVersion].(*types.AttributeValueMemberN)
			if pk == nil || sk == nil || agg == nil || v == nil {
				return fmt.Errorf("window item %v has no agg or version: the table holds items of another layout; "+
					"write the aggregates to a new table", av[SortKey])
			}
			version, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil || version < 1 {
				return fmt.Errorf("window %s %s: version %q is not a positive integer", pk.Value, sk.Value, v.Value)
			}
			states[pk.Value+"\x00"+sk.Value] = slotState{agg: agg.Value, version: version}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read windows: %w", err)
	}
	return states, nil
}

// batchGet reads the items of keys, at most 100 a call, strongly consistent, with the projection given, and
// hands each to found. Throttled calls and unprocessed keys are retried with backoff.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, projection string,
	names map[string]string, found func(map[string]types.AttributeValue) error) error {
	for start := 0; start < len(keys); start += batchGetKeys {
		pending := map[string]types.KeysAndAttributes{s.name: {Keys: keys[start:min(start+batchGetKeys, len(keys))],
			ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String(projection), ExpressionAttributeNames: names}}
		b := backoff.WithContext(s.newBackOff(), ctx)
		for {
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil && !awsretry.DynamoDBTransient(err) {
				return err
			}
			if err == nil {
				for _, av := range out.Responses[s.name] {
					if err := found(av); err != nil {
						return err
					}
				}
				if len(out.UnprocessedKeys[s.name].Keys) == 0 {
					break
				}
				pending = out.UnprocessedKeys
			}
			if werr := awsretry.Wait(ctx, b); werr != nil {
				return errors.Join(err, werr)
			}
		}
	}
	return nil
}

// dropApplied removes from the parts the facts whose marker the cancelled transaction found, from its
// cancellation reasons or, when those are missing, by reading the markers. again reports a cancellation for
// a reason that passes (a slot item written meanwhile, a conflict with another transaction, throttling),
// after which the transaction is read and tried again.
func (s *Store) dropApplied(ctx context.Context, parts []*part, actions int, markers []marker,
	tce *types.TransactionCanceledException) (dropped int, again bool, err error) {
	applied := make([]bool, len(markers))
	if reasons := tce.CancellationReasons; len(reasons) == actions {
		byAction := make(map[int]int, len(markers))
		for i, m := range markers {
			byAction[m.action] = i
		}
		for a, r := range reasons {
			code := aws.ToString(r.Code)
			switch code {
			case "", "None":
			case "ConditionalCheckFailed":
				if i, ok := byAction[a]; ok {
					applied[i] = true
				} else {
					again = true // a slot item's version moved on
				}
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				again = true
			default:
				return 0, false, fmt.Errorf("%w (action %d: %s: %s)", tce, a, code, aws.ToString(r.Message))
			}
		}
	} else {
		facts := make([]*event.Fact, len(markers))
		for i, m := range markers {
			facts[i] = parts[m.part].facts[m.fact]
		}
		done, err := s.applied(ctx, facts)
		if err != nil {
			return 0, false, errors.Join(tce, err)
		}
		for i, f := range facts {
			applied[i] = done[f.ID]
		}
		// Without reasons the slot items may have moved on too: they are read again in any case.
		again = true
	}
	// Remove the applied facts, from the last so that indexes stay valid; the parts' slices are copied
	// first, since they share the caller's arrays.
	cloned := make([]bool, len(parts))
	for i := len(markers) - 1; i >= 0; i-- {
		if !applied[i] {
			continue
		}
		p := parts[markers[i].part]
		if !cloned[markers[i].part] {
			p.facts = slices.Clone(p.facts)
			cloned[markers[i].part] = true
		}
		p.facts = slices.Delete(p.facts, markers[i].fact, markers[i].fact+1)
		dropped++
	}
	return dropped, again, nil
}

// applied reads which of the facts have a marker (strongly consistent reads, 100 keys a call), and returns
// their ids.
func (s *Store) applied(ctx context.Context, facts []*event.Fact) (map[string]bool, error) {
	keys := make([]map[string]types.AttributeValue, len(facts))
	for i, f := range facts {
		keys[i] = map[string]types.AttributeValue{
			PartitionKey: &types.AttributeValueMemberS{Value: markerPK(f.ID)},
			SortKey:      &types.AttributeValueMemberS{Value: markerSort},
		}
	}
	done := make(map[string]bool)
	err := s.batchGet(ctx, keys, "#pk", map[string]string{"#pk": PartitionKey}, func(av map[string]types.AttributeValue) error {
		if pk, ok := av[PartitionKey].(*types.AttributeValueMemberS); ok {
			done[strings.TrimPrefix(pk.Value, markerPrefix)] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read markers: %w", err)
	}
	return done, nil
}

// merged is a window being read: the merge of its slot items.
type merged struct {
	window
	agg analytics.Aggregate
}

// Query implements analytics.Store (see the package documentation for the reads it makes).
func (s *Store) Query(ctx context.Context, q analytics.Query) ([]analytics.Window, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("query", err)
	}
	if s.winErr != nil {
		return nil, s.errorf("query", s.winErr)
	}
	// The windows that overlap [From, To) start at or after the start of From's window and before To.
	var from, to time.Time
	var lo, hi string
	if !q.From.IsZero() {
		from = s.win.Start(q.From)
		lo = startKey(from)
	}
	if !q.To.IsZero() {
		to = ceilSecond(q.To)
		hi = startKey(to)
	}
	windows := map[string]*merged{}
	keep := func(items []map[string]types.AttributeValue) error {
		for _, av := range items {
			pk, start, typ, src, err := windowOf(av)
			if err != nil {
				return err
			}
			if (q.Type != "" && typ != q.Type) || (q.Source != "" && src != q.Source) ||
				(!from.IsZero() && start.Before(from)) || (!to.IsZero() && !start.Before(to)) {
				continue
			}
			var a analytics.Aggregate
			if b, ok := av[attrAgg].(*types.AttributeValueMemberB); !ok {
				return fmt.Errorf("window item %s %v has no agg: the table holds items of another layout; "+
					"write the aggregates to a new table", pk, av[SortKey])
			} else if err := a.UnmarshalBinary(b.Value); err != nil {
				return fmt.Errorf("window %s %v: %w", pk, av[SortKey], err)
			}
			key := pk + "\x00" + startKey(start)
			m := windows[key]
			if m == nil {
				m = &merged{window: window{pk: pk, typ: typ, src: src, start: start}}
				windows[key] = m
			}
			if err := m.agg.Merge(&a); err != nil {
				return fmt.Errorf("window %s %v: %w", pk, av[SortKey], err)
			}
		}
		return nil
	}
	var err error
	switch {
	case q.Type != "" && q.Source != "":
		err = s.query(ctx, "", PartitionKey, windowPK(q.Type, q.Source), lo, hi, true, keep)
	case !q.From.IsZero() && !q.To.IsZero() && q.To.Sub(from) <= time.Duration(s.queryHours)*time.Hour:
		for h := from.Truncate(time.Hour); h.Before(q.To) && err == nil; h = h.Add(time.Hour) {
			err = s.query(ctx, ByHourIndex, HourAttribute, hourKey(h), lo, hi, false, keep)
		}
	default:
		err = s.scanIndex(ctx, keep)
	}
	if err != nil {
		return nil, s.errorf("query", err)
	}
	now := s.now()
	out := make([]analytics.Window, 0, len(windows))
	for _, m := range windows {
		out = append(out, analytics.NewWindow(s.win, m.start, m.typ, m.src, &m.agg, now))
	}
	slices.SortFunc(out, func(a, b analytics.Window) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Source, b.Source))
	})
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// windowOf returns the key, start, type and source of a window slot item.
func windowOf(av map[string]types.AttributeValue) (pk string, start time.Time, typ, src string, err error) {
	str := func(name string) string {
		if s, ok := av[name].(*types.AttributeValueMemberS); ok {
			return s.Value
		}
		return ""
	}
	pk = str(PartitionKey)
	if start, _, err = parseSK(str(SortKey)); err != nil {
		return "", time.Time{}, "", "", fmt.Errorf("window item %s: %w: the table holds items of another layout; "+
			"write the aggregates to a new table", pk, err)
	}
	return pk, start, str(attrType), str(attrSource), nil
}

// readProjection is what Query reads of a slot item.
const readProjection = "#pk, #sk, #type, #source, #agg"

// readNames are the attribute names of readProjection.
func readNames() map[string]string {
	return map[string]string{"#pk": PartitionKey, "#sk": SortKey, "#type": attrType, "#source": attrSource, "#agg": attrAgg}
}

// query reads the partition hashAttr = hash of the table or of an index, with sk at or after lo and before
// hi (each bound optional), page by page.
func (s *Store) query(ctx context.Context, index, hashAttr, hash, lo, hi string, consistent bool,
	keep func([]map[string]types.AttributeValue) error) error {
	names := readNames()
	names["#h"] = hashAttr
	values := map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: hash}}
	cond := "#h = :h"
	if lo != "" {
		values[":lo"] = &types.AttributeValueMemberS{Value: lo}
	}
	if hi != "" {
		values[":hi"] = &types.AttributeValueMemberS{Value: hi}
	}
	// A slot key "<start>#<slot>" sorts after its start key and before the next start's: BETWEEN lo AND hi
	// selects the windows that start at or after lo and before hi.
	switch {
	case lo != "" && hi != "":
		if lo >= hi {
			return nil
		}
		cond += " AND #sk BETWEEN :lo AND :hi"
	case lo != "":
		cond += " AND #sk >= :lo"
	case hi != "":
		cond += " AND #sk < :hi"
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.name), KeyConditionExpression: aws.String(cond),
		ProjectionExpression: aws.String(readProjection), ExpressionAttributeNames: names,
		ExpressionAttributeValues: values}
	if index != "" {
		in.IndexName = aws.String(index)
	}
	if consistent {
		in.ConsistentRead = aws.Bool(true)
	}
	p := dynamodb.NewQueryPaginator(s.api, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s: %w", hash, err)
		}
		if err := keep(out.Items); err != nil {
			return err
		}
	}
	return nil
}

// scanIndex reads the whole index of windows, page by page.
func (s *Store) scanIndex(ctx context.Context, keep func([]map[string]types.AttributeValue) error) error {
	p := dynamodb.NewScanPaginator(s.api, &dynamodb.ScanInput{TableName: aws.String(s.name), IndexName: aws.String(ByHourIndex),
		ProjectionExpression: aws.String(readProjection), ExpressionAttributeNames: readNames()})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("scan index %s: %w", ByHourIndex, err)
		}
		if err := keep(out.Items); err != nil {
			return err
		}
	}
	return nil
}

// validate checks that f can be counted and keyed, as analytics.Local does.
func validate(f *event.Fact) error {
	switch {
	case f.ID == "":
		return fmt.Errorf("%w: no id", analytics.ErrInvalidFact)
	case f.Type == "":
		return fmt.Errorf("%w: %q: no type", analytics.ErrInvalidFact, f.ID)
	case f.Time.IsZero():
		return fmt.Errorf("%w: %q: no time", analytics.ErrInvalidFact, f.ID)
	case strings.IndexByte(f.Type, 0) >= 0 || strings.IndexByte(f.Source, 0) >= 0:
		return fmt.Errorf("%w: %q: NUL in type or source", analytics.ErrInvalidFact, f.ID)
	}
	return nil
}

// errorf wraps err with the operation and the table's name.
func (s *Store) errorf(op string, err error) error {
	return fmt.Errorf("analytics/dynamo: %s: table %s: %w", op, s.name, err)
}
