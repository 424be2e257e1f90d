package docgen

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestPatternStrings checks that generated strings match their pattern and that near misses do not.
func TestPatternStrings(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		misses  int // near misses expected, at least, for 200 strings (exactly, for 0)
	}{
		{"country code", `^[A-Z]{2}$`, 150},
		{"currency code", `^[A-Z]{3}$`, 150},
		{"extension name", `^[a-z0-9]{1,20}$`, 150},
		// Any string with a digit matches: only edits that remove the only digit miss.
		{"unanchored", `[0-9]+`, 10},
		{"alternation", `^(red|green|blue)$`, 150},
		{"optional and star", `^x-?y*z+$`, 150},
		{"open repeat", `^a{2,}$`, 150},
		{"case folding", `^(?i)abc$`, 150},
		{"negated class", `^[^a-z]{2}$`, 150},
		{"perl classes", `^\d{3}-\w\s$`, 150},
		{"dot", `^a.b$`, 150},
		{"non-ASCII literal", `^é日😀$`, 150},
		{"empty", `^$`, 150},
		// Nothing misses.
		{"anything", `.*`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compilePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			misses := 0
			for seed := range uint64(200) {
				r := rand.New(rand.NewPCG(seed, 7))
				var sb strings.Builder
				matching(r, &sb, p.ast)
				v := sb.String()
				if !p.re.MatchString(v) {
					t.Fatalf("seed %d: %q does not match %s", seed, v, tt.pattern)
				}
				if miss, ok := nearMiss(r, p, v); ok {
					misses++
					if p.re.MatchString(miss) {
						t.Fatalf("seed %d: near miss %q matches %s", seed, miss, tt.pattern)
					}
				}
			}
			if misses < tt.misses || (tt.misses == 0 && misses > 0) {
				t.Errorf("near misses found for %d of 200 strings, want %d", misses, tt.misses)
			}
		})
	}
}

// TestPatternRefused checks the patterns the generator refuses: it could not promise a match.
func TestPatternRefused(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
	}{
		{"syntax error", `[a-`},
		{"word boundary", `\bword\b`},
		{"not a word boundary", `a\Bb`},
		{"multi-line begin", `(?m)^a`},
		{"multi-line end", `(?m)a$`},
		{"matches nothing", `[^\x00-\x{10FFFF}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := compilePattern(tt.pattern); err == nil {
				t.Errorf("compilePattern(%q) succeeded", tt.pattern)
			}
		})
	}
}
