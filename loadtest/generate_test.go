package loadtest

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

var genStamp = time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)

func newGen(t testing.TB, cfg GenConfig) *Generator {
	t.Helper()
	g, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGeneratedTypesCoverRegistry checks that the generator knows every event type the registry holds.
func TestGeneratedTypesCoverRegistry(t *testing.T) {
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := GeneratedTypes(), reg.Types(); !slices.Equal(got, want) {
		t.Fatalf("GeneratedTypes() = %v, registry types %v", got, want)
	}
}

// TestGeneratorValidity checks every generated event against the registry's validator: valid events pass
// and describe themselves truly, invalid ones fail with one of the expected rules.
func TestGeneratorValidity(t *testing.T) {
	t.Parallel()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  GenConfig
	}{
		{"natural size", GenConfig{Seed: 1}},
		{"padded to 1 KiB", GenConfig{Seed: 2, Size: 1024}},
		{"padded beyond the data fields", GenConfig{Seed: 3, Size: 20000}},
		{"smaller than natural", GenConfig{Seed: 4, Size: 50}},
		{"zipf keys with poison and invalid", GenConfig{Seed: 5, Keys: 50, Zipf: 1.3, InvalidRatio: 0.2, PoisonRatio: 0.2}},
		{"everything invalid", GenConfig{Seed: 6, InvalidRatio: 1}},
		{"one type, custom poison prefix", GenConfig{Seed: 7, Types: []string{"purchase"}, PoisonRatio: 0.5, PoisonPrefix: "quarantine/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGen(t, tt.cfg)
			prefix := g.Config().PoisonPrefix
			types := map[string]int{}
			rules := map[string]int{}
			for seq := range uint64(20) {
				body, infos := g.Batch(seq, 50, genStamp)
				var raws []json.RawMessage
				if err := json.Unmarshal(body, &raws); err != nil {
					t.Fatalf("batch %d is not a JSON array: %v", seq, err)
				}
				if len(raws) != 50 || len(infos) != 50 {
					t.Fatalf("batch %d has %d events and %d infos, want 50", seq, len(raws), len(infos))
				}
				for i, raw := range raws {
					info := infos[i]
					ev, err := reg.Validate(raw)
					if info.Invalid {
						var ve *event.ValidationError
						if !errors.As(err, &ve) {
							t.Fatalf("invalid event passed validation (%v): %s", err, raw)
						}
						rules[ve.Rule]++
						continue
					}
					if err != nil {
						t.Fatalf("valid event failed validation: %v\n%s", err, raw)
					}
					types[ev.Type]++
					if ev.ID != info.ID || ev.Type != info.Type || ev.Subject != info.Key || !ev.Time.Equal(genStamp) {
						t.Fatalf("event %+v does not match its info %+v", ev, info)
					}
					if poisoned := strings.HasPrefix(ev.Subject, prefix); poisoned != info.Poison {
						t.Fatalf("subject %q with poison=%v", ev.Subject, info.Poison)
					}
				}
			}
			wantTypes := len(GeneratedTypes())
			if len(tt.cfg.Types) > 0 {
				wantTypes = len(tt.cfg.Types)
			}
			if tt.cfg.InvalidRatio < 1 && len(types) != wantTypes {
				t.Errorf("types generated: %v", types)
			}
			for rule := range rules {
				if !slices.Contains([]string{"additionalProperties", "unknownType", "required", "const"}, rule) {
					t.Errorf("unexpected rule %q among invalid events (%v)", rule, rules)
				}
			}
			if tt.cfg.InvalidRatio == 1 && len(rules) != 4 {
				t.Errorf("invalid events break %v, want all four kinds", rules)
			}
		})
	}
}

