package main

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/shardlog"
)

// located is one record of the stream as the end-to-end checks see it: its sequence number, the id of its
// event and whether that event is poison.
type located struct {
	seq, id string
	poison  bool
}

// readStream reads every record of the stack's stream, by shard, in sequence order. A producer's retry can
// put one event in the stream more than once; each copy is a record of its own.
func readStream(ctx context.Context, t *testing.T, s *stack) map[string][]located {
	t.Helper()
	byShard := map[string][]located{}
	for _, shard := range s.reader.ShardIDs() {
		after := ""
		for {
			recs, err := s.reader.ReadAfter(ctx, shard, after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			for _, r := range recs {
				var ev struct{ ID string }
				if err := json.Unmarshal(r.Data, &ev); err != nil {
					t.Fatal(err)
				}
				byShard[shard] = append(byShard[shard], located{seq: r.SequenceNumber, id: ev.ID})
			}
			after = recs[len(recs)-1].SequenceNumber
		}
	}
	return byShard
}

// checkPoisonOnlyDLQ checks the dead-letter queue against the stream: every message is an on-failure record
// with AWS's fields, naming streamARN, whose sequence range covers exactly batchSize records, all of them
// poison (poison says which event ids are); and together the messages cover every poison record of the
// stream. It marks the poison records in byShard and returns the messages.
func checkPoisonOnlyDLQ(ctx context.Context, t *testing.T, s *stack, streamARN string, byShard map[string][]located,
	poison func(id string) bool) []dlq.Message {
	t.Helper()
	poisonRecords := 0
	for _, recs := range byShard {
		for i := range recs {
			recs[i].poison = poison(recs[i].id)
			if recs[i].poison {
				poisonRecords++
			}
		}
	}
	msgs, err := s.dlq.List(ctx, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	covered := 0
	for _, m := range msgs {
		var of dlq.OnFailure
		if err := json.Unmarshal(m.Body, &of); err != nil {
			t.Fatalf("DLQ message %s: %v", m.ID, err)
		}
		info := of.KinesisBatchInfo
		if of.RequestContext.Condition != "RetryAttemptsExhausted" || info.ShardID == "" || info.StreamARN != streamARN ||
			info.StartSequenceNumber == "" || info.EndSequenceNumber == "" || of.Version != "1.0" {
			t.Errorf("on-failure record %+v lacks AWS's fields", of)
		}
		n := 0
		for _, r := range byShard[info.ShardID] {
			if shardlog.CompareSequence(r.seq, info.StartSequenceNumber) >= 0 && shardlog.CompareSequence(r.seq, info.EndSequenceNumber) <= 0 {
				if !r.poison {
					t.Errorf("on-failure record %s-%s of %s covers the healthy record %s (event %s)", info.StartSequenceNumber,
						info.EndSequenceNumber, info.ShardID, r.seq, r.id)
				}
				n++
			}
		}
		if n != info.BatchSize || n == 0 {
			t.Errorf("on-failure record names batchSize %d but covers %d records", info.BatchSize, n)
		}
		covered += n
	}
	if covered != poisonRecords {
		t.Errorf("the DLQ covers %d records, want the %d poison records", covered, poisonRecords)
	}
	return msgs
}

// checkAggregates checks that the stack's aggregates equal the ground truth of the healthy events (1-minute
// windows): one window per minute, type and source, with the exact count and per measure the exact count,
// sum, minimum and maximum. It returns the windows.
func checkAggregates(ctx context.Context, t *testing.T, s *stack, healthy []*genEvent) []analytics.Window {
	t.Helper()
	type key struct {
		start       time.Time
		typ, source string
	}
	want := map[key]*analytics.Window{}
	for _, g := range healthy {
		k := key{g.time.Truncate(time.Minute), g.typ, g.source}
		w := want[k]
		if w == nil {
			w = &analytics.Window{Start: k.start, Type: g.typ, Source: g.source, Measures: map[string]analytics.Stat{}}
			want[k] = w
		}
		w.Count++
		for m, v := range g.measure {
			st := w.Measures[m]
			if st.Count == 0 || v < st.Min {
				st.Min = v
			}
			if st.Count == 0 || v > st.Max {
				st.Max = v
			}
			st.Sum += v
			st.Count++
			w.Measures[m] = st
		}
	}
	got, err := s.agg.Query(ctx, analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d aggregate windows, want %d", len(got), len(want))
	}
	for _, w := range got {
		exp := want[key{w.Start, w.Type, w.Source}]
		if exp == nil {
			t.Errorf("unexpected window %v %s %s", w.Start, w.Type, w.Source)
			continue
		}
		if w.Count != exp.Count {
			t.Errorf("window %v %s %s: count %d, want %d", w.Start, w.Type, w.Source, w.Count, exp.Count)
		}
		for _, m := range slices.Sorted(maps.Keys(exp.Measures)) {
			e, g := exp.Measures[m], w.Measures[m]
			if g.Count != e.Count || g.Min != e.Min || g.Max != e.Max || math.Abs(g.Sum-e.Sum) > 1e-6*math.Max(1, math.Abs(e.Sum)) {
				t.Errorf("window %v %s %s measure %s = %+v, want %+v", w.Start, w.Type, w.Source, m, g, e)
			}
		}
	}
	return got
}
