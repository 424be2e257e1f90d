// Package dynamo is the DynamoDB adapter of the curated table (package store): one item per curated event,
// keyed by its id.
//
// The table's key schema is a single partition key, the string attribute "id" (KeyAttribute), with no sort
// key. Each item holds the event's fields as attributes of the same names as its JSON form; the event's data
// and enriched fields are native maps and lists (the data is kept as JSON text, in "dataJSON", when one of its
// numbers is beyond DynamoDB's 38 digits, or when it is an empty object or array).
//
// Writes are put-if-absent: Put makes one conditional PutItem per item (attribute_not_exists(id)), so a
// retried or replayed batch leaves every item, and its first CuratedAt, as it was, even when writers race on
// one id. BatchWriteItem cannot be conditional; PutBatch uses it for bulk loads, where a read first selects
// the absent ids, and documents the race that leaves.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/awsretry"
	"github.com/serverless-data-platform/sdp/workflow/store"
)

// API is the part of the DynamoDB client the Table uses. *dynamodb.Client satisfies it.
type API interface {
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Scan(ctx context.Context, params *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, params *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(ctx context.Context, params *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// DynamoDB's request limits.
const (
	batchWriteMax = 25
	batchGetMax   = 100
)

// Table is the curated table in DynamoDB. It is safe for concurrent use.
type Table struct {
	api         API
	name        string
	concurrency int
	newBackOff  func() backoff.BackOff
}

// Option configures a Table.
type Option func(*Table)

// WithConcurrency sets how many PutItem calls one Put makes at a time (default 16).
func WithConcurrency(n int) Option {
	return func(t *Table) {
		if n > 0 {
			t.concurrency = n
		}
	}
}

// WithBackOff sets the policy of the Table's own retries (of throttled calls and of the unprocessed part of a
// batch call), on top of the SDK client's retries. Each retried call gets a fresh policy from newBackOff. The
// default is exponential with jitter, from 50 ms up to 2 s between tries, for at most 15 s; every wait also
// ends with the call's context.
func WithBackOff(newBackOff func() backoff.BackOff) Option {
	return func(t *Table) {
		if newBackOff != nil {
			t.newBackOff = newBackOff
		}
	}
}

// New returns the table name reached through api. It does no I/O.
func New(api API, name string, opts ...Option) *Table {
	t := &Table{api: api, name: name, concurrency: 16, newBackOff: defaultBackOff}
	for _, o := range opts {
		o(t)
	}
	return t
}

// defaultBackOff is exponential with jitter, bounded to 15 s.
func defaultBackOff() backoff.BackOff {
	return awsretry.Exponential(50*time.Millisecond, 2*time.Second, 15*time.Second)
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// request is one item ready to be written.
type request struct {
	index int
	id    string
	av    map[string]types.AttributeValue
}

// prepare checks and encodes items, keeping the first of each id. An item without an id, or whose size as
// JSON (as the local table measures it) or as a DynamoDB item is over store.MaxItemBytes, fails the call with
// a *store.ItemError before anything is written.
func (t *Table) prepare(items []event.Curated) ([]request, error) {
	seen := make(map[string]bool, len(items))
	reqs := make([]request, 0, len(items))
	for i := range items {
		c := &items[i]
		if c.ID == "" {
			return nil, &store.ItemError{Index: i, Err: store.ErrNoID}
		}
		if seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", c.ID, err)
		}
		av, err := marshalItem(c)
		if err != nil {
			return nil, fmt.Errorf("item %q: %w", c.ID, err)
		}
		if size := max(len(raw), itemSize(av)); size > store.MaxItemBytes {
			return nil, &store.ItemError{ID: c.ID, Index: i, Size: size, Err: store.ErrItemTooLarge}
		}
		reqs = append(reqs, request{index: i, id: c.ID, av: av})
	}
	return reqs, nil
}

// Put writes the items whose id is not in the table yet and leaves the others as they are: one conditional
// PutItem per item (attribute_not_exists(id)), up to the Table's concurrency at a time; an item already there
// is a success. Of items sharing an id in one call, the first is written. An item without an id or too large
// fails the call with a permanent *store.ItemError before anything is written. Throttled calls are retried
// with backoff; any other failure is returned (joined, one per failed item) after the other items were tried,
// and the call may be retried as a whole.
func (t *Table) Put(ctx context.Context, items []event.Curated) error {
	if err := ctx.Err(); err != nil {
		return t.errorf("put", err)
	}
	reqs, err := t.prepare(items)
	if err != nil {
		return t.errorf("put", err)
	}
	if len(reqs) == 0 {
		return nil
	}
	errs := make([]error, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(t.concurrency, len(reqs)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = t.putOne(ctx, &reqs[i])
			}
		})
	}
feed:
	for i := range reqs {
		select {
		case next <- i:
		case <-ctx.Done():
			// The items not handed out yet are not tried.
			errs[i] = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return t.errorf(fmt.Sprintf("put %d items", len(reqs)), err)
	}
	return nil
}

// putOne writes one item if its id is absent, retrying throttled calls.
func (t *Table) putOne(ctx context.Context, r *request) error {
	in := &dynamodb.PutItemInput{
		TableName:                aws.String(t.name),
		Item:                     r.av,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": KeyAttribute},
	}
	b := t.backOff(ctx)
	for {
		_, err := t.api.PutItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil, errors.As(err, &ccf):
			return nil
		case itemTooLarge(err):
			return &store.ItemError{ID: r.id, Index: r.index, Size: itemSize(r.av), Err: fmt.Errorf("%w: %w", store.ErrItemTooLarge, err)}
		case !awsretry.DynamoDBTransient(err):
			return fmt.Errorf("item %q: %w", r.id, err)
		}
		if werr := awsretry.Wait(ctx, b); werr != nil {
			return fmt.Errorf("item %q: %w (retries: %w)", r.id, err, werr)
		}
	}
}

// PutBatch is Put for bulk loads (a backfill into the table, a restore), in far fewer calls: BatchGetItem reads
// which ids are present (strongly consistent, 100 keys a call), then BatchWriteItem writes the absent items,
// 25 a call; unprocessed keys and items are sent again with backoff until none is left or the backoff gives
// up. Items are validated as Put does.
//
// BatchWriteItem cannot be conditional, so PutBatch is put-if-absent only when nobody else writes the same
// ids meanwhile: an item written by another writer between the read and the write is overwritten (its
// CuratedAt becomes this call's). The workflow's Put, which replays race with, does not use it.
func (t *Table) PutBatch(ctx context.Context, items []event.Curated) error {
	if err := ctx.Err(); err != nil {
		return t.errorf("put batch", err)
	}
	reqs, err := t.prepare(items)
	if err != nil {
		return t.errorf("put batch", err)
	}
	for start := 0; start < len(reqs); start += batchGetMax {
		chunk := reqs[start:min(start+batchGetMax, len(reqs))]
		present, err := t.present(ctx, chunk)
		if err != nil {
			return t.errorf(fmt.Sprintf("put batch: read %d ids", len(chunk)), err)
		}
		var writes []types.WriteRequest
		for i := range chunk {
			if present[chunk[i].id] {
				continue
			}
			writes = append(writes, types.WriteRequest{PutRequest: &types.PutRequest{Item: chunk[i].av}})
		}
		for w := 0; w < len(writes); w += batchWriteMax {
			part := writes[w:min(w+batchWriteMax, len(writes))]
			if err := t.batchWrite(ctx, part); err != nil {
				return t.errorf(fmt.Sprintf("put batch: write %d items", len(part)), err)
			}
		}
	}
	return nil
}

// present returns which ids of reqs (at most 100) are in the table.
func (t *Table) present(ctx context.Context, reqs []request) (map[string]bool, error) {
	keys := make([]map[string]types.AttributeValue, len(reqs))
	for i := range reqs {
		keys[i] = key(reqs[i].id)
	}
	found := make(map[string]bool)
	pending := map[string]types.KeysAndAttributes{t.name: {
		Keys: keys, ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#id"), ExpressionAttributeNames: map[string]string{"#id": KeyAttribute},
	}}
	b := t.backOff(ctx)
	for {
		out, err := t.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
		if err != nil && !awsretry.DynamoDBTransient(err) {
			return nil, err
		}
		if err == nil {
			for _, av := range out.Responses[t.name] {
				if s, ok := av[KeyAttribute].(*types.AttributeValueMemberS); ok {
					found[s.Value] = true
				}
			}
			if len(out.UnprocessedKeys[t.name].Keys) == 0 {
				return found, nil
			}
			pending = out.UnprocessedKeys
		}
		if werr := awsretry.Wait(ctx, b); werr != nil {
			return nil, fmt.Errorf("%d keys unprocessed: %w", len(pending[t.name].Keys), errors.Join(err, werr))
		}
	}
}

// batchWrite writes up to 25 items with BatchWriteItem, sending the unprocessed ones again with backoff.
func (t *Table) batchWrite(ctx context.Context, writes []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{t.name: writes}
	b := t.backOff(ctx)
	for {
		out, err := t.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		switch {
		case err == nil && len(out.UnprocessedItems[t.name]) == 0:
			return nil
		case err == nil:
			pending = out.UnprocessedItems
		case itemTooLarge(err):
			return &store.ItemError{Index: -1, Err: fmt.Errorf("%w: %w", store.ErrItemTooLarge, err)}
		case !awsretry.DynamoDBTransient(err):
			return err
		}
		if werr := awsretry.Wait(ctx, b); werr != nil {
			return fmt.Errorf("%d items unprocessed: %w", len(pending[t.name]), errors.Join(err, werr))
		}
	}
}

// Get returns the item with the id, and whether it exists (a strongly consistent read).
func (t *Table) Get(ctx context.Context, id string) (event.Curated, bool, error) {
	if err := ctx.Err(); err != nil {
		return event.Curated{}, false, t.errorf(fmt.Sprintf("get %q", id), err)
	}
	out, err := t.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(t.name), Key: key(id),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return event.Curated{}, false, t.errorf(fmt.Sprintf("get %q", id), err)
	}
	if len(out.Item) == 0 {
		return event.Curated{}, false, nil
	}
	c, err := unmarshalItem(out.Item)
	if err != nil {
		return event.Curated{}, false, t.errorf(fmt.Sprintf("get %q", id), err)
	}
	return c, true, nil
}

