package workbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/shardlog"
)

// Workbench runs the DLQ operations over its ports. It is safe for concurrent use, but two redrives of the
// same queue at once may send a message's records twice (the writes downstream are idempotent).
type Workbench struct {
	store     Store
	stream    Stream
	validator event.Validator
	failures  Failures
	now       func() time.Time
	retention time.Duration
	// emptyReads bounds the empty reads in a row that end a range read (a Kinesis GetRecords may come back
	// empty while records follow).
	emptyReads int
}

// Option configures a Workbench.
type Option func(*Workbench)

// WithFailures sets where the handler's recorded errors are looked up (default: NoFailures).
func WithFailures(f Failures) Option {
	return func(w *Workbench) {
		if f != nil {
			w.failures = f
		}
	}
}

// WithClock sets the clock of message ages (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(w *Workbench) {
		if now != nil {
			w.now = now
		}
	}
}

// WithRetention sets the stream's retention period, which explanations of expired records quote (default
// 24h, Kinesis's default).
func WithRetention(d time.Duration) Option {
	return func(w *Workbench) {
		if d > 0 {
			w.retention = d
		}
	}
}

// New returns the workbench of the queue store, whose on-failure records name ranges of stream, with v to
// validate the records read back.
func New(store Store, stream Stream, v event.Validator, opts ...Option) (*Workbench, error) {
	if store == nil || stream == nil || v == nil {
		return nil, errors.New("workbench: a store, a stream and a validator are required")
	}
	w := &Workbench{store: store, stream: stream, validator: v, failures: NoFailures{}, now: time.Now,
		retention: 24 * time.Hour, emptyReads: 5}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// Retention returns the stream's retention period the workbench assumes.
func (w *Workbench) Retention() time.Duration { return w.retention }

// NotOnFailure is the Group.Function and Group.Error of messages whose body is not an on-failure record (the
// original messages of an SQS source's dead-letter queue).
const NotOnFailure = "-"

// Group is a set of messages with the same function, error and shard.
type Group struct {
	// Function is the failed function's ARN (requestContext.functionArn).
	Function string `json:"function"`
	// Error is why the mapping gave up: the condition, the function error when there was one, and the
	// distinct errors the handler recorded for the records.
	Error string `json:"error"`
	Shard string `json:"shard"`
	// Messages and Records count the group's messages and the records their ranges cover.
	Messages int `json:"messages"`
	Records  int `json:"records"`
	// Oldest is the send time of the group's oldest message; OldestAgeSeconds its age at the listing.
	Oldest           time.Time `json:"oldest"`
	OldestAgeSeconds int64     `json:"oldestAgeSeconds"`
	// MessageIDs lists the group's messages, oldest first.
	MessageIDs []string `json:"messageIds"`
}

// Listing is the result of List.
type Listing struct {
	// Depth is how many messages were seen.
	Depth  int     `json:"depth"`
	Groups []Group `json:"groups"`
}

// parse decodes a body as an on-failure record; ok is false for any other body.
func parse(body []byte) (dlq.OnFailure, bool) {
	var of dlq.OnFailure
	if err := json.Unmarshal(body, &of); err != nil || of.KinesisBatchInfo.ShardID == "" || of.KinesisBatchInfo.StartSequenceNumber == "" {
		return dlq.OnFailure{}, false
	}
	return of, true
}

// errorOf describes why the batch of of failed, with the recorded errors of its records.
func errorOf(of dlq.OnFailure, recorded map[string]Failure) string {
	parts := []string{of.RequestContext.Condition}
	if fe := of.ResponseContext.FunctionError; fe != "" {
		parts = append(parts, "function error "+fe)
	}
	var names []string
	for _, f := range recorded {
		if f.Error != "" && !slices.Contains(names, f.Error) {
			names = append(names, f.Error)
		}
	}
	sort.Strings(names)
	if len(names) > 0 {
		parts = append(parts, strings.Join(names, ","))
	}
	return strings.Join(parts, ": ")
}

// List reads every message without consuming it and groups them by function, error and shard, the groups
// with the oldest messages first.
func (w *Workbench) List(ctx context.Context) (*Listing, error) {
	msgs, err := w.store.Peek(ctx)
	if err != nil {
		return nil, err
	}
	now := w.now()
	type key struct{ fn, err, shard string }
	idx := map[key]int{}
	out := &Listing{Depth: len(msgs), Groups: []Group{}}
	for _, m := range msgs {
		k := key{NotOnFailure, NotOnFailure, NotOnFailure}
		records := 0
		if of, ok := parse(m.Body); ok {
			bi := of.KinesisBatchInfo
			recorded, err := w.failures.Failures(ctx, bi.ShardID, bi.StartSequenceNumber, bi.EndSequenceNumber)
			if err != nil {
				return nil, fmt.Errorf("workbench: list: message %s: %w", m.ID, err)
			}
			k = key{of.RequestContext.FunctionARN, errorOf(of, recorded), bi.ShardID}
			records = bi.BatchSize
		}
		i, ok := idx[k]
		if !ok {
			i = len(out.Groups)
			idx[k] = i
			out.Groups = append(out.Groups, Group{Function: k.fn, Error: k.err, Shard: k.shard, Oldest: m.SentAt})
		}
		g := &out.Groups[i]
		g.Messages++
		g.Records += records
		g.MessageIDs = append(g.MessageIDs, m.ID)
		if m.SentAt.Before(g.Oldest) {
			g.Oldest = m.SentAt
		}
	}
	for i := range out.Groups {
		out.Groups[i].OldestAgeSeconds = int64(now.Sub(out.Groups[i].Oldest) / time.Second)
	}
	sort.SliceStable(out.Groups, func(a, b int) bool { return out.Groups[a].Oldest.Before(out.Groups[b].Oldest) })
	return out, nil
}

// Detail is one message with its on-failure record decoded.
type Detail struct {
	Message dlq.Message `json:"message"`
	// OnFailure is the decoded record; nil when the body is not one.
	OnFailure *dlq.OnFailure `json:"onFailure,omitempty"`
}

// Show returns the message with the id and its decoded on-failure record; an unknown id fails with an error
// wrapping ErrNotFound.
func (w *Workbench) Show(ctx context.Context, id string) (*Detail, error) {
	m, err := w.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &Detail{Message: m}
	if of, ok := parse(m.Body); ok {
		d.OnFailure = &of
	}
	return d, nil
}

// RecordReport is what Explain finds of one record of a failed range.
type RecordReport struct {
	SequenceNumber string    `json:"sequenceNumber"`
	PartitionKey   string    `json:"partitionKey"`
	ArrivalTime    time.Time `json:"arrivalTime"`
	// EventID and EventType are the CloudEvent's, when its envelope decodes.
	EventID   string `json:"eventId,omitempty"`
	EventType string `json:"eventType,omitempty"`
	// Valid says whether the record passes validation now; Invalid says why not.
	Valid   bool   `json:"valid"`
	Invalid string `json:"invalid,omitempty"`
	// Failure is the error the handler recorded for the record, when one was.
	Failure *Failure `json:"failure,omitempty"`
	// Event is the record's data, as JSON when it is JSON.
	Event json.RawMessage `json:"event"`
	// data is the record's bytes, for a redrive.
	data []byte
}

// Explanation is the result of Explain.
type Explanation struct {
	MessageID           string `json:"messageId"`
	StreamARN           string `json:"streamArn"`
	ShardID             string `json:"shardId"`
	StartSequenceNumber string `json:"startSequenceNumber"`
	EndSequenceNumber   string `json:"endSequenceNumber"`
	// BatchSize is the number of records the on-failure record counts.
	BatchSize int `json:"batchSize"`
	// Error is the group error of the message, as List shows it.
	Error string `json:"error"`
	// Expired is set when the range's records have left the stream (its retention is RetentionHours):
	// nothing can be explained or redriven, only purged.
	Expired        bool           `json:"expired"`
	RetentionHours int            `json:"retentionHours"`
	Records        []RecordReport `json:"records"`
}

// Explain reads the records of the message's failed range back from the stream (AT_SEQUENCE_NUMBER of the
// start to the end), decodes and validates each again, and adds the handler's recorded error of each. When
// the start record is no longer in the stream the explanation is Expired (with the records still there, if
// any). A message that is not an on-failure record fails with an error that says so.
func (w *Workbench) Explain(ctx context.Context, id string) (*Explanation, error) {
	m, err := w.store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return w.explain(ctx, m)
}

// ErrNotOnFailure is wrapped by the error about a message that is not an on-failure record.
var ErrNotOnFailure = errors.New("workbench: the message is not an on-failure record (it names no stream range)")

func (w *Workbench) explain(ctx context.Context, m dlq.Message) (*Explanation, error) {
	of, ok := parse(m.Body)
	if !ok {
		return nil, fmt.Errorf("%w: message %s", ErrNotOnFailure, m.ID)
	}
	bi := of.KinesisBatchInfo
	x := &Explanation{MessageID: m.ID, StreamARN: bi.StreamARN, ShardID: bi.ShardID, StartSequenceNumber: bi.StartSequenceNumber,
		EndSequenceNumber: bi.EndSequenceNumber, BatchSize: bi.BatchSize, RetentionHours: int(w.retention / time.Hour),
		Records: []RecordReport{}}
	recs, expired, err := w.readRange(ctx, bi.ShardID, bi.StartSequenceNumber, bi.EndSequenceNumber)
	if err != nil {
		return nil, fmt.Errorf("workbench: explain %s: %w", m.ID, err)
	}
	x.Expired = expired
	recorded, err := w.failures.Failures(ctx, bi.ShardID, bi.StartSequenceNumber, bi.EndSequenceNumber)
	if err != nil {
		return nil, fmt.Errorf("workbench: explain %s: %w", m.ID, err)
	}
	x.Error = errorOf(of, recorded)
	for _, r := range recs {
		rep := RecordReport{SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, ArrivalTime: r.ArrivalTime, data: r.Data}
		if json.Valid(r.Data) {
			rep.Event = json.RawMessage(r.Data)
		} else {
			rep.Event, _ = json.Marshal(string(r.Data))
		}
		ev, verr := w.validator.Validate(r.Data)
		rep.EventID, rep.EventType = ev.ID, ev.Type
		if verr != nil {
			rep.Invalid = verr.Error()
			if rep.EventID == "" || rep.EventType == "" {
				var env struct{ ID, Type string }
				if json.Unmarshal(r.Data, &env) == nil {
					rep.EventID, rep.EventType = env.ID, env.Type
				}
			}
		} else {
			rep.Valid = true
		}
		if f, ok := recorded[r.SequenceNumber]; ok {
			rep.Failure = &f
		}
		x.Records = append(x.Records, rep)
	}
	return x, nil
}

// readRange reads the records of a shard from start to end, both included; expired reports that the start
// record is gone (the first record read is past it, or the shard has none from there).
func (w *Workbench) readRange(ctx context.Context, shard, start, end string) (recs []event.StreamRecord, expired bool, err error) {
	last, empty, first := "", 0, true
	for {
		var got []event.StreamRecord
		if last == "" {
			got, err = w.stream.ReadAt(ctx, shard, start, 0)
		} else {
			got, err = w.stream.ReadAfter(ctx, shard, last, 0)
		}
		if err != nil {
			return nil, false, fmt.Errorf("read shard %s from %s: %w", shard, start, err)
		}
		if len(got) == 0 {
			if empty++; empty >= w.emptyReads {
				return recs, len(recs) == 0 || expired, nil
			}
			continue
		}
		empty = 0
		for _, r := range got {
			if first {
				first = false
				expired = shardlog.CompareSequence(r.SequenceNumber, start) > 0
			}
			if shardlog.CompareSequence(r.SequenceNumber, end) > 0 {
				return recs, expired, nil
			}
			recs = append(recs, r)
			last = r.SequenceNumber
			if r.SequenceNumber == end {
				return recs, expired, nil
			}
		}
	}
}

// Purge deletes the messages with the ids, or every message when ids is empty, and returns the ids deleted.
func (w *Workbench) Purge(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		msgs, err := w.store.Peek(ctx)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return []string{}, nil
	}
	done, err := w.store.Delete(ctx, ids)
	if done == nil {
		done = []string{}
	}
	return done, err
}
