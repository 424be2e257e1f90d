// Package dynamo is the DynamoDB adapter of the analytics aggregates (analytics.Store): per-minute windows
// per event type and source, counted exactly once per event id under retries, bisections and replays.
//
// # Table
//
// One table, with the string key attributes pk (partition) and sk (sort), and one global secondary index,
// byHour (partition key hour, sort key sk, all attributes projected). It holds two kinds of items:
//
//   - a window: pk "window#<len(type)>#<type>#<source>", sk the window's start as 16 hex digits that sort by
//     time, hour the start's hour (RFC 3339); attributes type, source, start, count, and per measure m the
//     numbers sum_m, count_m, min_m and max_m;
//   - an applied marker: pk "applied#<event id>", sk "applied", appliedAt (Unix seconds). Markers have no
//     hour attribute, so the index holds windows only.
//
// # Writes
//
// Apply fences each fact by its marker. Facts are grouped by window, and each group is written in one
// TransactWriteItems: a Put of each fact's marker with the condition attribute_not_exists(pk), and one
// UpdateItem of the window that ADDs the group's count, sums and measure counts. A transaction that finds a
// marker already there is cancelled as a whole; its cancellation reasons name the facts applied before,
// which are dropped, and the rest is written again. A transaction holds at most 100 actions (facts plus
// windows), so a large call is several transactions: if one fails, the ones before it stay counted, and
// retrying the call counts only the rest.
//
// Apply first reads the markers of its facts (BatchGetItem, strongly consistent) and drops the facts applied
// before. Minimum and maximum are not additive, so they are written next, before the transactions, by
// conditional updates that only ever lower a minimum or raise a maximum (SET max_m = :v if it does not exist
// or is below :v). They are idempotent: written again by the retry of a call that failed before its
// transactions, they change nothing; and written before, they cannot be lost by a failure between the two.
// Only a replay racing the original with other measure values could leave its values in the extremes. A
// window whose count is still zero (its extremes were written, its transaction not yet) is not returned by
// Query.
//
// # Reads
//
// Query of one type and one source is a Query of the table on the window partition, by sort key range.
// Any other query is a Query of the index per hour of the range (strongly consistent reads are not available
// on a global secondary index: a window written a moment ago may be missing or stale), or a Scan of the
// index when the range is open or spans more than the Store's query-hours limit.
package dynamo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, params *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// maxTransactItems is DynamoDB's limit of actions in one TransactWriteItems.
const maxTransactItems = 100

// Store is the analytics aggregates in a DynamoDB table. It is safe for concurrent use.
type Store struct {
	api         API
	name        string
	concurrency int
	queryHours  int
	newBackOff  func() backoff.BackOff
	now         func() time.Time
}

var _ analytics.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithConcurrency sets how many minimum and maximum updates one Apply makes at a time (default 8).
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