// Count returns the number of items in the table: a strongly consistent Scan with Select COUNT, page by page
// (it reads the whole table).
func (t *Table) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, t.errorf("count", err)
	}
	p := dynamodb.NewScanPaginator(t.api, &dynamodb.ScanInput{TableName: aws.String(t.name),
		Select: types.SelectCount, ConsistentRead: aws.Bool(true)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, t.errorf("count", err)
		}
		n += int(out.Count)
	}
	return n, nil
}

// Scan calls fn with each item, in no particular order (DynamoDB's hash order), page by page with strongly
// consistent reads, until fn returns false or the table ends. Unlike the local table's, the pages are not
// one snapshot: an item written during the scan may or may not be seen.
func (t *Table) Scan(ctx context.Context, fn func(event.Curated) bool) error {
	if err := ctx.Err(); err != nil {
		return t.errorf("scan", err)
	}
	p := dynamodb.NewScanPaginator(t.api, &dynamodb.ScanInput{TableName: aws.String(t.name),
		ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return t.errorf("scan", err)
		}
		for _, av := range out.Items {
			c, err := unmarshalItem(av)
			if err != nil {
				return t.errorf("scan", err)
			}
			if !fn(c) {
				return nil
			}
		}
	}
	return nil
}

// errorf wraps err with the operation and the table's name.
func (t *Table) errorf(op string, err error) error {
	return fmt.Errorf("dynamo: %s: table %s: %w", op, t.name, err)
}

// backOff returns a fresh retry policy bounded by ctx.
func (t *Table) backOff(ctx context.Context) backoff.BackOff {
	return backoff.WithContext(t.newBackOff(), ctx)
}

// key returns the key of the item with the id.
func key(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: id}}
}

// retryable reports whether err is a throttling or transient service error, after which the same call may

// itemTooLarge reports whether err is DynamoDB's refusal of an item over its size limit.
func itemTooLarge(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationException" &&
		strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "item size")
}
