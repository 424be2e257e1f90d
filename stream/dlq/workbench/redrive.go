package workbench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	"golang.org/x/time/rate"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// Filter selects the messages a redrive handles. Its zero value selects every message.
type Filter struct {
	// IDs, when set, selects only these messages.
	IDs []string `json:"ids,omitempty"`
	// Type selects the messages with a record of this event type.
	Type string `json:"type,omitempty"`
	// Error selects the messages whose error (as List groups them), or one of whose records' recorded or
	// validation error, contains this text.
	Error string `json:"error,omitempty"`
	// Since and Until select the messages sent in [Since, Until); a zero bound is open.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// RedriveOptions tune a Redrive.
type RedriveOptions struct {
	Filter
	// Rate caps the records re-injected per second (0: no cap).
	Rate float64
	// DryRun reports what would be done and changes nothing (no audit line either).
	DryRun bool
	// SkipInvalid redrives the valid records of a message that also holds records failing validation, and
	// deletes the message; without it such a message is left alone (state Invalid).
	SkipInvalid bool
	// Target receives the records of on-failure messages. Required unless every matching message is
	// moved to TargetQueue.
	Target Target
	// TargetQueue receives the bodies of the messages that are not on-failure records (the original
	// messages of an SQS source); without it such messages are skipped.
	TargetQueue dlq.Queue
	// Edit, when set, may change the bodies moved to TargetQueue before they are sent (index for index).
	Edit func(ctx context.Context, bodies [][]byte) ([][]byte, error)
	// Audit receives one JSON line per message redriven or attempted; nil writes none.
	Audit io.Writer
	// Progress, when set, is called after each message with how many were handled of how many.
	Progress func(done, total int)
}

// States of a message in a redrive.
const (
	// StateRedriven: every record was taken again and the message was deleted.
	StateRedriven = "redriven"
	// StateMoved: the body was sent to the target queue and the message was deleted.
	StateMoved = "moved"
	// StateWouldRedrive and StateWouldMove: what a dry run would have done.
	StateWouldRedrive = "would-redrive"
	StateWouldMove    = "would-move"
	// StateExpired: the records left the stream's retention; nothing to redrive, purge the message.
	StateExpired = "expired"
	// StateInvalid: records of the message fail validation; fix them upstream, or redrive with SkipInvalid.
	StateInvalid = "invalid"
	// StateSkipped: the message is not an on-failure record and no target queue was given.
	StateSkipped = "skipped"
	// StateFailed: the target refused the records or the message could not be deleted; it stays queued.
	StateFailed = "failed"
)

// Outcome is what a redrive did with one message.
type Outcome struct {
	MessageID string `json:"messageId"`
	Shard     string `json:"shard,omitempty"`
	// Range is "<start>-<end>" of the on-failure record.
	Range   string `json:"range,omitempty"`
	Records int    `json:"records"`
	// Types are the event types of the message's records.
	Types              []string `json:"types,omitempty"`
	State              string   `json:"state"`
	NewSequenceNumbers []string `json:"newSequenceNumbers,omitempty"`
	Deleted            bool     `json:"deleted"`
	Error              string   `json:"error,omitempty"`
}

// Report is the result of a Redrive.
type Report struct {
	DryRun bool   `json:"dryRun"`
	Target string `json:"target"`
	// Matched counts the messages the filter selected; Records the records they hold.
	Matched  int       `json:"matched"`
	Records  int       `json:"records"`
	Deleted  int       `json:"deleted"`
	Outcomes []Outcome `json:"messages"`
}

// Incomplete counts the matched messages not redriven (expired, invalid, skipped, failed); a dry run counts
// none.
func (r *Report) Incomplete() int {
	n := 0
	for _, o := range r.Outcomes {
		switch o.State {
		case StateExpired, StateInvalid, StateSkipped, StateFailed:
			n++
		}
	}
	return n
}

// AuditLine is the JSON line a redrive writes per message.
type AuditLine struct {
	At                 time.Time `json:"at"`
	MessageID          string    `json:"messageId"`
	Shard              string    `json:"shard,omitempty"`
	Range              string    `json:"range,omitempty"`
	Records            int       `json:"records"`
	Target             string    `json:"target"`
	NewSequenceNumbers []string  `json:"newSequenceNumbers"`
	Deleted            bool      `json:"deleted"`
	State              string    `json:"state"`
	Error              string    `json:"error,omitempty"`
}

// Redrive handles every message that matches opts.Filter, oldest first: it re-injects the records of an
// on-failure message into opts.Target (at opts.Rate records per second) and deletes the message only once
// every record was taken again; it moves a message that is not an on-failure record to opts.TargetQueue
// (edited first with opts.Edit). Messages whose records expired or fail validation stay in the queue. It
// writes one audit line per message it acted on. An error means the redrive stopped (ctx ended, the queue
// could not be read, the audit could not be written); the failures of single messages are in the report.
func (w *Workbench) Redrive(ctx context.Context, opts RedriveOptions) (*Report, error) {
	msgs, err := w.store.Peek(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: opts.DryRun, Outcomes: []Outcome{}}
	if opts.Target != nil {
		rep.Target = opts.Target.Name()
	}
	var lim *rate.Limiter
	if opts.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(opts.Rate), max(1, int(opts.Rate)))
	}
	// The cheap parts of the filter first: ids and time range.
	var todo []dlq.Message
	for _, m := range msgs {
		if len(opts.IDs) > 0 && !slices.Contains(opts.IDs, m.ID) {
			continue
		}
		if (!opts.Since.IsZero() && m.SentAt.Before(opts.Since)) || (!opts.Until.IsZero() && !m.SentAt.Before(opts.Until)) {
			continue
		}
		todo = append(todo, m)
	}
	var moves []dlq.Message
	for i, m := range todo {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("workbench: redrive stopped: %w", err)
		}
		if _, ok := parse(m.Body); !ok {
			if opts.Type == "" || bodyType(m.Body) == opts.Type {
				if opts.Error == "" {
					moves = append(moves, m)
				}
			}
			continue
		}
		o, ok, err := w.redriveOne(ctx, m, opts, lim)
		if err != nil {
			return rep, err
		}
		if ok {
			rep.add(o)
			if err := w.audit(opts, rep.Target, o); err != nil {
				return rep, err
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(todo))
		}
	}
	if len(moves) > 0 {
		if err := w.move(ctx, moves, opts, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// add counts o in the report.
func (r *Report) add(o Outcome) {
	r.Matched++
	r.Records += o.Records
	if o.Deleted {
		r.Deleted++
	}
	r.Outcomes = append(r.Outcomes, o)
}

// bodyType is the "type" of a body that is a CloudEvent, or "".
func bodyType(body []byte) string {
	var ev struct{ Type string }
	_ = json.Unmarshal(body, &ev)
	return ev.Type
}

// redriveOne explains m, applies the type and error filters, and redrives it; ok is false when m does not
// match.
func (w *Workbench) redriveOne(ctx context.Context, m dlq.Message, opts RedriveOptions, lim *rate.Limiter) (Outcome, bool, error) {
	x, err := w.explain(ctx, m)
	if err != nil {
		return Outcome{}, false, err
	}
	o := Outcome{MessageID: m.ID, Shard: x.ShardID, Range: x.StartSequenceNumber + "-" + x.EndSequenceNumber, Records: len(x.Records)}
	texts := []string{x.Error}
	for _, r := range x.Records {
		if r.EventType != "" && !slices.Contains(o.Types, r.EventType) {
			o.Types = append(o.Types, r.EventType)
		}
		texts = append(texts, r.Invalid)
		if r.Failure != nil {
			texts = append(texts, r.Failure.Error+": "+r.Failure.Cause)
		}
	}
	if opts.Type != "" && !slices.Contains(o.Types, opts.Type) {
		return o, false, nil
	}
	if opts.Error != "" && !slices.ContainsFunc(texts, func(s string) bool { return strings.Contains(s, opts.Error) }) {
		return o, false, nil
	}
	if x.Expired {
		o.State = StateExpired
		o.Error = fmt.Sprintf("records expired from the stream's retention (%dh): nothing to redrive", x.RetentionHours)
		return o, true, nil
	}
	var send []RecordReport
	var invalid []string
	for _, r := range x.Records {
		if r.Valid {
			send = append(send, r)
		} else {
			invalid = append(invalid, r.SequenceNumber+": "+r.Invalid)
		}
	}
	if len(invalid) > 0 && !opts.SkipInvalid {
		o.State = StateInvalid
		o.Error = fmt.Sprintf("%d records fail validation (%s)", len(invalid), strings.Join(invalid, "; "))
		return o, true, nil
	}
	if opts.DryRun {
		o.State = StateWouldRedrive
		return o, true, nil
	}
	if opts.Target == nil {
		return o, false, fmt.Errorf("workbench: redrive of %s: no target for the records", m.ID)
	}
	if lim != nil {
		for range send {
			if err := lim.Wait(ctx); err != nil {
				return o, false, fmt.Errorf("workbench: redrive stopped: %w", err)
			}
		}
	}
	recs := make([]event.StreamRecord, len(send))
	for i, r := range send {
		recs[i] = event.StreamRecord{ShardID: x.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
			ArrivalTime: r.ArrivalTime, Data: r.data}
	}
	seqs, err := opts.Target.Put(ctx, x.ShardID, recs)
	if err != nil {
		o.State, o.Error = StateFailed, err.Error()
		return o, true, nil
	}
	o.NewSequenceNumbers = seqs
	deleted, err := w.store.Delete(ctx, []string{m.ID})
	if err != nil {
		o.State, o.Error = StateFailed, "the records were taken again, but the message was not deleted: "+err.Error()
		return o, true, nil
	}
	o.Deleted = len(deleted) == 1
	o.State = StateRedriven
	return o, true, nil
}

// move sends the bodies of msgs to the target queue, then deletes them.
func (w *Workbench) move(ctx context.Context, msgs []dlq.Message, opts RedriveOptions, rep *Report) error {
	outcome := func(m dlq.Message, state, why string) Outcome {
		return Outcome{MessageID: m.ID, Records: 1, State: state, Error: why}
	}
	if opts.TargetQueue == nil {
		for _, m := range msgs {
			rep.add(outcome(m, StateSkipped, "not an on-failure record: give a target queue to move its body to"))
		}
		return nil
	}
	if opts.DryRun {
		for _, m := range msgs {
			rep.add(outcome(m, StateWouldMove, ""))
		}
		return nil
	}
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Body
	}
	if opts.Edit != nil {
		edited, err := opts.Edit(ctx, bodies)
		if err != nil {
			return fmt.Errorf("workbench: edit the bodies: %w", err)
		}
		if len(edited) != len(bodies) {
			return fmt.Errorf("workbench: edit the bodies: %d bodies came back, %d went out (keep one per message)", len(edited), len(bodies))
		}
		bodies = edited
	}
	out := make([]dlq.Outgoing, len(bodies))
	for i, b := range bodies {
		out[i] = dlq.Outgoing{Body: b}
	}
	ids, sendErr := opts.TargetQueue.SendBatch(ctx, out)
	be, _ := sendErr.(*dlq.BatchError)
	if sendErr != nil && be == nil {
		return fmt.Errorf("workbench: move to %s: %w", opts.TargetQueue.Name(), sendErr)
	}
	var sent []string
	for i, m := range msgs {
		if be != nil && be.Failed(i) {
			continue
		}
		sent = append(sent, m.ID)
	}
	deleted, delErr := w.store.Delete(ctx, sent)
	for i, m := range msgs {
		o := outcome(m, StateMoved, "")
		switch {
		case be != nil && be.Failed(i):
			o.State, o.Error = StateFailed, be.Errs[i].Error()
		case !slices.Contains(deleted, m.ID):
			o.State, o.Error = StateFailed, "sent to "+opts.TargetQueue.Name()+" but not deleted"
			if delErr != nil {
				o.Error += ": " + delErr.Error()
			}
		default:
			o.Deleted = true
		}
		if i < len(ids) && ids[i] != "" {
			o.NewSequenceNumbers = []string{ids[i]}
		}
		rep.add(o)
		if err := w.audit(opts, "queue "+opts.TargetQueue.Name(), o); err != nil {
			return err
		}
	}
	return nil
}

// audit writes o's line when the redrive changes something.
func (w *Workbench) audit(opts RedriveOptions, target string, o Outcome) error {
	if opts.Audit == nil || opts.DryRun {
		return nil
	}
	line := AuditLine{At: w.now().UTC(), MessageID: o.MessageID, Shard: o.Shard, Range: o.Range, Records: o.Records,
		Target: target, NewSequenceNumbers: o.NewSequenceNumbers, Deleted: o.Deleted, State: o.State, Error: o.Error}
	if line.NewSequenceNumbers == nil {
		line.NewSequenceNumbers = []string{}
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("workbench: audit line of %s: %w", o.MessageID, err)
	}
	if _, err := opts.Audit.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("workbench: write the audit line of %s: %w", o.MessageID, err)
	}
	return nil
}
