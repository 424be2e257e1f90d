package telemetry

import (
	"encoding/json"
	"testing"
)

const testHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

func TestEventTraceHeader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		event string
		want  string
	}{
		{"first member", `{"awstraceheader":"` + testHeader + `","id":"1"}`, testHeader},
		{"later member", `{"id":"1","data":{"a":[1,{"b":"}"}]},"awstraceheader":"` + testHeader + `"}`, testHeader},
		{"spaces", " \n{ \"id\" : \"1\" , \"awstraceheader\" : \"" + testHeader + "\" }", testHeader},
		{"absent", `{"id":"1","type":"t"}`, ""},
		{"empty object", `{}`, ""},
		{"not an object", `["awstraceheader","x"]`, ""},
		{"nested look-alike", `{"data":{"awstraceheader":"nested"},"id":"1"}`, ""},
		{"look-alike in a string", `{"data":"\"awstraceheader\":\"fake\"","id":"1"}`, ""},
		{"escaped member name", `{"awstrace\u0068eader":"escaped"}`, ""},
		{"escaped value", `{"awstraceheader":"a\"b"}`, ""},
		{"non-string value", `{"awstraceheader":5}`, ""},
		{"first of duplicates", `{"awstraceheader":"one","awstraceheader":"two"}`, "one"},
		{"after escaped strings", `{"x":"a\\","awstraceheader":"h"}`, "h"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := EventTraceHeader([]byte(c.event)); got != c.want {
				t.Errorf("EventTraceHeader(%s) = %q, want %q", c.event, got, c.want)
			}
		})
	}
}

func TestAppendEventTrace(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		event  string
		header string
		want   string
	}{
		{"inserted first", `{"id":"1"}`, testHeader, `{"awstraceheader":"` + testHeader + `","id":"1"}`},
		{"empty object", `{}`, "h", `{"awstraceheader":"h"}`},
		{"empty object with spaces", ` { } `, "h", ` {"awstraceheader":"h" } `},
		{"leading spaces", "  {\n\"id\":1}", "h", "  {\"awstraceheader\":\"h\",\n\"id\":1}"},
		{"already present", `{"id":"1","awstraceheader":"old"}`, "new", `{"id":"1","awstraceheader":"old"}`},
		{"already present, not a string", `{"awstraceheader":null}`, "new", `{"awstraceheader":null}`},
		{"nested look-alike is not present", `{"data":{"awstraceheader":"x"}}`, "h", `{"awstraceheader":"h","data":{"awstraceheader":"x"}}`},
		{"empty header", `{"id":"1"}`, "", `{"id":"1"}`},
		{"header needing escapes", `{"id":"1"}`, `a"b`, `{"id":"1"}`},
		{"not an object", `[1,2]`, "h", `[1,2]`},
		{"string event", `"x"`, "h", `"x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			prefix := []byte("prefix:")
			got := AppendEventTrace(prefix, []byte(c.event), c.header)
			if string(got) != "prefix:"+c.want {
				t.Fatalf("got %s, want prefix:%s", got, c.want)
			}
			if json.Valid([]byte(c.event)) && !json.Valid(got[len(prefix):]) {
				t.Fatalf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestAppendEventTraceAllocations(t *testing.T) {
	event := []byte(`{"id":"1","type":"t","data":{"a":1}}`)
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _ = AppendEventTrace(dst[:0], event, testHeader) }); n != 0 {
		t.Errorf("AppendEventTrace allocates %v times with enough capacity", n)
	}
	withHeader := AppendEventTrace(nil, event, testHeader)
	if n := testing.AllocsPerRun(100, func() { _ = EventTraceHeader(withHeader) }); n > 1 {
		t.Errorf("EventTraceHeader allocates %v times", n)
	}
}

func FuzzEventTrace(f *testing.F) {
	seeds := []struct{ event, header string }{
		{`{"id":"1"}`, testHeader},
		{`{}`, "h"},
		{` {"awstraceheader":"x"}`, "y"},
		{`{"data":{"awstraceheader":"x"}}`, "y"},
		{`{"a":"\"awstraceheader\":\"z\""}`, "y"},
		{`[1]`, "h"},
		{`{"awstrace\u0068eader":"e"}`, "h"},
	}
	for _, s := range seeds {
		f.Add([]byte(s.event), s.header)
	}
	f.Fuzz(func(t *testing.T, event []byte, header string) {
		valid := json.Valid(event)
		out := AppendEventTrace(nil, event, header)
		if prepared := NewEventTrace(header).Append(nil, event); string(prepared) != string(out) {
			t.Fatalf("EventTrace.Append gave %q, AppendEventTrace %q", prepared, out)
		}
		if valid && !json.Valid(out) {
			t.Fatalf("valid %q became invalid %q", event, out)
		}
		if !valid {
			_ = EventTraceHeader(out) // must not panic on any input
			return
		}
		var top map[string]json.RawMessage
		isObject := json.Unmarshal(event, &top) == nil
		_, had := top[EventTraceAttribute]
		if isObject && header != "" && plainString(header) && !had && string(out) != string(event) {
			if got := EventTraceHeader(out); got != header {
				t.Fatalf("read back %q, want %q from %q", got, header, out)
			}
			var after map[string]json.RawMessage
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatal(err)
			}
			if len(after) != len(top)+1 {
				t.Fatalf("members %d → %d in %q", len(top), len(after), out)
			}
		}
		if got := EventTraceHeader(event); got != "" {
			if _, ok := top[EventTraceAttribute]; isObject && !ok {
				t.Fatalf("EventTraceHeader(%q) = %q, but the top level has no such string member", event, got)
			}
		}
	})
}
