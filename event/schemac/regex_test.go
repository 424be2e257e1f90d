package schemac

import (
	"math/rand/v2"
	"regexp"
	"testing"
)

// TestMatcher compares the matcher with Go's regexp on random inputs.
func TestMatcher(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(13, 14))
	const alphabet = "aAbBzZ09-_é\n\xff "
	for _, tc := range []struct {
		pattern string
		simple  bool // handled without the regexp
	}{
		{`^[A-Z]{2}$`, true},
		{`^[a-z0-9]{1,20}$`, true},
		{`a+b`, true},
		{`^a*a$`, true},
		{`[a-c]{2,3}z`, true},
		{`^.$`, true},
		{`^é+$`, true},
		{`x?b*z$`, true},
		{`^\d{3}-\d{2}$`, true},
		{`^[^a]*$`, true},
		{`^ab-z`, true},
		{`(?s)^.{2}$`, true},
		{`(?i)^ab$`, false},
		{`^(ab)+$`, false},
		{`^a|b$`, false},
		{`(?m)^a$`, false},
		{`\bab`, false},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			re := regexp.MustCompile(tc.pattern)
			m := newMatcher(re)
			if (m.items != nil) != tc.simple {
				t.Fatalf("simple: got %v, want %v", m.items != nil, tc.simple)
			}
			for i := 0; i < 3000; i++ {
				b := make([]byte, r.IntN(24))
				for k := range b {
					b[k] = alphabet[r.IntN(len(alphabet))]
				}
				if got, want := m.Match(b), re.Match(b); got != want {
					t.Fatalf("%q: got %v, regexp %v", b, got, want)
				}
				if got, want := m.MatchString(string(b)), re.MatchString(string(b)); got != want {
					t.Fatalf("%q: MatchString got %v, regexp %v", b, got, want)
				}
			}
		})
	}
}
