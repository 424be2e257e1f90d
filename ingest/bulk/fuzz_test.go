package bulk

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"

	"github.com/serverless-data-platform/sdp/event"
)

// fuzzLimits are small so that the fuzzer reaches the oversized and too-deep paths.
var fuzzLimits = event.Limits{MaxEventBytes: 128, MaxDepth: 4}

// fuzzItem is what an Item says about an event, comparable across readings.
type fuzzItem struct {
	line, index int
	raw         string
	bad         bool
}

// fuzzRead reads every item of data with opts, checking the invariants each item must hold.
func fuzzRead(t *testing.T, data []byte, opts ReaderOptions) ([]fuzzItem, error) {
	t.Helper()
	opts.Limits = fuzzLimits
	rd, err := NewReader(bytes.NewReader(data), opts)
	if err != nil {
		return nil, err
	}
	var out []fuzzItem
	for {
		it, ok := rd.Next()
		if !ok {
			break
		}
		if len(it.Raw) > fuzzLimits.MaxEventBytes {
			t.Fatalf("item %d holds %d bytes, over the limit of %d", it.Index, len(it.Raw), fuzzLimits.MaxEventBytes)
		}
		if it.Err != nil {
			var ve *event.ValidationError
			if !errors.As(it.Err, &ve) {
				t.Fatalf("item %d: error %v (%T) is not a *event.ValidationError", it.Index, it.Err, it.Err)
			}
		}
		if n := len(out); n > 0 && it.Index <= out[n-1].index {
			t.Fatalf("item index %d after %d", it.Index, out[n-1].index)
		}
		if len(out) > len(data)+1 {
			t.Fatalf("%d items from %d bytes", len(out), len(data))
		}
		out = append(out, fuzzItem{line: it.Line, index: it.Index, raw: string(it.Raw), bad: it.Err != nil})
	}
	return out, rd.Err()
}

// gzipMembers compresses each part as one gzip member and concatenates them.
func gzipMembers(t testing.TB, parts ...[]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// FuzzReader checks Reader on any object: it never panics, holds at most one event of MaxEventBytes, returns
// only *event.ValidationError per item, reads a gzip object (one member or several) as its content, and
// keeps the events of a valid NDJSON prefix whatever follows it.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"",
		`{"id":"a"}` + "\n" + `{"id":"b"}` + "\n",
		`{"id":"a"}` + "\r\n\n" + `{"id":"b"}`,
		`[{"id":"a"},{"id":"b"}]`,
		` [ {"id":"a"} , {"id":"b","data":{"x":[1,2,{"y":null}]}} ] `,
		`{"specversion":"1.0","id":"1","source":"s","type":"t"}` + "\n" + `not json` + "\n",
		"\xef\xbb\xbf" + `{"id":"bom"}`,
		`[{"a":[[[[[[1]]]]]]}, "str", 3]`,
		`{"id":"` + string(bytes.Repeat([]byte("x"), 200)) + `"}` + "\n" + `{"id":"c"}`,
		"{\"id\":\"\xff\"}\n",
		`[{"id":"a"}`,
		`[{"id":"a"},]`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	f.Add(gzipMembers(f, []byte(seeds[1]), []byte(seeds[2])), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, skip uint8) {
		opts := ReaderOptions{Skip: int(skip % 4)}
		plain, plainErr := fuzzRead(t, data, opts)
		if bytes.HasPrefix(data, gzipMagic) {
			return
		}
		if plainErr != nil && !errors.Is(plainErr, event.ErrMalformed) {
			t.Fatalf("reading bytes in memory failed with %v", plainErr)
		}

		// The same content gzip-compressed, as one member and cut into two members, reads the same.
		half := len(data) / 2
		for _, z := range [][]byte{gzipMembers(t, data), gzipMembers(t, data[:half], data[half:])} {
			got, err := fuzzRead(t, z, opts)
			if (err == nil) != (plainErr == nil) {
				t.Fatalf("gzip read error %v; plain read error %v", err, plainErr)
			}
			if !equalItems(got, plain) {
				t.Fatalf("gzip read %d items, plain %d:\n%v\n%v", len(got), len(plain), got, plain)
			}
		}

		// As NDJSON, the events of data are kept when anything follows it on later lines.
		prefix, err := fuzzRead(t, data, ReaderOptions{Format: event.FormatNDJSON})
		if err != nil {
			t.Fatalf("NDJSON read: %v", err)
		}
		longer := append(append(bytes.Clone(data), '\n'), "{\"id\":[\n]}]garbage\xff"...)
		all, err := fuzzRead(t, longer, ReaderOptions{Format: event.FormatNDJSON})
		if err != nil {
			t.Fatalf("NDJSON read with a suffix: %v", err)
		}
		if len(all) < len(prefix) || !equalItems(all[:len(prefix)], prefix) {
			t.Fatalf("a suffix changed the prefix's items:\n%v\n%v", all, prefix)
		}
	})
}

// equalItems reports whether a and b hold the same items.
func equalItems(a, b []fuzzItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
