package dynamo

import (
	"crypto/rand"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// bigWindow returns the aggregate of n facts with n distinct subjects and the measures given, each value
// drawn by its function.
func bigWindow(n int, measures map[string]func(*mrand.Rand) float64) *analytics.Aggregate {
	rng := mrand.New(mrand.NewPCG(3, 4))
	var a analytics.Aggregate
	f := event.Fact{Measures: map[string]float64{}}
	for i := range n {
		f.Subject = fmt.Sprintf("subject-%06d", i)
		for name, draw := range measures {
			f.Measures[name] = draw(rng)
		}
		a.Add(&f)
	}
	return &a
}

// wide draws log-uniform magnitudes over [lo, hi) with a random sign.
func wide(lo, hi float64) func(*mrand.Rand) float64 {
	return func(r *mrand.Rand) float64 {
		v := lo * math.Pow(hi/lo, r.Float64())
		if r.IntN(2) == 0 {
			v = -v
		}
		return v
	}
}

// TestSlotItemSize checks that a slot item of a window with 100,000 distinct subjects (a dense HyperLogLog)
// and five measures stays well within DynamoDB's 400 KB, even when every measure spans so wide a range that
// its sketches hold all their bins, and that the size check refuses an item beyond the limit with a message
// that says what to do.
func TestSlotItemSize(t *testing.T) {
	p := &part{window: window{pk: windowPK("page_view", "https://shop.example.com/web"), typ: "page_view",
		src: "https://shop.example.com/web", start: time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)}, slot: 3}
	s := New(nil, "aggregates")
	five := func(draw func(*mrand.Rand) float64) map[string]func(*mrand.Rand) float64 {
		m := map[string]func(*mrand.Rand) float64{}
		for _, name := range []string{"duration_ms", "scroll_depth", "bytes", "price", "temperature"} {
			m[name] = draw
		}
		return m
	}
	tests := []struct {
		name     string
		measures map[string]func(*mrand.Rand) float64
		maxBytes int
	}{
		// Typical measures: a few decades of magnitude.
		{"five measures over six decades", five(wide(0.01, 1e4)), 64 << 10},
		// Every sketch at its bound of bins per sign.
		{"five measures over 200 decades", five(wide(1e-100, 1e100)), 64 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := bigWindow(100_000, tc.measures)
			item, err := s.slotItem(p, a, 7)
			if err != nil {
				t.Fatal(err)
			}
			size := itemSize(item)
			t.Logf("slot item of 100,000 subjects, 5 measures: %d bytes (agg %d)", size, len(item[attrAgg].(*types.AttributeValueMemberB).Value))
			if size > tc.maxBytes {
				t.Errorf("slot item is %d bytes; want at most %d", size, tc.maxBytes)
			}
		})
	}
	// Three hundred measures over 200 decades each: beyond the limit.
	many := map[string]func(*mrand.Rand) float64{}
	for i := range 300 {
		many[fmt.Sprint("m", i)] = wide(1e-100, 1e100)
	}
	if _, err := s.slotItem(p, bigWindow(10_000, many), 1); err == nil || !strings.Contains(err.Error(), "400 KB") ||
		!strings.Contains(err.Error(), "fewer measures") {
		t.Errorf("slotItem of 300 full measures = %v; want an error about the 400 KB limit that says what to do", err)
	}
}

// TestLargeWindowReadsBack writes the slot items of a window of 100,000 distinct subjects to moto, which
// enforces the 400 KB limit, and reads the window back through Query: the slots merge into one window with
// the sum of their counts and an estimate of the distinct subjects within the HyperLogLog's error.
func TestLargeWindowReadsBack(t *testing.T) {
	srv := emulator.Require(t, emulator.Moto)
	api := dynamodb.NewFromConfig(srv.Config(), func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	ctx := emulator.Context(t)
	name := "aggregates-" + rand.Text()[:10]
	if err := CreateTable(ctx, api, name); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)
	s := New(api, name, WithClock(func() time.Time { return start }))
	// Two slots with 60,000 subjects each, 20,000 of them in both: 100,000 distinct.
	rng := mrand.New(mrand.NewPCG(5, 6))
	for slot, first := range []int{0, 40_000} {
		var a analytics.Aggregate
		for i := first; i < first+60_000; i++ {
			a.Add(&event.Fact{Subject: fmt.Sprintf("subject-%06d", i), Measures: map[string]float64{
				"duration_ms": 1 + rng.Float64()*1e4, "price": rng.Float64() * 100, "bytes": float64(rng.IntN(1 << 20)),
				"scroll_depth": rng.Float64(), "temperature": rng.Float64()*80 - 30}})
		}
		p := &part{window: window{pk: windowPK("t", "s"), typ: "t", src: "s", start: start}, slot: slot}
		item, err := s.slotItem(p, &a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: item}); err != nil {
			t.Fatalf("PutItem of a %d-byte slot item: %v", itemSize(item), err)
		}
	}
	ws, err := s.Query(ctx, analytics.Query{Type: "t", Source: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Count != 120_000 || ws[0].Measures["price"].Count != 120_000 {
		t.Fatalf("Query = %+v; want one window of 120,000 events", ws)
	}
	if got := ws[0].UniqueSubjects; math.Abs(float64(got)-100_000) > 3*analytics.UniquesStandardError*100_000 {
		t.Errorf("%d unique subjects; want 100,000 within three standard errors", got)
	}
}
