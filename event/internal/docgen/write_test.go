package docgen

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestWriterStrings checks that strings written with every escaping decode to themselves, and escape what
// they are meant to.
func TestWriterStrings(t *testing.T) {
	tests := []struct {
		name string
		s    string
		esc  escaping
		want string // a substring the output must hold, unless empty
	}{
		{"quote and backslash", `a"b\c`, escMinimal, `a\"b\\c`},
		{"control characters", "\x00\x1f\n", escMinimal, ""},
		{"non-ASCII kept", "é日😀", escMinimal, "é日😀"},
		{"all escaped BMP", "é", escAll, `\u00`},
		{"all escaped astral", "😀", escAll, `\u`},
		{"some escaped", strings.Repeat("a/é😀", 20), escSome, `\`},
		{"line separator", "\u2028", escAll, ""},
		{"empty", "", escAll, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for seed := range uint64(50) {
				w := writer{r: rand.New(rand.NewPCG(seed, 5))}
				w.string(tt.s, "", tt.esc)
				var got string
				if err := json.Unmarshal(w.buf, &got); err != nil || got != tt.s {
					t.Fatalf("seed %d: %s decodes to %q (%v), want %q", seed, w.buf, got, err, tt.s)
				}
				if tt.want != "" && !strings.Contains(strings.ToLower(string(w.buf)), strings.ToLower(tt.want)) {
					t.Fatalf("seed %d: %s does not contain %s", seed, w.buf, tt.want)
				}
				if tt.esc == escAll && strings.ContainsAny(string(w.buf), "é日😀\u2028") {
					t.Fatalf("seed %d: %s has unescaped characters", seed, w.buf)
				}
			}
		})
	}
	// An astral character is escaped as a surrogate pair.
	w := writer{r: rand.New(rand.NewPCG(1, 1))}
	w.string("😀", "", escAll)
	if got := strings.ToLower(string(w.buf)); got != `"\ud83d\ude00"` {
		t.Errorf("😀 escaped = %s", got)
	}
}

// TestSpellKeepsTheValue checks that every spelling of a number is a JSON number of exactly the same value,
// and that the spellings vary.
func TestSpellKeepsTheValue(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"zero", "0"},
		{"integer", "86400000"},
		{"negative fraction", "-0.5"},
		{"past a bound by less than float64 resolves", "1000000.0000000001"},
		{"tiny", "1e-30"},
		{"power of ten", "1000000"},
		{"negative integer", "-1000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := new(big.Rat).SetString(tt.value)
			spellings := map[string]bool{}
			for seed := range uint64(100) {
				s := spell(rand.New(rand.NewPCG(seed, 9)), want)
				spellings[s] = true
				got, ok := new(big.Rat).SetString(s)
				if !ok || got.Cmp(want) != 0 || !json.Valid([]byte(s)) {
					t.Fatalf("seed %d: spelled %s as %q", seed, tt.value, s)
				}
			}
			if len(spellings) < 3 {
				t.Errorf("spellings of %s: %v", tt.value, spellings)
			}
		})
	}
}

// TestDecimal checks the canonical spelling of rationals.
func TestDecimal(t *testing.T) {
	tests := []struct {
		name string
		num  int64
		den  int64
		want string
	}{
		{"integer", 42, 1, "42"},
		{"negative", -3, 4, "-0.75"},
		{"hundredths", 82, 100, "0.82"},
		{"whole hundredths", 1200, 100, "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decimal(big.NewRat(tt.num, tt.den)); got != tt.want {
				t.Errorf("decimal(%d/%d) = %s, want %s", tt.num, tt.den, got, tt.want)
			}
		})
	}
}

// TestScaled checks the spelling of scaled integers, which the generator uses for numbers in range.
func TestScaled(t *testing.T) {
	tests := []struct {
		name  string
		k     int64
		scale int64
		want  string
	}{
		{"integer", 42, 1, "42"},
		{"hundredths", 82, 100, "0.82"},
		{"negative small", -5, 10000, "-0.0005"},
		{"whole", 1200, 100, "12"},
		{"zero", 0, 100, "0"},
		{"trailing zero", 1230, 1000, "1.23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scaled(big.NewInt(tt.k), tt.scale); got != tt.want {
				t.Errorf("scaled(%d, %d) = %s, want %s", tt.k, tt.scale, got, tt.want)
			}
		})
	}
}
