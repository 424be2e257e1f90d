package schemac

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// tree is a JSON document that keeps member order, duplicate names and the raw text of scalars.
type tree struct {
	raw  string // a scalar's JSON text
	arr  []*tree
	obj  []member
	kind byte // 's' scalar, 'a' array, 'o' object
}

// member is a member of an object; name is raw JSON text (quoted).
type member struct {
	name string
	val  *tree
}

// parseTree reads JSON text into a tree.
func parseTree(t *testing.T, b []byte) *tree {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var read func() *tree
	read = func() *tree {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '[' {
				n := &tree{kind: 'a'}
				for dec.More() {
					n.arr = append(n.arr, read())
				}
				_, _ = dec.Token()
				return n
			}
			n := &tree{kind: 'o'}
			for dec.More() {
				k, _ := dec.Token()
				name, _ := json.Marshal(k)
				n.obj = append(n.obj, member{string(name), read()})
			}
			_, _ = dec.Token()
			return n
		case json.Number:
			return &tree{kind: 's', raw: v.String()}
		default:
			raw, _ := json.Marshal(v)
			return &tree{kind: 's', raw: string(raw)}
		}
	}
	return read()
}

// write renders a tree.
func (n *tree) write(sb *strings.Builder) {
	switch n.kind {
	case 's':
		sb.WriteString(n.raw)
	case 'a':
		sb.WriteByte('[')
		for i, x := range n.arr {
			if i > 0 {
				sb.WriteByte(',')
			}
			x.write(sb)
		}
		sb.WriteByte(']')
	default:
		sb.WriteByte('{')
		for i, m := range n.obj {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(m.name)
			sb.WriteByte(':')
			m.val.write(sb)
		}
		sb.WriteByte('}')
	}
}

// clone copies a tree.
func (n *tree) clone() *tree {
	c := &tree{kind: n.kind, raw: n.raw}
	for _, x := range n.arr {
		c.arr = append(c.arr, x.clone())
	}
	for _, m := range n.obj {
		c.obj = append(c.obj, member{m.name, m.val.clone()})
	}
	return c
}

// nodes lists the containers of a tree.
func (n *tree) containers(out []*tree) []*tree {
	if n.kind != 's' {
		out = append(out, n)
	}
	for _, x := range n.arr {
		out = x.containers(out)
	}
	for _, m := range n.obj {
		out = m.val.containers(out)
	}
	return out
}

// Values and names the mutations draw from: numbers at and around the schemas' bounds and in every JSON
// form, strings with escapes, non-ASCII text, invalid UTF-8 and near-miss formats, and nested values.
var (
	pool = []string{
		`0`, `-0`, `1`, `1.0`, `1e2`, `1E+2`, `12.5`, `-1`, `86400000`, `86400001`, `86400000.0`, `8.64e7`, `8.6400001e7`,
		`1e-7`, `0.5`, `1.0000000000000000001`, `0.9999999999999999999`, `1e400`, `-1e400`, `123456789012345678901234567890`,
		`1000000`, `1000000.0000001`, `-1000000`, `100`, `100.5`, `2.5e-324`, `0.0`, `-0.0e5`,
		`""`, `"a"`, `"DE"`, `"de"`, `"\u0044\u0045"`, `"D\u0045"`, `"é"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`,
		"\"\xff\"", "\"a\xc3\"", `"https://shop.example/p/1"`, `"/p/1"`, `"a:b"`, `"a:b\\c"`, `"//host:80/x"`, `"//host:8x/"`,
		`"2026-11-26T09:00:00Z"`, `"2026-02-29T09:00:00Z"`, `"2024-02-29T23:59:60Z"`, `"2026-11-26t09:00:00.5+23:59"`,
		`"2026-11-26T24:00:00Z"`, `"1.0"`, `"page_view"`, `"purchase"`, `"application/json"`, `"\n"`, `"\/p\/1"`,
		`"http://[::1]:80/x"`, `"http://[::1/x"`, `"mailto:a@b"`, `"http://a b"`, `"http://h/%zz"`, `"http://h/%41"`,
		`"card"`, `"celsius"`, `"temperature"`, `"EUR"`, `"EURO"`, `"` + strings.Repeat("x", 300) + `"`,
		`"` + strings.Repeat("é", 128) + `"`, `"` + strings.Repeat("é", 129) + `"`,
		`true`, `false`, `null`, `[]`, `{}`, `[1,2]`, `[1,1.0]`, `{"a":1}`, `{"a":1,"a":2}`, `[{"sku":"a","quantity":1,"unit_price":0}]`,
		`[{"sku":"a","quantity":1,"unit_price":0},{"sku":"a","quantity":1,"unit_price":0}]`,
		`{"sku":"a","quantity":1,"unit_price":0,"sku":""}`,
	}
	names = []string{
		`"url"`, `"title"`, `"country"`, `"data"`, `"id"`, `"time"`, `"type"`, `"subject"`, `"source"`, `"specversion"`,
		`"dataschema"`, `"datacontenttype"`, `"items"`, `"sku"`, `"quantity"`, `"amount"`, `"value"`, `"unit"`,
		`"Foo"`, `"x"`, `"a b"`, `"\u0075rl"`, `""`, `"données"`, `"aaaaaaaaaaaaaaaaaaaaa"`, `"session_id"`,
	}
)