// WithClock sets the clock that stamps the applied markers (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns the Store on the table name reached through api. It does no I/O.
func New(api API, name string, opts ...Option) *Store {
	s := &Store{api: api, name: name, concurrency: 8, queryHours: 168, newBackOff: defaultBackOff, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// defaultBackOff is exponential with jitter, bounded to 15 s.
func defaultBackOff() backoff.BackOff {
	return awsretry.Exponential(20*time.Millisecond, time.Second, 15*time.Second)
}

// Name returns the table's name.
func (s *Store) Name() string { return s.name }

// group is the facts of one call that fall in one window.
type group struct {
	pk, sk, typ, src string
	start            time.Time
	facts            []*event.Fact
}

// Apply implements analytics.Store: it counts each fact whose id has no marker yet and writes its marker in
// the same transaction (see the package documentation). Facts whose marker exists, and later facts with an
// id seen earlier in facts, are skipped. An invalid fact fails the call, before any write, with an error
// wrapping analytics.ErrInvalidFact.
//
// Throttled calls and transactions cancelled by a conflict with another are retried with backoff. On another
// error, the transactions before the failed one stay counted, and applied says how many facts they counted:
// retrying the call counts only the others. Measures that are NaN or infinite are ignored, as by
// analytics.Local; a sum beyond DynamoDB's 38 significant digits fails the call.
func (s *Store) Apply(ctx context.Context, facts []event.Fact) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.errorf("apply", err)
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
	// Facts applied before are dropped now, so that their values cannot reach the minimum and maximum,
	// which are written outside the transactions.
	done, err := s.applied(ctx, fresh)
	if err != nil {
		return 0, s.errorf(fmt.Sprintf("apply %d facts", len(facts)), err)
	}
	fresh = slices.DeleteFunc(fresh, func(f *event.Fact) bool { return done[f.ID] })
	groups := groupFacts(fresh)
	if len(groups) == 0 {
		return 0, nil
	}
	if err := s.extremes(ctx, groups); err != nil {
		return 0, s.errorf(fmt.Sprintf("apply %d facts: minimum and maximum", len(facts)), err)
	}
	applied := 0
	for _, tx := range pack(groups) {
		n, err := s.commit(ctx, tx)
		applied += n
		if err != nil {
			return applied, s.errorf(fmt.Sprintf("apply %d facts: transaction of %d windows", len(facts), len(tx)), err)
		}
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
func groupFacts(facts []*event.Fact) []*group {
	byKey := make(map[string]*group)
	var groups []*group
	for _, f := range facts {
		pk, sk := windowPK(f.Type, f.Source), windowSK(f.Time)
		g := byKey[pk+"\x00"+sk]
		if g == nil {
			g = &group{pk: pk, sk: sk, typ: f.Type, src: f.Source, start: f.Time.Truncate(analytics.WindowSize).UTC()}
			byKey[pk+"\x00"+sk] = g
			groups = append(groups, g)
		}
		g.facts = append(g.facts, f)
	}
	return groups
}

// pack splits the groups into transactions of at most 100 actions: one per fact and one per window. A
// window with more facts than one transaction holds is split, and no window appears twice in a transaction.
func pack(groups []*group) [][]*group {
	var txs [][]*group
	var cur []*group
	actions := 0
	for _, g := range groups {
		rest := g.facts
		for len(rest) > 0 {
			room := maxTransactItems - actions - 1
			if room < 1 {
				txs, cur, actions = append(txs, cur), nil, 0
				continue
			}
			k := min(room, len(rest))
			part := *g
			part.facts = rest[:k]
			cur = append(cur, &part)
			actions += k + 1
			rest = rest[k:]
		}
	}
	if len(cur) > 0 {
		txs = append(txs, cur)
	}
	return txs
}

// commit writes one transaction's groups, dropping the facts whose marker turns out to exist, until the rest
// is written. It returns how many facts it counted.
func (s *Store) commit(ctx context.Context, tx []*group) (int, error) {
	b := backoff.WithContext(s.newBackOff(), ctx)
	stamp := strconv.FormatInt(s.now().Unix(), 10)
	for {
		items, owners := s.transactItems(tx, stamp)
		if len(owners) == 0 {
			return 0, nil
		}
		_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return len(owners), nil
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
		dropped, again, err := s.dropApplied(ctx, tx, items, owners, tce)
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

// owner says which fact of which group a transaction action marks; the window updates have none.
type owner struct {
	group, fact int
	action      int
}

// transactItems builds the transaction of the groups' facts: the markers, then one update per window.
func (s *Store) transactItems(tx []*group, stamp string) ([]types.TransactWriteItem, []owner) {
	var items []types.TransactWriteItem
	var owners []owner
	table := aws.String(s.name)
	for gi, g := range tx {
		if len(g.facts) == 0 {
			continue
		}
		for fi, f := range g.facts {
			owners = append(owners, owner{group: gi, fact: fi, action: len(items)})
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
		u := newUpdate(g)
		u.add(attrCount, strconv.Itoa(len(g.facts)))
		for _, m := range sortedMeasures(g.facts) {
			sum, n := 0.0, 0
			for _, f := range g.facts {
				if v, ok := f.Measures[m]; ok && finite(v) {
					sum += v
					n++
				}
			}
			u.add(prefixSum+m, formatSum(sum))
			u.add(prefixCount+m, strconv.Itoa(n))
		}
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName: table, Key: u.key, UpdateExpression: aws.String(u.expression()),
			ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
		}})
	}
	return items, owners
}

// dropApplied removes from tx the facts whose marker the cancelled transaction found, from its cancellation
// reasons or, when those are missing, by reading the markers. again reports a cancellation for a reason that
// passes (a conflict with another transaction, throttling), after which the transaction is tried again.
func (s *Store) dropApplied(ctx context.Context, tx []*group, items []types.TransactWriteItem, owners []owner,
	tce *types.TransactionCanceledException) (dropped int, again bool, err error) {
	applied := make([]bool, len(owners))
	if reasons := tce.CancellationReasons; len(reasons) == len(items) {
		marker := make(map[int]int, len(owners))
		for i, o := range owners {
			marker[o.action] = i
		}
		for a, r := range reasons {
			code := aws.ToString(r.Code)
			switch code {
			case "", "None":
			case "ConditionalCheckFailed":
				if i, ok := marker[a]; ok {
					applied[i] = true
				}
			case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				again = true
			default:
				return 0, false, fmt.Errorf("%w (action %d: %s: %s)", tce, a, code, aws.ToString(r.Message))
			}
		}
	} else {
		facts := make([]*event.Fact, len(owners))
		for i, o := range owners {
			facts[i] = tx[o.group].facts[o.fact]
		}
		done, err := s.applied(ctx, facts)
		if err != nil {
			return 0, false, errors.Join(tce, err)
		}
		for i, f := range facts {
			applied[i] = done[f.ID]
		}
	}
	// Remove the applied facts, from the last so that indexes stay valid.
	for i := len(owners) - 1; i >= 0; i-- {
		if !applied[i] {
			continue
		}
		g := tx[owners[i].group]
		g.facts = slices.Delete(slices.Clone(g.facts), owners[i].fact, owners[i].fact+1)
		tx[owners[i].group] = g
		dropped++
	}
	return dropped, again, nil
}

// applied reads which of the facts have a marker (strongly consistent reads, 100 keys a call), and returns
// their ids.
func (s *Store) applied(ctx context.Context, facts []*event.Fact) (map[string]bool, error) {
	done := make(map[string]bool)
	for start := 0; start < len(facts); start += 100 {
		keys := make([]map[string]types.AttributeValue, 0, 100)
		for _, f := range facts[start:min(start+100, len(facts))] {
			keys = append(keys, map[string]types.AttributeValue{
				PartitionKey: &types.AttributeValueMemberS{Value: markerPK(f.ID)},
				SortKey:      &types.AttributeValueMemberS{Value: markerSort},
			})
		}
		pending := map[string]types.KeysAndAttributes{s.name: {Keys: keys, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String("#pk"), ExpressionAttributeNames: map[string]string{"#pk": PartitionKey}}}
		b := backoff.WithContext(s.newBackOff(), ctx)
		for {
			out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil && !awsretry.DynamoDBTransient(err) {
				return nil, fmt.Errorf("read markers: %w", err)
			}
			if err == nil {
				for _, av := range out.Responses[s.name] {
					if pk, ok := av[PartitionKey].(*types.AttributeValueMemberS); ok {
						done[strings.TrimPrefix(pk.Value, markerPrefix)] = true
					}
				}
				if len(out.UnprocessedKeys[s.name].Keys) == 0 {
					break
				}
				pending = out.UnprocessedKeys
			}
			if werr := awsretry.Wait(ctx, b); werr != nil {
				return nil, fmt.Errorf("read markers: %w", errors.Join(err, werr))
			}
		}
	}
	return done, nil
}

// extremes writes the groups' minimum and maximum of each measure. The windows are written up to the Store's
// concurrency at a time, the extremes of one window one after the other: concurrent updates of one item gain
// nothing, and some emulators apply them without isolation.
func (s *Store) extremes(ctx context.Context, groups []*group) error {
	type extreme struct {
		attr, op string
		v        float64
	}
	jobs := make([][]extreme, len(groups))
	for i, g := range groups {
		for _, m := range sortedMeasures(g.facts) {
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, f := range g.facts {
				if v, ok := f.Measures[m]; ok && finite(v) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
			jobs[i] = append(jobs[i], extreme{prefixMin + m, ">", lo}, extreme{prefixMax + m, "<", hi})
		}
	}
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(s.concurrency, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				for _, x := range jobs[i] {
					if err := s.extreme(ctx, groups[i], x.attr, x.op, x.v); err != nil {
						errs[i] = err
						break
					}
				}
			}
		})
	}
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// extreme sets the window's attribute to v if it is absent or if attr op v holds (">" for a minimum, "<" for
// a maximum); a condition that fails means the window holds a better value already.
func (s *Store) extreme(ctx context.Context, g *group, attr, op string, v float64) error {
	u := newUpdate(g)
	u.names["#x"] = attr
	u.values[":x"] = &types.AttributeValueMemberN{Value: formatFloat(v)}
	u.sets = append(u.sets, "#x = :x")
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.name), Key: u.key, UpdateExpression: aws.String(u.expression()),
		ConditionExpression:      aws.String("attribute_not_exists(#x) OR #x " + op + " :x"),
		ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.values,
	}
	b := backoff.WithContext(s.newBackOff(), ctx)
	for {
		_, err := s.api.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil, errors.As(err, &ccf):
			return nil
		case !awsretry.DynamoDBTransient(err):
			return fmt.Errorf("window %s %s: %s: %w", g.pk, g.sk, attr, err)
		}
		if werr := awsretry.Wait(ctx, b); werr != nil {
			return fmt.Errorf("window %s %s: %s: %w", g.pk, g.sk, attr, errors.Join(err, werr))
		}
	}
}

