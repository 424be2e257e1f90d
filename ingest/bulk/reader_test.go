package bulk

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/event"
)

// gz compresses s as one gzip member.
func gz(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// summary renders an item as "line:index:offset raw" plus " !rule" when it has an error.
func summary(it Item) string {
	s := fmt.Sprintf("%d:%d:%d %s", it.Line, it.Index, it.Offset, it.Raw)
	if it.Err != nil {
		var ve *event.ValidationError
		if !errors.As(it.Err, &ve) {
			return s + " !" + it.Err.Error()
		}
		s += " !" + ve.Rule
	}
	return s
}

// readAll reads every item of r and renders them.
func readAll(r *Reader) []string {
	var out []string
	for {
		it, ok := r.Next()
		if !ok {
			return out
		}
		out = append(out, summary(it))
	}
}

// TestReader checks the formats, positions and per-event errors of Reader.
func TestReader(t *testing.T) {
	t.Parallel()
	big := `{"id":"` + strings.Repeat("x", 60) + `"}` // 69 bytes, over the limit of 64 below
	small := event.Limits{MaxEventBytes: 64, MaxDepth: 3}
	tests := []struct {
		name    string
		in      string
		opts    ReaderOptions
		gzip    bool
		want    []string
		wantErr string // a substring of Err(), "" for a clean end
	}{
		{
			name: "NDJSON with a final newline",
			in:   "{\"a\":1}\n{\"b\":2}\n",
			want: []string{`1:0:8 {"a":1}`, `2:1:16 {"b":2}`},
		},
		{
			name: "NDJSON without a final newline",
			in:   "{\"a\":1}\n{\"b\":2}",
			want: []string{`1:0:8 {"a":1}`, `2:1:15 {"b":2}`},
		},
		{
			name: "CRLF line ends",
			in:   "{\"a\":1}\r\n{\"b\":2}\r\n",
			want: []string{`1:0:9 {"a":1}`, `2:1:18 {"b":2}`},
		},
		{
			name: "empty and blank lines are skipped but counted",
			in:   "\n\n{\"a\":1}\n   \n\t\r\n  {\"b\":2}  \n\n",
			want: []string{`3:0:10 {"a":1}`, `6:1:29 {"b":2}`},
		},
		{
			name: "malformed lines in the middle keep their neighbours",
			in:   "{\"a\":1}\n{\"a\":\n[1,2]\n\"s\"\n{\"b\":2}\n",
			want: []string{`1:0:8 {"a":1}`, `2:1:14 {"a": !json`, `3:2:20 [1,2] !type`, `4:3:24 "s" !type`, `5:4:32 {"b":2}`},
		},
		{
			name: "invalid UTF-8 and deep nesting",
			in:   "{\"a\":\"\xff\"}\n{\"a\":{\"b\":{\"c\":{}}}}\n{\"a\":{\"b\":{}}}\n",
			opts: ReaderOptions{Limits: small},
			want: []string{"1:0:10 {\"a\":\"\xff\"} !utf8", `2:1:31 {"a":{"b":{"c":{}}}} !maxDepth`, `3:2:46 {"a":{"b":{}}}`},
		},
		{
			name: "an oversized line is cut and its neighbours kept",
			in:   "{\"a\":1}\n" + big + "\n{\"b\":2}\n",
			opts: ReaderOptions{Limits: small},
			want: []string{`1:0:8 {"a":1}`, "2:1:78 " + big[:64] + " !maxEventBytes", `3:2:86 {"b":2}`},
		},
		{
			name: "white space past the limit does not make a line oversized",
			in:   "  " + big[:60] + "\"}" + strings.Repeat(" ", 100) + "\r\n",
			opts: ReaderOptions{Limits: small},
			want: []string{"1:0:166 " + big[:60] + "\"}"},
		},
		{
			name: "an oversized line longer than the read buffer",
			in:   "{\"a\":\"" + strings.Repeat("y", 3*readBufferSize) + "\"}\n{\"b\":2}\n",
			opts: ReaderOptions{Limits: small},
			want: []string{"1:0:196617 {\"a\":\"" + strings.Repeat("y", 58) + " !maxEventBytes", `2:1:196625 {"b":2}`},
		},
		{
			name: "a byte order mark is ignored",
			in:   "\xef\xbb\xbf{\"a\":1}\n",
			want: []string{`1:0:11 {"a":1}`},
		},
		{
			name: "an empty object holds no events",
			in:   "",
		},
		{
			name: "skip the first events",
			in:   "{\"a\":1}\n{\"b\":2}\nnope\n{\"c\":3}\n",
			opts: ReaderOptions{Skip: 2},
			want: []string{`3:2:21 nope !json`, `4:3:29 {"c":3}`},
		},
		{
			name: "a ranged NDJSON read keeps the object's positions",
			in:   "[\"x\"]\n{\"c\":3}\n",
			opts: ReaderOptions{Format: event.FormatNDJSON, Offset: 100, Line: 7, Index: 4},
			want: []string{`7:4:106 ["x"] !type`, `8:5:114 {"c":3}`},
		},
		{
			name: "array over several lines",
			in:   "[\n  {\"a\":1},\n  {\"b\":\n    [\"]\",\"}\\\"\"]},\n  {\"c\":3}\n]\n",
			want: []string{`2:0:11 {"a":1}`, "3:1:37 {\"b\":\n    [\"]\",\"}\\\"\"]}", `5:2:48 {"c":3}`},
		},
		{
			name: "array on one line with spaces",
			in:   ` [ {"a":1} , {"b":2} ] `,
			want: []string{`1:0:10 {"a":1}`, `1:1:20 {"b":2}`},
		},
		{
			name: "array: malformed and scalar elements keep their neighbours",
			in:   `[{"a":1},{"a":},42,"s",null,[1],{"b":2}]`,
			want: []string{`1:0:8 {"a":1}`, `1:1:15 {"a":} !json`, `1:2:18 42 !type`, `1:3:22 "s" !type`,
				`1:4:27 null !type`, `1:5:31 [1] !type`, `1:6:39 {"b":2}`},
		},
		{
			name: "array: an oversized element is cut",
			in:   "[{\"a\":1},\n" + big + ",{\"b\":2}]",
			opts: ReaderOptions{Limits: small},
			want: []string{`1:0:8 {"a":1}`, "2:1:79 " + big[:64] + " !maxEventBytes", `2:2:87 {"b":2}`},
		},
		{
			name: "empty array",
			in:   " [ ] \n",
		},
		{
			name:    "array not closed",
			in:      `[{"a":1},{"b":2}`,
			want:    []string{`1:0:8 {"a":1}`, `1:1:16 {"b":2}`},
			wantErr: "the array is not closed",
		},
		{
			name:    "array cut inside an event",
			in:      `[{"a":1},{"b":`,
			want:    []string{`1:0:8 {"a":1}`},
			wantErr: "the array ends inside event 1",
		},
		{
			name:    "array with data after its end",
			in:      `[{"a":1}] {"b":2}`,
			want:    []string{`1:0:8 {"a":1}`},
			wantErr: "unexpected '{' after the end of the array",
		},
		{
			name:    "array with a missing comma",
			in:      `[{"a":1} {"b":2}]`,
			want:    []string{`1:0:8 {"a":1}`},
			wantErr: "expected ',' or ']' after event 0",
		},
		{
			name:    "array with a trailing comma",
			in:      `[{"a":1},]`,
			want:    []string{`1:0:8 {"a":1}`},
			wantErr: "expected an event, found ']'",
		},
		{
			name: "gzip NDJSON",
			in:   "{\"a\":1}\n\n{\"b\":2}\n", gzip: true,
			want: []string{`1:0:8 {"a":1}`, `3:1:17 {"b":2}`},
		},
		{
			name: "gzip array",
			in:   `[{"a":1},{"b":2}]`, gzip: true,
			want: []string{`1:0:8 {"a":1}`, `1:1:16 {"b":2}`},
		},
		{
			name: "gzip with skip",
			in:   "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", gzip: true, opts: ReaderOptions{Skip: 1},
			want: []string{`2:1:16 {"b":2}`, `3:2:24 {"c":3}`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			if tc.gzip {
				in = gz(t, in)
			}
			r, err := NewReader(strings.NewReader(in), tc.opts)
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got := readAll(r)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if r.Compressed() != tc.gzip {
				t.Errorf("Compressed() = %v, want %v", r.Compressed(), tc.gzip)
			}
			switch err := r.Err(); {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Err() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Err() = %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && !errors.Is(err, event.ErrMalformed):
				t.Errorf("Err() = %v, want one wrapping event.ErrMalformed", err)
			}
			if _, ok := r.Next(); ok {
				t.Error("Next returned an item after the end")
			}
		})
	}
}

// TestReaderGzipStreams checks concatenated gzip members and broken gzip streams.
func TestReaderGzipStreams(t *testing.T) {
	t.Parallel()
	whole := gz(t, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"+strings.Repeat("{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n", 2000))
	tests := []struct {
		name      string
		in        string
		wantFirst []string // the first items
		wantErr   string
		newErr    string // NewReader's error
	}{
		{
			name:      "two members read as one stream",
			in:        gz(t, "{\"a\":1}\n{\"b\":") + gz(t, "2}\n{\"c\":3}\n"),
			wantFirst: []string{`1:0:8 {"a":1}`, `2:1:16 {"b":2}`, `3:2:24 {"c":3}`},
		},
		{
			name:      "truncated gzip: the events before the cut, then an error",
			in:        whole[:len(whole)/2],
			wantFirst: []string{`1:0:8 {"a":1}`, `2:1:16 {"b":2}`, `3:2:24 {"c":3}`},
			wantErr:   "the gzip stream is cut short",
		},
		{
			name:      "corrupt checksum",
			in:        whole[:len(whole)-8] + "\x00\x00\x00\x00" + whole[len(whole)-4:],
			wantFirst: []string{`1:0:8 {"a":1}`},
			wantErr:   "checksum",
		},
		{
			name:   "broken header",
			in:     "\x1f\x8b\x00\x00",
			newErr: "gzip but its header is broken",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(strings.NewReader(tc.in), ReaderOptions{})
			if tc.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.newErr) {
					t.Fatalf("NewReader error = %v, want one containing %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewReader: %v", err)
			}
			got := readAll(r)
			if len(got) < len(tc.wantFirst) || strings.Join(got[:len(tc.wantFirst)], "\n") != strings.Join(tc.wantFirst, "\n") {
				t.Errorf("first items:\n%s\nwant:\n%s", strings.Join(got[:min(len(got), len(tc.wantFirst))], "\n"), strings.Join(tc.wantFirst, "\n"))
			}
			switch err := r.Err(); {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Err() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Err() = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// pad is filler for generated events.
var pad = strings.Repeat("z", 200)

// ndjsonSource generates size bytes (about) of NDJSON events without holding them.
type ndjsonSource struct {
	left int
	n    int
	line []byte
	rest []byte
}

// Read fills p with whole generated lines.
func (s *ndjsonSource) Read(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if len(s.rest) == 0 {
			if s.left <= 0 {
				if written == 0 {
					return 0, io.EOF
				}
				break
			}
			s.n++
			s.line = fmt.Appendf(s.line[:0], `{"specversion":"1.0","id":"ev-%09d","source":"/gen","type":"page.viewed","data":{"path":"/p/%d","pad":"%s"}}`+"\n",
				s.n, s.n%1000, pad[:s.n%200])
			s.left -= len(s.line)
			s.rest = s.line
		}
		k := copy(p[written:], s.rest)
		s.rest = s.rest[k:]
		written += k
	}
	return written, nil
}

// TestReaderMemory streams 50 MB of NDJSON (plain and gzip) through a Reader and checks that the heap stays
// within a few MB.
func TestReaderMemory(t *testing.T) {
	const size = 50 << 20
	const maxHeap = 8 << 20
	tests := []struct {
		name string
		src  func() io.Reader
	}{
		{"plain", func() io.Reader { return &ndjsonSource{left: size} }},
		{"gzip", func() io.Reader {
			pr, pw := io.Pipe()
			go func() {
				zw := gzip.NewWriter(pw)
				_, err := io.Copy(zw, &ndjsonSource{left: size})
				if err == nil {
					err = zw.Close()
				}
				pw.CloseWithError(err)
			}()
			return pr
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			r, err := NewReader(tc.src(), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var n int
			var bytesRead int64
			var peak uint64
			for {
				it, ok := r.Next()
				if !ok {
					break
				}
				if it.Err != nil {
					t.Fatalf("item %d: %v", it.Index, it.Err)
				}
				n++
				bytesRead = it.Offset
				if n%20000 == 0 {
					// The live heap: what the Reader (and the source) hold, not garbage awaiting collection.
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if bytesRead < size {
				t.Fatalf("read %d bytes, want at least %d", bytesRead, size)
			}
			if peak > base && peak-base > maxHeap {
				t.Errorf("heap grew by %d bytes reading %d events (%d bytes), want at most %d", peak-base, n, bytesRead, maxHeap)
			}
			t.Logf("%d events, %d bytes, heap growth %d KiB", n, bytesRead, (int64(peak)-int64(base))/1024)
		})
	}
}
