package event

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"strings"
	"testing"
)

const validPageView = `{"specversion":"1.0","id":"e1","source":"https://shop.example.com/web","type":"page_view",` +
	`"time":"2026-11-26T09:15:02Z","subject":"visitor-1","data":{"url":"https://shop.example.com/","session_id":"s1","duration_ms":1200}}`

func TestParseFormat(t *testing.T) {
	tests := []struct {
		ct      string
		want    Format
		wantErr error
	}{
		{"", FormatAuto, nil},
		{"application/json", FormatAuto, nil},
		{"application/json; charset=utf-8", FormatAuto, nil},
		{"application/cloudevents+json", FormatSingle, nil},
		{"application/cloudevents-batch+json", FormatBatch, nil},
		{"application/x-ndjson", FormatNDJSON, nil},
		{"text/plain", 0, ErrUnsupportedMediaType},
		{"application/json; charset=latin1", 0, ErrUnsupportedMediaType},
		{"not a/media type;;", 0, ErrUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.ct, func(t *testing.T) {
			got, err := ParseFormat(tt.ct)
			if !errors.Is(err, tt.wantErr) || (err == nil && got != tt.want) {
				t.Fatalf("ParseFormat(%q) = %v, %v; want %v, %v", tt.ct, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecode(t *testing.T) {
	bomb := gz(t, make([]byte, 10<<20)) // 10 MiB of zeros in ~10 KB
	tests := []struct {
		name     string
		encoding string
		body     []byte
		limit    int
		want     string
		wantErr  error
	}{
		{"identity", "", []byte("abc"), 10, "abc", nil},
		{"identity over limit", "identity", []byte("abcdef"), 3, "", ErrTooLarge},
		{"gzip", "gzip", gz(t, []byte("hello")), 10, "hello", nil},
		{"gzip bomb", "gzip", bomb, 1 << 20, "", ErrTooLarge},
		{"gzip garbage", "gzip", []byte("not gzip"), 10, "", ErrMalformed},
		{"brotli", "br", []byte("x"), 10, "", ErrUnsupportedEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.encoding, tt.body, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb fixture is %d bytes; it should be small", len(bomb))
	}
}

type item struct {
	raw string
	err string
}

func split(t *testing.T, f Format, body string, lim Limits) ([]item, error) {
	t.Helper()
	var got []item
	err := Split(f, []byte(body), lim, func(i int, raw []byte, err error) {
		if i != len(got) {
			t.Fatalf("index %d out of order, want %d", i, len(got))
		}
		it := item{raw: string(raw)}
		if err != nil {
			it.err = err.Error()
		}
		got = append(got, it)
	})
	return got, err
}

func TestSplit(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
	tests := []struct {
		name    string
		format  Format
		body    string
		lim     Limits
		want    []item
		wantErr error
	}{
		{name: "single", format: FormatAuto, body: ` {"id":"a"} `, want: []item{{raw: `{"id":"a"}`}}},
		{name: "array", format: FormatAuto, body: `[{"id":"a"}, {"id":"b"}]`, want: []item{{raw: `{"id":"a"}`}, {raw: `{"id":"b"}`}}},
		{name: "array element not an object", format: FormatBatch, body: `[{"id":"a"},42]`,
			want: []item{{raw: `{"id":"a"}`}, {raw: `42`, err: "(event): an event must be a JSON object (type)"}}},
		{name: "array too deep element keeps neighbour", format: FormatBatch, body: `[` + deep + `,{"id":"b"}]`,
			want: []item{{raw: deep, err: "(event): nesting is deeper than 32 levels (maxDepth)"}, {raw: `{"id":"b"}`}}},
		{name: "array invalid utf8 element", format: FormatBatch, body: "[{\"id\":\"\xff\"},{\"id\":\"b\"}]",
			want: []item{{raw: "{\"id\":\"\xff\"}", err: "(event): the event is not valid UTF-8 (utf8)"}, {raw: `{"id":"b"}`}}},
		{name: "array oversized element keeps neighbour", format: FormatBatch, body: `[{"id":"aaaaaaaaaa"},{"id":"b"}]`,
			lim:  Limits{MaxEventBytes: 12},
			want: []item{{raw: `{"id":"aaaaaaaaaa"}`, err: "(event): the event is 19 bytes, the limit is 12 (maxEventBytes)"}, {raw: `{"id":"b"}`}}},
		{name: "malformed array", format: FormatBatch, body: `[{"id":"a"},{"id":]`, wantErr: ErrMalformed},
		{name: "unclosed array", format: FormatBatch, body: `[{"id":"a"}`, wantErr: ErrMalformed},
		{name: "trailing data", format: FormatBatch, body: `[{"id":"a"}] x`, wantErr: ErrMalformed},
		{name: "empty array", format: FormatBatch, body: `[ ]`, wantErr: ErrMalformed},
		{name: "empty body", format: FormatAuto, body: "  \n", wantErr: ErrMalformed},
		{name: "not json", format: FormatAuto, body: "hello", wantErr: ErrMalformed},
		{name: "too many events", format: FormatBatch, body: `[{},{},{}]`, lim: Limits{MaxEvents: 2}, wantErr: ErrTooLarge},
		{name: "single too large", format: FormatSingle, body: `{"id":"abcdef"}`, lim: Limits{MaxEventBytes: 5}, wantErr: ErrTooLarge},
		{name: "single malformed", format: FormatSingle, body: `{"id":}`,
			want: []item{{raw: `{"id":}`, err: "(event): malformed JSON: invalid character '}' at byte 6 (json)"}}},
		{name: "ndjson with a bad line", format: FormatNDJSON, body: "{\"id\":\"a\"}\n\n{oops\r\n{\"id\":\"c\"}",
			want: []item{{raw: `{"id":"a"}`}, {raw: `{oops`, err: "(event): malformed JSON: expected a quoted key at byte 1 (json)"}, {raw: `{"id":"c"}`}}},
		{name: "ndjson blank only", format: FormatNDJSON, body: "\n\n", wantErr: ErrMalformed},
		{name: "strings with escapes and brackets", format: FormatBatch, body: `[{"a":"]\"[\\","b":[1,-2.5e3,true,null]}]`,
			want: []item{{raw: `{"a":"]\"[\\","b":[1,-2.5e3,true,null]}`}}},
		{name: "bad number", format: FormatSingle, body: `{"a":01}`,
			want: []item{{raw: `{"a":01}`, err: "(event): malformed JSON: expected ',' or '}' at byte 6, found '1' (json)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := split(t, tt.format, tt.body, tt.lim)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d items %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("item %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSplitDeepNestingDoesNotRecurse(t *testing.T) {
	// Ten million levels would exhaust the goroutine stack of a recursive scanner.
	const n = 10_000_000
	deep := strings.Repeat("[", n) + strings.Repeat("]", n)
	got, err := split(t, FormatBatch, "["+deep+`,{"id":"b"}]`, Limits{MaxEventBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].err != "(event): an event must be a JSON object (type)" || got[1].err != "" {
		t.Fatalf("got %d items, first error %q", len(got), got[0].err)
	}
	if d, err := Depth([]byte(deep)); err != nil || d != n {
		t.Fatalf("Depth = %d, %v; want %d", d, err, n)
	}
	if _, err := Depth([]byte(strings.Repeat("[", n))); err == nil {
		t.Fatal("Depth accepted an unclosed array")
	}
}

func TestValidate(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Types(), ","); got != "page_view,purchase,sensor_reading" {
		t.Fatalf("types = %s", got)
	}
	if got := strings.Join(r.MeasuresByType()["purchase"], ","); got != "amount,item_count" {
		t.Errorf("purchase measures = %s", got)
	}
	if got := r.MeasuresByType(); len(got) != 3 || strings.Join(got["sensor_reading"], ",") != "value,battery_pct" {
		t.Errorf("MeasuresByType = %v", got)
	}
	replace := func(old, new string) string { return strings.Replace(validPageView, old, new, 1) }
	tests := []struct {
		name string
		raw  string
		want string // "" for valid
	}{
		{"valid", validPageView, ""},
		{"missing id", replace(`"id":"e1",`, ""), "/id: missing property 'id' (required)"},
		{"missing time", replace(`"time":"2026-11-26T09:15:02Z",`, ""), "/time: missing property 'time' (required)"},
		{"bad time", replace(`2026-11-26T09:15:02Z`, "yesterday"), "/time: 'yesterday' is not valid date-time"},
		{"wrong specversion", replace(`"specversion":"1.0"`, `"specversion":"0.3"`), "/specversion: value must be '1.0' (const)"},
		{"unknown type", replace(`"type":"page_view"`, `"type":"click"`), `/type: unknown event type "click"; registered types: page_view, purchase, sensor_reading (unknownType)`},
		{"type not a string", replace(`"type":"page_view"`, `"type":7`), "/type: must be a string (type)"},
		{"negative duration", replace(`"duration_ms":1200`, `"duration_ms":-5`), "/data/duration_ms: minimum: got -5, want 0 (minimum)"},
		{"unknown data field", replace(`"duration_ms":1200`, `"duration_ms":1200,"colour":"red"`), "/data: additional properties 'colour' not allowed (additionalProperties)"},
		{"bad extension name", replace(`"subject"`, `"Trace_ID":"x","subject"`), "(event): 'Trace_ID' does not match pattern"},
		{"not an object", `[1]`, "(event): an event must be a JSON object (type)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := r.Validate([]byte(tt.raw))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if ev.ID != "e1" || ev.Type != "page_view" || ev.PartitionKey() != "visitor-1" || ev.Time.IsZero() {
					t.Fatalf("decoded envelope = %+v", ev)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want *ValidationError", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSampleFileIsValid(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("../events/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	n := 0
	err = Split(FormatAuto, body, Limits{}, func(i int, raw []byte, err error) {
		n++
		if err != nil {
			t.Errorf("event %d: %v", i, err)
			return
		}
		ev, err := r.Validate(raw)
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		seen[ev.Type] = true
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range r.Types() {
		if !seen[typ] {
			t.Errorf("events/sample.json has no %s event", typ)
		}
	}
	if n < len(r.Types()) {
		t.Errorf("sample has %d events", n)
	}
}

func BenchmarkSplitAndValidate(b *testing.B) {
	r, err := NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(validPageView+",", 100), ",") + "]")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		err := Split(FormatBatch, body, Limits{}, func(i int, raw []byte, err error) {
			if _, err := r.Validate(raw); err != nil {
				b.Fatal(err)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkSplit(b *testing.B) {
	body := []byte("[" + strings.TrimSuffix(strings.Repeat(validPageView+",", 100), ",") + "]")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := Split(FormatBatch, body, Limits{}, func(int, []byte, error) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestValidateNumbersBeyondTheReference checks numbers whose exponents the reference validator cannot read
// (it fails internally on them): the compiled path places them by sign and exponent, and the reference path
// refuses the event instead of crashing.
func TestValidateNumbersBeyondTheReference(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, value, want string // want: "" for valid, else the error's pointer and rule
	}{
		{name: "tiny positive", value: "1e-100000000"},
		{name: "zero mantissa", value: "0e100000000"},
		{name: "tiny negative", value: "-1e-100000000", want: "/data/battery_pct: minimum"},
		{name: "huge positive", value: "1e100000000", want: "/data/battery_pct: maximum"},
		{name: "huge negative", value: "-1e100000000", want: "/data/battery_pct: minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(`{"specversion":"1.0","id":"x","source":"urn:a","type":"sensor_reading","time":"2026-11-26T09:00:00Z",` +
				`"data":{"device_id":"d","metric":"co2","value":1,"unit":"ppm","battery_pct":` + tt.value + `}}`)
			_, err := r.Validate(raw)
			var got string
			if ve := (*ValidationError)(nil); errors.As(err, &ve) {
				got = ve.Pointer + ": " + ve.Rule
			} else if err != nil {
				t.Fatalf("error %T %v", err, err)
			}
			if got != tt.want {
				t.Errorf("Validate = %q (%v), want %q", got, err, tt.want)
			}
			_, err = r.ValidateReference(raw)
			if ve := (*ValidationError)(nil); !errors.As(err, &ve) && err != nil {
				t.Errorf("ValidateReference error %T %v", err, err)
			}
		})
	}
}