// mutate applies one random change to a copy of doc and renders it.
func mutate(r *rand.Rand, doc *tree) string {
	d := doc.clone()
	for k := r.IntN(3) + 1; k > 0; k-- {
		cs := d.containers(nil)
		c := cs[r.IntN(len(cs))]
		val := func() *tree { return &tree{kind: 's', raw: pool[r.IntN(len(pool))]} }
		switch op := r.IntN(6); {
		case c.kind == 'a' && len(c.arr) > 0 && op < 3:
			c.arr[r.IntN(len(c.arr))] = val()
		case c.kind == 'a':
			c.arr = append(c.arr, c.arr...)
		case len(c.obj) == 0 || op == 0:
			c.obj = append(c.obj, member{names[r.IntN(len(names))], val()})
		case op == 1:
			i := r.IntN(len(c.obj))
			c.obj = append(c.obj[:i], c.obj[i+1:]...)
		case op == 2:
			m := c.obj[r.IntN(len(c.obj))]
			c.obj = append(c.obj, member{m.name, val()})
		default:
			c.obj[r.IntN(len(c.obj))].val = val()
		}
	}
	var sb strings.Builder
	d.write(&sb)
	s := sb.String()
	if r.IntN(8) == 0 {
		// A byte-level change, mostly making the text malformed.
		b := []byte(s)
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b = append(b[:i], b[i+1:]...)
		case 1:
			const punct = "{}[],:\"\\ 0e-"
			b = append(b[:i], append([]byte{punct[r.IntN(len(punct))]}, b[i:]...)...)
		default:
			b[i] = byte(r.IntN(256))
		}
		s = string(b)
	}
	return s
}

// TestDifferentialEvents validates random mutations of the three events with both validators: the answers,
// the selected errors and the fast pass must agree with the reference.
func TestDifferentialEvents(t *testing.T) {
	t.Parallel()
	docs := eventSchemas(t)
	n := 1500
	if testing.Short() {
		n = 200
	}
	for _, tc := range []struct {
		typ  string
		base []byte
	}{{"page_view", pageView}, {"purchase", purchase}, {"sensor_reading", sensorReading}} {
		t.Run(tc.typ, func(t *testing.T) {
			t.Parallel()
			ours, ref := compileEvent(t, docs, tc.typ)
			r := rand.New(rand.NewPCG(1, uint64(len(tc.typ))))
			doc := parseTree(t, tc.base)
			var valid, fastValid, invalid, malformed, ties int
			for i := 0; i < n; i++ {
				data := []byte(mutate(r, doc))
				got := ours.Validate(data)
				v, derr := jsonschema.UnmarshalJSON(bytes.NewReader(data))
				if derr != nil {
					var se *SyntaxError
					if !errors.As(got, &se) {
						t.Fatalf("%s: the reference cannot decode it (%v); got %v", data, derr, got)
					}
					if ours.fast(data) == rOK {
						t.Fatalf("%s: the fast pass accepts malformed JSON", data)
					}
					malformed++
					continue
				}
				refErr := ref.Validate(v)
				switch checkCase(t, string(data), ours, data, got, refErr) {
				case 0:
					t.FailNow()
				case 2:
					ties++
				}
				if got == nil {
					valid++
					if ours.fast(data) == rOK {
						fastValid++
					}
				} else {
					invalid++
				}
			}
			t.Logf("%d mutations: %d valid (%d accepted by the fast pass alone), %d invalid (%d selections decided by map-order ties), %d malformed",
				n, valid, fastValid, invalid, ties, malformed)
		})
	}
}

// TestDifferentialSuiteData validates, for each suite file, the data of every test of the file against every
// schema of the file, with both validators.
func TestDifferentialSuiteData(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long")
	}
	groupsByFile, remotes := loadSuite(t)
	var total int
	for file, groups := range groupsByFile {
		var data [][]byte
		for _, g := range groups {
			for _, tc := range g.Tests {
				data = append(data, tc.Data)
			}
		}
		for _, g := range groups {
			ours, ref, err := compileBoth(t, g.Schema, remotes)
			if err != nil {
				continue
			}
			for _, d := range data {
				v, derr := jsonschema.UnmarshalJSON(bytes.NewReader(d))
				if derr != nil {
					t.Fatal(derr)
				}
				name := fmt.Sprintf("%s / %s / %s", file, g.Description, d)
				if checkCase(t, name, ours, d, ours.Validate(d), ref.Validate(v)) == 0 {
					t.FailNow()
				}
				total++
			}
		}
	}
	t.Logf("%d validations agree", total)
}

// compileBoth compiles a suite schema with both compilers; err is set when ours does not compile it.
func compileBoth(t *testing.T, schema []byte, remotes map[string]any) (*Schema, *jsonschema.Schema, error) {
	const url = "http://testsuites.com/schema.json"
	doc := decode(t, schema)
	docs := map[string]any{url: doc}
	c := NewCompiler()
	for u, d := range remotes {
		docs[u] = d
		if err := c.AddResource(u, d); err != nil {
			return nil, nil, err
		}
	}
	if err := c.AddResource(url, doc); err != nil {
		return nil, nil, err
	}
	ours, err := c.Compile(url)
	if err != nil {
		return nil, nil, err
	}
	ref, err := refCompiler(docs).Compile(url)
	if err != nil {
		t.Fatalf("%s: the reference does not compile it: %v", schema, err)
	}
	return ours, ref, nil
}
