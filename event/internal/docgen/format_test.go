package docgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestFormats checks that generated values are valid for the reference validator's format checks (and, for
// dates and times, for time.Parse), and that near misses fall on both sides of validity.
func TestFormats(t *testing.T) {
	tests := []struct {
		format string
		layout string // when set, valid values also parse with time.Parse
	}{
		{"date-time", time.RFC3339Nano},
		{"date", time.DateOnly},
		{"time", ""},
		{"uri", ""},
		{"uri-reference", ""},
		{"uuid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			url := "https://example.com/" + tt.format + ".json"
			sch := compileOne(t, url, map[string]any{"type": "string", "format": tt.format})
			valid := func(s string) bool {
				return sch.Validate(s) == nil
			}
			for seed := range uint64(500) {
				v := formatValue(rand.New(rand.NewPCG(seed, 11)), tt.format)
				if !valid(v) {
					t.Fatalf("seed %d: %q is not a valid %s", seed, v, tt.format)
				}
				if tt.layout != "" {
					if _, err := time.Parse(tt.layout, v); err != nil {
						t.Fatalf("seed %d: %q: %v", seed, v, err)
					}
				}
			}
			// Near misses fall on both sides of the edge.
			var accepted, refused int
			for seed := range uint64(500) {
				if valid(formatMiss(rand.New(rand.NewPCG(seed, 12)), tt.format)) {
					accepted++
				} else {
					refused++
				}
			}
			if accepted < 10 || refused < 100 {
				t.Errorf("near misses: %d valid, %d invalid of 500", accepted, refused)
			}
		})
	}
}