// update builds the update expression of a window item: it always sets the window's descriptive attributes,
// so that whichever write comes first creates a complete item.
type update struct {
	key    map[string]types.AttributeValue
	names  map[string]string
	values map[string]types.AttributeValue
	sets   []string
	adds   []string
}

// newUpdate starts the update of g's window.
func newUpdate(g *group) *update {
	return &update{
		key: map[string]types.AttributeValue{
			PartitionKey: &types.AttributeValueMemberS{Value: g.pk},
			SortKey:      &types.AttributeValueMemberS{Value: g.sk},
		},
		names: map[string]string{"#type": attrType, "#source": attrSource, "#start": attrStart, "#hour": HourAttribute},
		values: map[string]types.AttributeValue{
			":type":   &types.AttributeValueMemberS{Value: g.typ},
			":source": &types.AttributeValueMemberS{Value: g.src},
			":start":  &types.AttributeValueMemberS{Value: g.start.Format(time.RFC3339)},
			":hour":   &types.AttributeValueMemberS{Value: hourKey(g.start)},
		},
		sets: []string{"#type = :type", "#source = :source", "#start = :start", "#hour = :hour"},
	}
}

// add adds the number n to the attribute.
func (u *update) add(attr, n string) {
	i := strconv.Itoa(len(u.adds))
	u.names["#a"+i] = attr
	u.values[":a"+i] = &types.AttributeValueMemberN{Value: n}
	u.adds = append(u.adds, "#a"+i+" :a"+i)
}

