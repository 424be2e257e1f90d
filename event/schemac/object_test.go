package schemac

import (
	"fmt"
	"strings"
	"testing"
)

// TestNameHash checks name lookups, including names that share a summary (same length, first and last eight
// bytes) and names absent from the table.
func TestNameHash(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 8) + "_x_" + strings.Repeat("b", 8)
	names := []string{"type", "time", "data", "dataschema", "", "a", "\x00a", "ab", "abcdefgh", "abcdefghi", long,
		strings.Replace(long, "_x_", "_y_", 1), "datacontenttype", "é"}
	o := &objConj{names: names, hash: newNameHash(names)}
	for k, name := range names {
		if got := o.lookup([]byte(name)); got != k {
			t.Errorf("%q: got %d, want %d", name, got, k)
		}
	}
	for _, absent := range []string{"tyme", "Type", "\x00", "b", "abcdefgj", strings.Replace(long, "_x_", "_z_", 1),
		"aaaaaaaab", "dat", "datacontenttypes"} {
		if got := o.lookup([]byte(absent)); got != -1 {
			t.Errorf("%q: got %d, want -1", absent, got)
		}
	}
	empty := &objConj{hash: newNameHash(nil)}
	if got := empty.lookup([]byte("x")); got != -1 {
		t.Errorf("empty table: got %d", got)
	}
}

// TestManyNames checks objects whose schema names more than 64 properties (the bitset of names seen then
// spans several words), against the reference.
func TestManyNames(t *testing.T) {
	t.Parallel()
	var props, members []string
	for i := 0; i < 100; i++ {
		props = append(props, fmt.Sprintf(`"p%d": {"type": "integer"}`, i))
		members = append(members, fmt.Sprintf(`"p%d": %d`, i, i))
	}
	schema := `{"properties": {` + strings.Join(props, ",") + `}, "required": ["p0", "p70", "p99"],
		"dependentRequired": {"p65": ["p66"]}, "additionalProperties": false}`
	doc := decode(t, []byte(schema))
	c := NewCompiler()
	if err := c.AddResource("http://example.test/many.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("http://example.test/many.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := refCompiler(map[string]any{"http://example.test/many.json": doc}).Compile("http://example.test/many.json")
	if err != nil {
		t.Fatal(err)
	}
	all := "{" + strings.Join(members, ",") + "}"
	for _, tc := range []struct {
		name  string
		doc   string
		valid bool
	}{
		{"all members", all, true},
		{"missing a required name beyond 64", strings.Replace(all, `"p70": 70,`, "", 1), false},
		{"missing a dependent name beyond 64", strings.Replace(all, `"p66": 66,`, "", 1), false},
		{"wrong type beyond 64", strings.Replace(all, `"p90": 90`, `"p90": "x"`, 1), false},
		{"duplicate beyond 64", strings.Replace(all, `"p80": 80`, `"p80": "x", "p80": 80`, 1), true},
		{"unknown name", strings.Replace(all, `"p80"`, `"q80"`, 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Validate([]byte(tc.doc))
			if (got == nil) != tc.valid {
				t.Fatalf("got %v, want valid=%v", got, tc.valid)
			}
			if checkCase(t, tc.name, s, []byte(tc.doc), got, validateRef(t, ref, []byte(tc.doc))) == 0 {
				t.FailNow()
			}
		})
	}
}

// TestUnknownNames checks duplicate detection among names the schema does not mention, for few and for many
// names (the latter sorted by hash), against the reference.
func TestUnknownNames(t *testing.T) {
	t.Parallel()
	schema := `{"additionalProperties": {"type": "integer"}, "maxProperties": 40}`
	doc := decode(t, []byte(schema))
	c := NewCompiler()
	if err := c.AddResource("http://example.test/unknown.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("http://example.test/unknown.json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := refCompiler(map[string]any{"http://example.test/unknown.json": doc}).Compile("http://example.test/unknown.json")
	if err != nil {
		t.Fatal(err)
	}
	object := func(n int, extra string) string {
		var ms []string
		for i := 0; i < n; i++ {
			ms = append(ms, fmt.Sprintf(`"n%d": %d`, i, i))
		}
		return "{" + strings.Join(append(ms, extra), ",") + "}"
	}
	for _, tc := range []struct {
		name  string
		doc   string
		valid bool
		fast  bool // decided by the fast pass alone
	}{
		{"few distinct", object(5, `"z": 1`), true, true},
		{"few with a duplicate, last valid", object(5, `"n3": 3`), true, false},
		{"many distinct", object(30, `"z": 1`), true, true},
		{"many with a duplicate, last valid", strings.Replace(object(30, `"n17": 17`), `"n17": 17`, `"n17": "x"`, 1), true, false},
		{"many with a duplicate, last invalid", object(30, `"n17": "x"`), false, false},
		{"too many distinct", object(41, `"z": 1`), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Validate([]byte(tc.doc))
			if (got == nil) != tc.valid {
				t.Fatalf("got %v, want valid=%v", got, tc.valid)
			}
			if fast := s.fast([]byte(tc.doc)) == rOK; fast != tc.fast {
				t.Errorf("decided by the fast pass: %v, want %v", fast, tc.fast)
			}
			if checkCase(t, tc.name, s, []byte(tc.doc), got, validateRef(t, ref, []byte(tc.doc))) == 0 {
				t.FailNow()
			}
		})
	}
}
