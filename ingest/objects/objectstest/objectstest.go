// Package objectstest is the contract suite of the raw-object port (objects.Store): every adapter (the
// folder, S3) must pass Run.
package objectstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// Run runs the contract suite. newStore must return an empty store for each call; each case runs as its
// own subtest with its own store. List must page through results larger than 10 objects the way the
// adapter does in production (an S3 adapter under test should use a small page size).
func Run(t *testing.T, newStore func(t *testing.T) objects.Store) {
	t.Helper()
	RunQuirks(t, Quirks{}, newStore)
}

// Quirks are the known deviations from S3 of an emulator that the suite tolerates when the adapter runs on
// it. The local adapter and moto have none.
type Quirks struct {
	// AnyListOrder checks the keys a listing yields but not their order (s3rver sorts "a/b" before
	// "a.txt"; S3 sorts by bytes).
	AnyListOrder bool
}

// RunQuirks runs the contract suite, tolerating the emulator's quirks q.
func RunQuirks(t *testing.T, q Quirks, newStore func(t *testing.T) objects.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s objects.Store)
	}{
		{"PutStatOpen", testPutStatOpen},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"Ranges", testRanges},
		{"EmptyObject", testEmptyObject},
		{"ListOrderAndPrefixes", func(t *testing.T, s objects.Store) { testListPrefixes(t, s, q) }},
		{"ListManyPages", testListMany},
		{"ListStopsEarly", testListStopsEarly},
		{"InvalidKeys", testInvalidKeys},
		{"LargeObject", testLargeObject},
		{"PutFromOffset", testPutFromOffset},
		{"CancelledContext", testCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

// ctx returns a context bounded for one case.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// put writes an object and fails the test on error.
func put(t *testing.T, s objects.Store, key, body string) objects.Object {
	t.Helper()
	o, err := s.Put(ctx(t), key, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return o
}

// read returns a function that reads a stream to its end and closes it, failing the test on error; it
// takes what Open and OpenRange return.
func read(t *testing.T) func(io.ReadCloser, error) string {
	return func(rc io.ReadCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}

// list collects a listing.
func list(t *testing.T, s objects.Store, prefix string) []objects.Object {
	t.Helper()
	var out []objects.Object
	for o, err := range s.List(ctx(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		out = append(out, o)
	}
	return out
}

// keys returns the keys of objects.
func keys(os []objects.Object) []string {
	out := []string{}
	for _, o := range os {
		out = append(out, o.Key)
	}
	return out
}

// same reports how two metadata of one object differ, "" when they agree.
func same(a, b objects.Object) string {
	if a.Key != b.Key || a.Size != b.Size || a.ETag != b.ETag || !a.LastModified.Equal(b.LastModified) {
		return fmt.Sprintf("%+v != %+v", a, b)
	}
	return ""
}

// testPutStatOpen writes an object and reads it back three ways.
func testPutStatOpen(t *testing.T, s objects.Store) {
	const key, body = "backfill/2026/11/26/events-0001.ndjson", "{\"id\":\"1\"}\n{\"id\":\"2\"}\n"
	before := time.Now().Add(-time.Minute)
	o := put(t, s, key, body)
	if o.Key != key || o.Size != int64(len(body)) || len(o.ETag) < 3 || o.ETag[0] != '"' || o.LastModified.Before(before) {
		t.Errorf("Put = %+v", o)
	}
	st, err := s.Stat(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if d := same(o, st); d != "" {
		t.Errorf("Put and Stat differ: %s", d)
	}
	if got := read(t)(s.Open(ctx(t), key)); got != body {
		t.Errorf("Open = %q, want %q", got, body)
	}
	if d := same(list(t, s, "")[0], st); d != "" {
		t.Errorf("List and Stat differ: %s", d)
	}
	// Keys may hold any UTF-8 beyond ASCII, and spaces.
	put(t, s, "données/été 2026.json", "[]")
	if got := read(t)(s.Open(ctx(t), "données/été 2026.json")); got != "[]" {
		t.Errorf("Open of a non-ASCII key = %q", got)
	}
}

// testOverwrite checks that a second Put replaces the object and its ETag.
func testOverwrite(t *testing.T, s objects.Store) {
	first := put(t, s, "k", "first version")
	second := put(t, s, "k", "second, longer version")
	if first.ETag == second.ETag || second.Size != int64(len("second, longer version")) {
		t.Errorf("after overwrite: %+v, was %+v", second, first)
	}
	if got := read(t)(s.Open(ctx(t), "k")); got != "second, longer version" {
		t.Errorf("Open = %q", got)
	}
	if n := len(list(t, s, "")); n != 1 {
		t.Errorf("List has %d objects, want 1", n)
	}
}

// testNotFound checks the answers about a missing object.
func testNotFound(t *testing.T, s objects.Store) {
	put(t, s, "dir/present", "x")
	for _, key := range []string{"missing", "dir/missing", "dir"} {
		if _, err := s.Stat(ctx(t), key); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.Open(ctx(t), key); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
		if _, err := s.OpenRange(ctx(t), key, 0, 1); !errors.Is(err, objects.ErrNotFound) {
			t.Errorf("OpenRange(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

// testRanges reads parts of an object.
func testRanges(t *testing.T, s objects.Store) {
	put(t, s, "digits", "0123456789")
	tests := []struct {
		name           string
		offset, length int64
		want           string
		wantErr        error
	}{
		{"head", 0, 4, "0123", nil},
		{"middle", 3, 2, "34", nil},
		{"to the end", 6, -1, "6789", nil},
		{"past the end is cut", 8, 10, "89", nil},
		{"last byte", 9, 1, "9", nil},
		{"whole", 0, -1, "0123456789", nil},
		{"offset at the end", 10, 1, "", objects.ErrInvalidRange},
		{"offset past the end", 100, -1, "", objects.ErrInvalidRange},
		{"negative offset", -1, 2, "", objects.ErrInvalidRange},
		{"zero length", 0, 0, "", objects.ErrInvalidRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := s.OpenRange(ctx(t), "digits", tt.offset, tt.length)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("OpenRange = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if got := read(t)(rc, err); got != tt.want {
				t.Errorf("OpenRange = %q, want %q", got, tt.want)
			}
		})
	}
}

// testEmptyObject checks an object of no bytes: it exists, reads empty, and has no range.
func testEmptyObject(t *testing.T, s objects.Store) {
	o := put(t, s, "empty", "")
	if o.Size != 0 {
		t.Errorf("Put = %+v", o)
	}
	if got := read(t)(s.Open(ctx(t), "empty")); got != "" {
		t.Errorf("Open = %q", got)
	}
	if _, err := s.OpenRange(ctx(t), "empty", 0, -1); !errors.Is(err, objects.ErrInvalidRange) {
		t.Errorf("OpenRange of an empty object = %v, want ErrInvalidRange", err)
	}
}

// testListPrefixes checks the order of a listing (bytes, not path segments) and prefixes that are not
// directories.
func testListPrefixes(t *testing.T, s objects.Store, q Quirks) {
	all := []string{"a.txt", "a/b", "a/c/d", "ab", "b", objects.ErrorKey("a/b")}
	for _, k := range slices.Backward(all) {
		put(t, s, k, "content of "+k)
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a", []string{"a.txt", "a/b", "a/c/d", "ab"}},
		{"a/", []string{"a/b", "a/c/d"}},
		{"a/c/", []string{"a/c/d"}},
		{"a/c/d", []string{"a/c/d"}},
		{"errors/", []string{"errors/a/b.ndjson"}},
		{"zzz", []string{}},
		{"a/zz/", []string{}},
	}
	for _, tt := range tests {
		got := list(t, s, tt.prefix)
		gotKeys := keys(got)
		if q.AnyListOrder {
			slices.Sort(gotKeys)
			tt.want = slices.Sorted(slices.Values(tt.want))
		}
		if !slices.Equal(gotKeys, tt.want) {
			t.Errorf("List(%q) = %q, want %q", tt.prefix, keys(got), tt.want)
		}
		for _, o := range got {
			if o.Size != int64(len("content of "+o.Key)) || o.ETag == "" || o.LastModified.IsZero() {
				t.Errorf("List(%q): %+v", tt.prefix, o)
			}
		}
	}
}

// testListMany lists more objects than one page holds.
func testListMany(t *testing.T, s objects.Store) {
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("many/%03d.json", i)
		want = append(want, k)
		put(t, s, k, "{}")
	}
	if got := keys(list(t, s, "many/")); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
}

// testListStopsEarly checks that breaking out of a listing stops it.
func testListStopsEarly(t *testing.T, s objects.Store) {
	for i := range 12 {
		put(t, s, fmt.Sprintf("k%02d", i), "x")
	}
	n := 0
	for _, err := range s.List(ctx(t), "") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("iterated %d objects, want 3", n)
	}
}

// testInvalidKeys checks that keys escaping the bucket's folder, or ambiguous, are refused by every call.
func testInvalidKeys(t *testing.T, s objects.Store) {
	for _, key := range []string{"", "/abs", "a//b", "../x", "a/../b", "./a", "a/", "a\\b", "nul\x00", strings.Repeat("k", objects.MaxKeyLen+1)} {
		if _, err := s.Put(ctx(t), key, strings.NewReader("x")); !errors.Is(err, objects.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx(t), key); !errors.Is(err, objects.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Open(ctx(t), key); !errors.Is(err, objects.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("refused keys left objects: %q", keys(got))
	}
}

// testLargeObject round-trips an object of 3 MiB and reads a range across its middle.
func testLargeObject(t *testing.T, s objects.Store) {
	body := make([]byte, 3<<20)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	o, err := s.Put(ctx(t), "large.bin", bytes.NewReader(body))
	if err != nil || o.Size != int64(len(body)) {
		t.Fatalf("Put = %+v, %v", o, err)
	}
	if got := read(t)(s.Open(ctx(t), "large.bin")); got != string(body) {
		t.Errorf("Open read %d bytes, want %d equal ones", len(got), len(body))
	}
	off := int64(len(body)/2 - 5)
	if got := read(t)(s.OpenRange(ctx(t), "large.bin", off, 1<<20)); got != string(body[off:off+1<<20]) {
		t.Errorf("OpenRange read %d bytes, want the 1 MiB from %d", len(got), off)
	}
}

// testPutFromOffset checks that Put sends the body from its current position.
func testPutFromOffset(t *testing.T, s objects.Store) {
	r := strings.NewReader("skip:keep")
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx(t), "partial", r); err != nil {
		t.Fatal(err)
	}
	if got := read(t)(s.Open(ctx(t), "partial")); got != "keep" {
		t.Errorf("Open = %q, want %q", got, "keep")
	}
}

// testCancelled checks that a cancelled context fails calls with its error.
func testCancelled(t *testing.T, s objects.Store) {
	put(t, s, "k", "x")
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Stat(c, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat = %v, want context.Canceled", err)
	}
	if _, err := s.Open(c, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open = %v, want context.Canceled", err)
	}
	if _, err := s.Put(c, "k2", strings.NewReader("y")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	for _, err := range s.List(c, "") {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("List = %v, want context.Canceled", err)
		}
	}
}
