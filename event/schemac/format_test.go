package schemac

import (
	"math/rand/v2"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// formatOf returns the reference's format function by compiling a schema that uses it.
func formatOf(t *testing.T, name string) func(any) error {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("http://example.test/f.json", map[string]any{"format": name}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("http://example.test/f.json")
	if err != nil || s.Format == nil {
		t.Fatalf("format %s: %v", name, err)
	}
	return s.Format.Validate
}

// TestFastFormats checks that each fast format check accepts only what the reference accepts, on typical
// values (which it must accept) and on random variants of them.
func TestFastFormats(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(11, 12))
	const alphabet = "0123456789-:TtZz.+/?#@%[]:abcAFxyé \\"
	for _, tc := range []struct {
		name string
		fast func([]byte) bool
		good []string // accepted by the fast check
	}{
		{"date-time", fastDateTime, []string{"2026-11-26T09:00:00.123Z", "2024-02-29t23:59:59+23:59", "0000-01-01T00:00:00-00:00"}},
		{"date", fastDate, []string{"2026-11-26", "2000-02-29", "1900-02-28"}},
		{"time", fastTime, []string{"09:00:00Z", "23:59:59.999999+01:00", "00:00:00z"}},
		{"uri", func(b []byte) bool { return fastURI(b, true) }, []string{"https://shop.example/p/1?q=a%20b#top",
			"urn:isbn:0451450523", "http://h:8080", "mailto:a@b.example", "file:///etc/hosts", "http://h:/x"}},
		{"uri-reference", func(b []byte) bool { return fastURI(b, false) }, []string{"/p/1", "", "a/b:c", "//h/x",
			"https://shop.example/web", "?q", "#frag", "../x", "*"}},
		{"uuid", fastUUID, []string{"7f1c2a9e-4b1d-4c8e-9a43-2f7e5c1d0b6a", "00000000-0000-0000-0000-000000000000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := formatOf(t, tc.name)
			for _, g := range tc.good {
				if !tc.fast([]byte(g)) {
					t.Errorf("%q: the fast check does not accept it", g)
				}
			}
			accepted := 0
			for i := 0; i < 30000; i++ {
				b := []byte(tc.good[r.IntN(len(tc.good))])
				for k := r.IntN(3) + 1; k > 0; k-- {
					p := 0
					if len(b) > 0 {
						p = r.IntN(len(b))
					}
					c := alphabet[r.IntN(len(alphabet))]
					switch {
					case len(b) == 0 || r.IntN(3) == 0:
						b = append(b[:p], append([]byte{c}, b[p:]...)...)
					case r.IntN(2) == 0:
						b = append(b[:p], b[p+1:]...)
					default:
						b[p] = c
					}
				}
				if tc.fast(b) {
					accepted++
					if err := ref(string(b)); err != nil {
						t.Fatalf("%q: the fast check accepts it, the reference says %v", b, err)
					}
				}
			}
			t.Logf("%s: the fast check accepted %d of 30000 variants", tc.name, accepted)
		})
	}
}