// TestGeneratorDeterminism checks that the seed, the sequence number and the genStamp alone decide the bytes,
// and that ids never repeat within a run.
func TestGeneratorDeterminism(t *testing.T) {
	t.Parallel()
	cfg := GenConfig{Seed: 42, Zipf: 1.2, InvalidRatio: 0.1, PoisonRatio: 0.1, Size: 700}
	a, b := newGen(t, cfg), newGen(t, cfg)
	bodyA, infosA := a.Batch(7, 100, genStamp)
	// Other batches asked for in between change nothing.
	b.Batch(8, 100, genStamp)
	b.Batch(6, 10, genStamp)
	bodyB, infosB := b.Batch(7, 100, genStamp)
	if !bytes.Equal(bodyA, bodyB) || !slices.Equal(infosA, infosB) {
		t.Fatal("the same seed and sequence number gave different batches")
	}
	recs, infosR := a.Records(7, 100, genStamp)
	if !slices.Equal(infosA, infosR) {
		t.Fatal("Records and Batch describe different events")
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(bodyA, &raws); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if !bytes.Equal(r.Data, raws[i]) || r.PartitionKey != infosA[i].Key {
			t.Fatalf("record %d = %q %s, want the batch's event %s", i, r.PartitionKey, r.Data, raws[i])
		}
	}

	other := newGen(t, GenConfig{Seed: 43, Zipf: 1.2, InvalidRatio: 0.1, PoisonRatio: 0.1, Size: 700})
	if bodyC, _ := other.Batch(7, 100, genStamp); bytes.Equal(bodyA, bodyC) {
		t.Fatal("another seed gave the same batch")
	}

	seen := map[string]bool{}
	for _, seq := range []uint64{0, 1, 2, 1 << 12, 1 << 32, 1<<32 + 1, 1 << 44, 1<<60 - 1} {
		for _, g := range []*Generator{a, other} {
			_, infos := g.Batch(seq, 300, genStamp)
			for _, in := range infos {
				if seen[in.ID] {
					t.Fatalf("id %s repeated (batch %d)", in.ID, seq)
				}
				seen[in.ID] = true
			}
		}
	}
	_, infos := a.Batch(1, 5000, genStamp) // indexes beyond 12 bits
	for _, in := range infos {
		if seen[in.ID] && in.ID != "" {
			// Batch 1 was already drawn with 300 events: only its first 300 ids may repeat.
			continue
		}
		seen[in.ID] = true
	}
	if n := len(seen); n != 8*2*300+5000-300 {
		t.Fatalf("%d distinct ids, want %d", n, 8*2*300+5000-300)
	}
}

// TestGeneratorRatios checks the shares of invalid and poison events and of each type over many events.
func TestGeneratorRatios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		invalid, poison float64
	}{
		{"none", 0, 0},
		{"one percent of each", 0.01, 0.01},
		{"mostly bad", 0.3, 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGen(t, GenConfig{Seed: 9, InvalidRatio: tt.invalid, PoisonRatio: tt.poison})
			const batches, size = 200, 250
			var invalid, poison int
			types := map[string]int{}
			for seq := range uint64(batches) {
				_, infos := g.Batch(seq, size, genStamp)
				for _, in := range infos {
					switch {
					case in.Invalid && in.Poison:
						t.Fatalf("event %s is both invalid and poison", in.ID)
					case in.Invalid:
						invalid++
					case in.Poison:
						poison++
					}
					types[in.Type]++
				}
			}
			n := float64(batches * size)
			// Three standard deviations of a binomial share, and at least 0.1 point.
			tol := func(p float64) float64 { return max(3*math.Sqrt(p*(1-p)/n), 0.001) }
			if got := float64(invalid) / n; math.Abs(got-tt.invalid) > tol(tt.invalid) {
				t.Errorf("invalid share %.4f, want %.4f", got, tt.invalid)
			}
			if got := float64(poison) / n; math.Abs(got-tt.poison) > tol(tt.poison) {
				t.Errorf("poison share %.4f, want %.4f", got, tt.poison)
			}
			for typ, want := range map[string]float64{"page_view": 0.6, "sensor_reading": 0.3, "purchase": 0.1} {
				if got := float64(types[typ]) / n; math.Abs(got-want) > tol(want) {
					t.Errorf("%s share %.4f, want %.2f", typ, got, want)
				}
			}
		})
	}
}

