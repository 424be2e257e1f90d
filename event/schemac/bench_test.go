package schemac

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaBase is the $id prefix of the event schemas.
const schemaBase = "https://schemas.sdp.dev/"

// pageView is a realistic page_view event.
var pageView = []byte(`{"specversion":"1.0","id":"7f1c2a9e-4b1d-4c8e-9a43-2f7e5c1d0b6a","source":"https://shop.example/web",` +
	`"type":"page_view","time":"2026-11-26T09:00:00.123Z","subject":"user-42","datacontenttype":"application/json",` +
	`"data":{"url":"https://shop.example/p/1","session_id":"s-1","duration_ms":1234,"scroll_depth":0.5,"country":"DE",` +
	`"title":"Winter jacket"}}`)

// eventSchemas reads the event schemas from ../schemas.
func eventSchemas(t testing.TB) map[string]any {
	t.Helper()
	files, err := filepath.Glob("../schemas/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no event schemas in ../schemas: %v", err)
	}
	docs := map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[schemaBase+filepath.Base(f)] = decode(t, b)
	}
	return docs
}

// compileEvent compiles one event type with both compilers.
func compileEvent(t testing.TB, docs map[string]any, typ string) (*Schema, *jsonschema.Schema) {
	t.Helper()
	c := NewCompiler()
	for u, d := range docs {
		if err := c.AddResource(u, d); err != nil {
			t.Fatal(err)
		}
	}
	ours, err := c.Compile(schemaBase + typ + ".json")
	if err != nil {
		t.Fatal(err)
	}
	ref, err := refCompiler(docs).Compile(schemaBase + typ + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return ours, ref
}

// TestValidateZeroAllocs checks that valid events of every type validate without allocating.
func TestValidateZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	docs := eventSchemas(t)
	for _, tc := range []struct {
		typ  string
		data []byte
	}{{"page_view", pageView}, {"purchase", purchase}, {"sensor_reading", sensorReading}} {
		t.Run(tc.typ, func(t *testing.T) {
			s, _ := compileEvent(t, docs, tc.typ)
			if err := s.Validate(tc.data); err != nil {
				t.Fatal(err)
			}
			if s.fast(tc.data) != rOK {
				t.Fatal("the fast pass does not decide the event")
			}
			if n := testing.AllocsPerRun(1000, func() { _ = s.Validate(tc.data) }); n != 0 {
				t.Errorf("%v allocations per validation", n)
			}
		})
	}
}

// BenchmarkValidatePageView validates the page_view event from its bytes.
func BenchmarkValidatePageView(b *testing.B) {
	s, _ := compileEvent(b, eventSchemas(b), "page_view")
	if err := s.Validate(pageView); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pageView)))
	for b.Loop() {
		if err := s.Validate(pageView); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReferencePageView is the same with the reference: decode with jsonschema.UnmarshalJSON, then
// validate.
func BenchmarkReferencePageView(b *testing.B) {
	_, ref := compileEvent(b, eventSchemas(b), "page_view")
	b.ReportAllocs()
	b.SetBytes(int64(len(pageView)))
	for b.Loop() {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(pageView))
		if err != nil {
			b.Fatal(err)
		}
		if err := ref.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

// invalidPageView breaks one field of the page_view event (country is lower case).
var invalidPageView = bytes.Replace(pageView, []byte(`"DE"`), []byte(`"de"`), 1)

// BenchmarkValidateInvalidPageView measures the error path: the fast pass, then the exact pass and the
// selection of one error.
func BenchmarkValidateInvalidPageView(b *testing.B) {
	s, _ := compileEvent(b, eventSchemas(b), "page_view")
	b.ReportAllocs()
	b.SetBytes(int64(len(invalidPageView)))
	for b.Loop() {
		if err := s.Validate(invalidPageView); err == nil {
			b.Fatal("valid")
		}
	}
}

// BenchmarkReferenceInvalidPageView is the same with the reference.
func BenchmarkReferenceInvalidPageView(b *testing.B) {
	_, ref := compileEvent(b, eventSchemas(b), "page_view")
	b.ReportAllocs()
	b.SetBytes(int64(len(invalidPageView)))
	for b.Loop() {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(invalidPageView))
		if err != nil {
			b.Fatal(err)
		}
		if err := ref.Validate(v); err == nil {
			b.Fatal("valid")
		}
	}
}
