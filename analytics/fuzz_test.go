package analytics_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// countingStore is a Store whose Apply takes every fact as new and records how many it was given.
type countingStore struct {
	analytics.Store
	facts int
}

func (s *countingStore) Apply(_ context.Context, facts []event.Fact) (int, error) {
	s.facts = len(facts)
	return len(facts), nil
}

// FuzzAggregateUnmarshalBinary checks that decoding any bytes as an aggregate never panics, that what
// decodes re-encodes to bytes that decode again, and that the encoding of a decoded aggregate is stable.
func FuzzAggregateUnmarshalBinary(f *testing.F) {
	for _, n := range []int{0, 1, 40, 500} {
		facts := genFacts(n, max(n/2, 1), uint64(n))
		var a analytics.Aggregate
		for i := range facts {
			a.Add(&facts[i])
		}
		enc, err := a.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a analytics.Aggregate
		if err := a.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := a.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded aggregate: %v", err)
		}
		var again analytics.Aggregate
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("UnmarshalBinary of a re-encoded aggregate: %v", err)
		}
		// The figures survive the round trip. The bytes may not: a HyperLogLog decoded from foreign bytes can
		// re-encode its sparse list in another (equivalent) order, which TestAggregateEncoding rules out for
		// the aggregates this package writes.
		if again.Count != a.Count || again.Late != a.Late || again.Uniques() != a.Uniques() ||
			!reflect.DeepEqual(again.Measures(), a.Measures()) || !reflect.DeepEqual(again.Top(analytics.TopCapacity), a.Top(analytics.TopCapacity)) {
			t.Fatalf("the figures changed in a round trip: count %d late %d uniques %d; want %d, %d and %d",
				again.Count, again.Late, again.Uniques(), a.Count, a.Late, a.Uniques())
		}
	})
}

// FuzzFunctionInvoke checks that the function's payload decoding never panics, that a payload it accepts
// reaches the store whole, and that its answer accounts for every fact of the payload.
func FuzzFunctionInvoke(f *testing.F) {
	facts := genFacts(3, 3, 7)
	for _, in := range []event.FactBatch{{BatchID: "shardId-0:1-3", Events: facts}, {BatchID: "empty"}} {
		b, err := json.Marshal(&in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"batchId":"b","events":[{"id":"1","type":"t","source":"s","time":"2026-01-02T03:04:05Z","measures":{"x":1.5}}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var st countingStore
		fn := analytics.NewFunction(&st)
		out, err := fn.Invoke(context.Background(), payload)
		var in event.FactBatch
		decodeErr := json.Unmarshal(payload, &in)
		if err != nil {
			if decodeErr == nil {
				t.Fatalf("Invoke refused a payload that decodes: %v", err)
			}
			return
		}
		if decodeErr != nil {
			t.Fatalf("Invoke accepted a payload that does not decode: %v", decodeErr)
		}
		var got analytics.Output
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("the answer %q is not an Output: %v", out, err)
		}
		if st.facts != len(in.Events) || got.Applied+got.Duplicates != len(in.Events) {
			t.Fatalf("store got %d facts, answer %+v; the payload has %d", st.facts, got, len(in.Events))
		}
	})
}
