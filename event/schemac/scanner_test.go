package schemac

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// trueSchema compiles the schema that accepts every value, so that only syntax matters.
func trueSchema(t testing.TB) *Schema {
	t.Helper()
	c := NewCompiler()
	if err := c.AddResource("http://example.test/true.json", map[string]any{"title": "anything"}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("http://example.test/true.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSyntax checks that documents are accepted exactly when encoding/json accepts them, and where errors
// are placed.
func TestSyntax(t *testing.T) {
	t.Parallel()
	s := trueSchema(t)
	cases := []struct {
		name   string
		doc    string
		offset int // -1 when valid
	}{
		{"object", `{"a":[1,2.5e-3,"x",true,false,null,{}]}`, -1},
		{"surrounding whitespace", " \t\r\n1 \n", -1},
		{"invalid UTF-8 is replaced, not rejected", "\"a\xffb\"", -1},
		{"escapes", `"\" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 \ud800"`, -1},
		{"empty", ``, 0},
		{"only whitespace", `  `, 2},
		{"trailing value", `1 2`, 2},
		{"trailing bracket", `[1]]`, 3},
		{"leading zero", `01`, 1},
		{"bare minus", `-`, 1},
		{"fraction without digits", `1.`, 2},
		{"exponent without digits", `1e+`, 3},
		{"trailing comma", `[1,]`, 3},
		{"bad escape", `"\x"`, 2},
		{"short unicode escape", `"\u12"`, 5},
		{"control character", "\"a\tb\"", 2},
		{"unterminated string", `"abc`, 4},
		{"single quotes", `{'a':1}`, 1},
		{"missing colon", `{"a" 1}`, 5},
		{"missing comma", `{"a":1 "b":2}`, 7},
		{"bad literal", `tru`, 3},
		{"capitalised literal", `True`, 0},
		{"NaN", `NaN`, 0},
		{"plus sign", `+1`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Validate([]byte(tc.doc))
			if json.Valid([]byte(tc.doc)) != (tc.offset < 0) {
				t.Fatalf("the case disagrees with encoding/json")
			}
			if tc.offset < 0 {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SyntaxError, got %v", err)
			}
			if se.Offset != tc.offset || se.Msg == "" {
				t.Errorf("got offset %d (%s), want %d", se.Offset, se.Msg, tc.offset)
			}
		})
	}
}

// TestDepth checks the nesting limit of encoding/json: 10000 levels are accepted, 10001 are not.
func TestDepth(t *testing.T) {
	t.Parallel()
	s := trueSchema(t)
	c := NewCompiler()
	doc := map[string]any{"items": map[string]any{"$ref": "#"}, "type": []any{"array", "object"},
		"additionalProperties": map[string]any{"$ref": "#"}}
	if err := c.AddResource("http://example.test/nest.json", doc); err != nil {
		t.Fatal(err)
	}
	nest, err := c.Compile("http://example.test/nest.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		depth int
		ok    bool
	}{{"arrays at the limit", maxDepth, true}, {"arrays beyond the limit", maxDepth + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth))
			obj := []byte(strings.Repeat(`{"a":`, tc.depth-1) + "{}" + strings.Repeat("}", tc.depth-1))
			for _, v := range []*Schema{s, nest} {
				for _, d := range [][]byte{doc, obj} {
					err := v.Validate(d)
					var se *SyntaxError
					if tc.ok && err != nil {
						t.Errorf("got %v", err)
					}
					if !tc.ok && !errors.As(err, &se) {
						t.Errorf("want a *SyntaxError, got %v", err)
					}
				}
			}
		})
	}
}

// TestSyntaxRandom compares acceptance with encoding/json on random mutations of JSON text.
func TestSyntaxRandom(t *testing.T) {
	t.Parallel()
	s := trueSchema(t)
	r := rand.New(rand.NewPCG(3, 4))
	seeds := []string{string(pageView), string(purchase), `{"a":"\u00e9\ud83d\ude00","b":[1e5,-0.5,true,null]}`, `"x\\"`}
	const alphabet = "{}[],:\"\\ 0123456789eE+-.tfnulrsa\x00\x1f\x7f\xc3\xa9\xff"
	for i := 0; i < 20000; i++ {
		b := []byte(seeds[r.IntN(len(seeds))])
		for k := r.IntN(4) + 1; k > 0; k-- {
			p := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b = append(b[:p], b[p+1:]...)
			case 1:
				b = append(b[:p], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[p:]...)...)
			default:
				b[p] = alphabet[r.IntN(len(alphabet))]
			}
			if len(b) == 0 {
				b = []byte{'1'}
			}
		}
		err := s.Validate(b)
		var se *SyntaxError
		if json.Valid(b) == errors.As(err, &se) {
			t.Fatalf("%q: encoding/json valid=%v, got %v", b, json.Valid(b), err)
		}
		if s.fast(b) == rOK && !json.Valid(b) {
			t.Fatalf("%q: the fast pass accepts malformed JSON", b)
		}
	}
}

// TestUnescape compares decoded strings with encoding/json's.
func TestUnescape(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	parts := []string{"a", "é", "\xff", "\xc3", "\xed\xa0\x80", `\n`, `\"`, `\\`, `\/`, `\u0041`, `\u00e9`, `\ud83d\ude00`,
		`\ud800`, `\udc00`, `\ud800\ud800`, `\ud800\u0041`, `\uDBFF\uDFFF`, "\U0001F600", " "}
	for i := 0; i < 5000; i++ {
		var sb strings.Builder
		sb.WriteByte('"')
		for k := r.IntN(6); k >= 0; k-- {
			sb.WriteString(parts[r.IntN(len(parts))])
		}
		sb.WriteByte('"')
		doc := []byte(sb.String())
		var want string
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		end, _, ok := scanString(doc, 0)
		if !ok || end != len(doc) {
			t.Fatalf("%q: scanString", doc)
		}
		if got := string(unescape(nil, doc[1:len(doc)-1])); got != want {
			t.Fatalf("%q: got %q, want %q", doc, got, want)
		}
	}
}

// TestAttention compares the eight-byte test with a byte-by-byte one: whether a byte needs attention and
// which is the first.
func TestAttention(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 8))
	interesting := []byte{0, 0x1f, 0x20, 0x21, '"', '\\', 0x7f, 0x80, 0xff, 'a', 0x5b, 0x5d, 0x22 ^ 0x80}
	var b [8]byte
	for i := 0; i < 200000; i++ {
		first := 8
		for k := range b {
			if r.IntN(2) == 0 {
				b[k] = interesting[r.IntN(len(interesting))]
			} else {
				b[k] = byte(r.IntN(256))
			}
			if !strPlain[b[k]] && first == 8 {
				first = k
			}
		}
		m := attention(binary.LittleEndian.Uint64(b[:]))
		if got := bits.TrailingZeros64(m) >> 3; got != first {
			t.Fatalf("%q: first byte needing attention at %d, want %d", b, got, first)
		}
	}
}