// TestGeneratorZipf checks that a Zipf exponent makes a few keys hot and that its absence spreads keys evenly.
func TestGeneratorZipf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		cfg              GenConfig
		minTop, maxTop   float64 // the share of the most frequent key
		minKeys, maxKeys int     // distinct keys seen
	}{
		// P(k) ∝ (1+k)^-1.5 over 1000 keys gives the first key 1/2.55 = 39%.
		{"zipf 1.5", GenConfig{Seed: 1, Keys: 1000, Zipf: 1.5}, 0.34, 0.44, 100, 1000},
		{"zipf 1.1", GenConfig{Seed: 1, Keys: 1000, Zipf: 1.1}, 0.10, 0.25, 500, 1000},
		{"uniform", GenConfig{Seed: 1, Keys: 1000}, 0, 0.004, 1000, 1000},
		{"one key", GenConfig{Seed: 1, Keys: 1, Zipf: 2}, 1, 1, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGen(t, tt.cfg)
			counts := map[string]int{}
			n := 0
			for seq := range uint64(100) {
				_, infos := g.Batch(seq, 500, genStamp)
				for _, in := range infos {
					// Subjects are <entity>-NNNNNN per type; the key is the number.
					counts[in.Key[strings.LastIndexByte(in.Key, '-')+1:]]++
					n++
				}
			}
			top := 0
			for _, c := range counts {
				top = max(top, c)
			}
			share := float64(top) / float64(n)
			if share < tt.minTop || share > tt.maxTop || len(counts) < tt.minKeys || len(counts) > tt.maxKeys {
				t.Errorf("top key share %.4f over %d keys; want a share in [%.3f, %.3f] over %d..%d keys",
					share, len(counts), tt.minTop, tt.maxTop, tt.minKeys, tt.maxKeys)
			}
			if tt.cfg.Zipf > 1 && tt.cfg.Keys > 1 && counts["000000"] != top {
				t.Errorf("the hottest key is not the first one: %d vs %d", counts["000000"], top)
			}
		})
	}
}

// TestGeneratorSize checks that events come out near the size asked for, for every type.
func TestGeneratorSize(t *testing.T) {
	t.Parallel()
	for _, size := range []int{600, 1000, 2500, 64 << 10} {
		for _, typ := range GeneratedTypes() {
			g := newGen(t, GenConfig{Seed: uint64(size), Size: size, Types: []string{typ}})
			recs, _ := g.Records(1, 200, genStamp)
			for _, r := range recs {
				// Within 5%, and within 16 bytes for small sizes (an empty coupon costs its name).
				if d := math.Abs(float64(len(r.Data) - size)); d > max(0.05*float64(size), 16) {
					t.Fatalf("size %d, %s: event of %d bytes: %s", size, typ, len(r.Data), r.Data[:min(len(r.Data), 600)])
				}
			}
		}
	}
	// Without a size, events keep their natural few hundred bytes.
	recs, _ := newGen(t, GenConfig{}).Records(1, 500, genStamp)
	for _, r := range recs {
		if len(r.Data) < 200 || len(r.Data) > 700 || bytes.Contains(r.Data, []byte(`"padding"`)) {
			t.Fatalf("natural event of %d bytes: %s", len(r.Data), r.Data)
		}
	}
}

// TestNewGeneratorErrors checks the settings a generator refuses.
func TestNewGeneratorErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  GenConfig
		want string
	}{
		{"negative keys", GenConfig{Keys: -1}, "keys -1"},
		{"zipf at most 1", GenConfig{Zipf: 0.9}, "zipf exponent 0.9"},
		{"zipf exactly 1", GenConfig{Zipf: 1}, "zipf exponent 1"},
		{"negative size", GenConfig{Size: -5}, "size -5"},
		{"huge size", GenConfig{Size: 1 << 20}, "size 1048576"},
		{"ratio above 1", GenConfig{InvalidRatio: 1.5}, "within [0, 1]"},
		{"negative ratio", GenConfig{PoisonRatio: -0.1}, "within [0, 1]"},
		{"ratios above 1 together", GenConfig{InvalidRatio: 0.6, PoisonRatio: 0.6}, "add up to more than 1"},
		{"unknown type", GenConfig{Types: []string{"click"}}, `no generator for event type "click"`},
		{"quote in the poison prefix", GenConfig{PoisonPrefix: `a"b`}, "poison prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGenerator(tt.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewGenerator(%+v) = %v, want ErrInvalidConfig mentioning %q", tt.cfg, err, tt.want)
			}
		})
	}
}

// BenchmarkGeneratorBatch measures making a batch of 100 events of 1 KiB.
func BenchmarkGeneratorBatch(b *testing.B) {
	g := newGen(b, GenConfig{Seed: 1, Size: 1024, Zipf: 1.2, InvalidRatio: 0.01, PoisonRatio: 0.01})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body, _ := g.Batch(uint64(i), 100, genStamp)
		b.SetBytes(int64(len(body)))
	}
}