// expression returns the update expression.
func (u *update) expression() string {
	e := "SET " + strings.Join(u.sets, ", ")
	if len(u.adds) > 0 {
		e += " ADD " + strings.Join(u.adds, ", ")
	}
	return e
}

// sortedMeasures returns the names of the finite measures of facts, sorted.
func sortedMeasures(facts []*event.Fact) []string {
	var names []string
	seen := map[string]bool{}
	for _, f := range facts {
		for m, v := range f.Measures {
			if finite(v) && !seen[m] {
				seen[m] = true
				names = append(names, m)
			}
		}
	}
	slices.Sort(names)
	return names
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Query implements analytics.Store (see the package documentation for the reads it makes).
func (s *Store) Query(ctx context.Context, q analytics.Query) ([]analytics.Window, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.errorf("query", err)
	}
	var lo, hi string
	if !q.From.IsZero() {
		lo = windowSK(q.From)
	}
	if !q.To.IsZero() {
		hi = windowSK(q.To)
	}
	var out []analytics.Window
	keep := func(items []map[string]types.AttributeValue) error {
		for _, av := range items {
			w, ok, err := decodeWindow(av)
			if err != nil {
				return err
			}
			if !ok || (q.Type != "" && w.Type != q.Type) || (q.Source != "" && w.Source != q.Source) ||
				(!q.From.IsZero() && w.Start.Before(q.From.Truncate(analytics.WindowSize))) ||
				(!q.To.IsZero() && !w.Start.Before(q.To)) {
				continue
			}
			out = append(out, w)
		}
		return nil
	}
	var err error
	switch {
	case q.Type != "" && q.Source != "":
		err = s.query(ctx, "", PartitionKey, windowPK(q.Type, q.Source), lo, hi, true, keep)
	case !q.From.IsZero() && !q.To.IsZero() && q.To.Sub(q.From) <= time.Duration(s.queryHours)*time.Hour:
		for h := q.From.Truncate(time.Hour); h.Before(q.To) && err == nil; h = h.Add(time.Hour) {
			err = s.query(ctx, ByHourIndex, HourAttribute, hourKey(h), lo, hi, false, keep)
		}
	default:
		err = s.scanIndex(ctx, keep)
	}
	if err != nil {
		return nil, s.errorf("query", err)
	}
	slices.SortFunc(out, func(a, b analytics.Window) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Source, b.Source))
	})
	return out, nil
}

// query reads the partition hashAttr = hash of the table or of an index, with sk between lo and hi (each
// bound optional), page by page.
func (s *Store) query(ctx context.Context, index, hashAttr, hash, lo, hi string, consistent bool,
	keep func([]map[string]types.AttributeValue) error) error {
	names := map[string]string{"#h": hashAttr}
	values := map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: hash}}
	cond := "#h = :h"
	if lo != "" || hi != "" {
		names["#sk"] = SortKey
	}
	if lo != "" {
		values[":lo"] = &types.AttributeValueMemberS{Value: lo}
	}
	if hi != "" {
		values[":hi"] = &types.AttributeValueMemberS{Value: hi}
	}
	switch {
	case lo != "" && hi != "":
		cond += " AND #sk BETWEEN :lo AND :hi"
	case lo != "":
		cond += " AND #sk >= :lo"
	case hi != "":
		cond += " AND #sk <= :hi"
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.name), KeyConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values}
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
	p := dynamodb.NewScanPaginator(s.api, &dynamodb.ScanInput{TableName: aws.String(s.name), IndexName: aws.String(ByHourIndex)})
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

// retryable reports whether err is a throttling or transient service error, after which the same call may
