package schemac

import (
	"errors"
	"strings"
	"testing"
)

// purchase and sensorReading are realistic events of the other types.
var (
	purchase = []byte(`{"specversion":"1.0","id":"0b9d6b1e-7b43-4a53-8a7f-2d7b8a6c9e11","source":"https://shop.example/checkout",` +
		`"type":"purchase","time":"2026-11-26T09:01:02Z","subject":"user-42","data":{"order_id":"o-981","currency":"EUR",` +
		`"amount":59.9,"item_count":2,"payment_method":"card","items":[{"sku":"J-1","quantity":1,"unit_price":49.9},` +
		`{"sku":"S-7","quantity":1,"unit_price":10}]}}`)
	sensorReading = []byte(`{"specversion":"1.0","id":"r-77","source":"/devices/th-9","type":"sensor_reading",` +
		`"time":"2026-11-26T09:00:00+01:00","data":{"device_id":"th-9","metric":"temperature","value":-3.25,` +
		`"unit":"celsius","battery_pct":87}}`)
)

// TestErrorSelection checks, on the real event schemas, that the one error reported for the main kinds of
// failure is the one the registry selects from the reference's output: same location, keyword, missing
// property and message, and that it is the error expected. Valid events must validate without allocating (so
// the test does not run in parallel).
func TestErrorSelection(t *testing.T) {
	docs := eventSchemas(t)
	schemas := map[string][2]any{}
	for _, typ := range []string{"page_view", "purchase", "sensor_reading"} {
		ours, ref := compileEvent(t, docs, typ)
		schemas[typ] = [2]any{ours, ref}
	}
	base := map[string][]byte{"page_view": pageView, "purchase": purchase, "sensor_reading": sensorReading}
	cases := []struct {
		name     string
		typ      string
		from, to string // replace the first occurrence of from by to in the base event
		loc      string // expected InstanceLocation joined with "/"
		keyword  string
		missing  string
		message  string // the reference's message, as the registry renders it
		slow     bool   // valid, but only the exact pass can tell
	}{
		{"valid page_view", "page_view", "", "", "", "", "", "", false},
		{"valid purchase", "purchase", "", "", "", "", "", "", false},
		{"valid sensor_reading", "sensor_reading", "", "", "", "", "", "", false},
		{"missing data.url", "page_view", `"url":"https://shop.example/p/1",`, ``, "data", "required", "url", "missing property 'url'", false},
		{"missing envelope id", "page_view", `"id":"7f1c2a9e-4b1d-4c8e-9a43-2f7e5c1d0b6a",`, ``, "", "required", "id", "missing property 'id'", false},
		{"integer as string", "page_view", `"duration_ms":1234`, `"duration_ms":"1234"`, "data/duration_ms", "type", "", "got string, want integer", false},
		{"integer with a fraction", "page_view", `"duration_ms":1234`, `"duration_ms":12.5`, "data/duration_ms", "type", "", "got number, want integer", false},
		{"integer written 1.2e3 is an integer", "page_view", `"duration_ms":1234`, `"duration_ms":1.2e3`, "", "", "", "", false},
		{"below minimum", "page_view", `"duration_ms":1234`, `"duration_ms":-1`, "data/duration_ms", "minimum", "", "minimum: got -1, want 0", false},
		{"above maximum", "page_view", `"scroll_depth":0.5`, `"scroll_depth":1.0000000000000000001`, "data/scroll_depth", "maximum", "", "maximum: got 1, want 1", false},
		{"maximum exactly", "page_view", `"scroll_depth":0.5`, `"scroll_depth":1.000`, "", "", "", "", false},
		{"pattern", "page_view", `"DE"`, `"de"`, "data/country", "pattern", "", "'de' does not match pattern '^[A-Z]{2}$'", false},
		{"additional property", "page_view", `"title":`, `"titel":`, "data", "additionalProperties", "", "additional properties 'titel' not allowed", false},
		{"date-time format", "page_view", `2026-11-26T09:00:00.123Z`, `2026-11-31T09:00:00Z`, "time", "format", "", "'2026-11-31T09:00:00Z' is not valid date-time: invalid date element: parsing time \"2026-11-31\": day out of range", false},
		{"uri format", "page_view", `"url":"https://shop.example/p/1"`, `"url":"/p/1"`, "data/url", "format", "", "'/p/1' is not valid uri: relative url", false},
		{"uri-reference format", "page_view", `"source":"https://shop.example/web"`, `"source":"a:b\\\\c"`, "source", "format", "", "'a:b\\\\\\\\c' is not valid uri-reference: contains \\", false},
		{"const", "page_view", `"specversion":"1.0"`, `"specversion":"1.1"`, "specversion", "const", "", "value must be '1.0'", false},
		{"const of the type", "page_view", `"type":"page_view"`, `"type":"purchase"`, "type", "const", "", "value must be 'page_view'", false},
		{"enum", "page_view", `"application/json"`, `"text/plain"`, "datacontenttype", "enum", "", "value must be 'application/json'", false},
		{"minLength", "page_view", `"session_id":"s-1"`, `"session_id":""`, "data/session_id", "minLength", "", "minLength: got 0, want 1", false},
		{"maxLength in code points", "page_view", `"subject":"user-42"`, `"subject":"` + strings.Repeat("é", 257) + `"`, "subject", "maxLength", "", "maxLength: got 257, want 256", false},
		{"maxLength counts escapes decoded", "page_view", `"subject":"user-42"`, `"subject":"` + strings.Repeat(`\u00e9`, 256) + `"`, "", "", "", "", false},
		{"data not an object", "page_view", `"data":{`, `"data":"x","x":{`, "data", "type", "", "got string, want object", false},
		{"bad property name", "page_view", `"subject":`, `"Subject":`, "", "pattern", "", "'Subject' does not match pattern '^[a-z0-9]{1,20}$'", false},
		{"required before property names at the root", "page_view", `"time":"2026-11-26T09:00:00.123Z",`, `"Time":"x",`, "", "required", "time", "missing property 'time'", false},
		{"deepest error wins", "page_view", `"url":"https://shop.example/p/1","session_id":"s-1"`, `"url":"x"`, "data/url", "format", "", "'x' is not valid uri: relative url", false},
		{"duplicate name keeps the last value", "page_view", `"country":"DE"`, `"country":"de","country":"DE"`, "", "", "", "", true},
		{"duplicate name, last value invalid", "page_view", `"country":"DE"`, `"country":"DE","country":"de"`, "data/country", "pattern", "", "'de' does not match pattern '^[A-Z]{2}$'", false},
		{"minItems", "purchase", `"items":[{"sku":"J-1","quantity":1,"unit_price":49.9},{"sku":"S-7","quantity":1,"unit_price":10}]`, `"items":[]`, "data/items", "minItems", "", "minItems: got 0, want 1", false},
		{"required in an item", "purchase", `{"sku":"S-7",`, `{`, "data/items/1", "required", "sku", "missing property 'sku'", false},
		{"minimum in an item", "purchase", `"quantity":1,"unit_price":49.9`, `"quantity":0,"unit_price":49.9`, "data/items/0/quantity", "minimum", "", "minimum: got 0, want 1", false},
		{"additional property in an item", "purchase", `"unit_price":10}`, `"unit_price":10,"x":1}`, "data/items/1", "additionalProperties", "", "additional properties 'x' not allowed", false},
		{"amount above maximum", "purchase", `"amount":59.9`, `"amount":1000000.01`, "data/amount", "maximum", "", "maximum: got 1.00000001×10⁰⁶, want 1×10⁰⁶", false},
		{"currency pattern", "purchase", `"EUR"`, `"EURO"`, "data/currency", "pattern", "", "'EURO' does not match pattern '^[A-Z]{3}$'", false},
		{"payment enum", "purchase", `"card"`, `"cash"`, "data/payment_method", "enum", "", "value must be one of 'card', 'paypal', 'bank_transfer', 'gift_card'", false},
		{"metric enum", "sensor_reading", `"temperature"`, `"wind"`, "data/metric", "enum", "", "value must be one of 'temperature', 'humidity', 'pressure', 'co2'", false},
		{"value below minimum", "sensor_reading", `"value":-3.25`, `"value":-1e7`, "data/value", "minimum", "", "minimum: got -1×10⁰⁷, want -1×10⁰⁶", false},
		{"value exactly the minimum", "sensor_reading", `"value":-3.25`, `"value":-1E+6`, "", "", "", "", false},
		{"time with an offset", "sensor_reading", `+01:00`, `+1:00`, "time", "format", "", "'2026-11-26T09:00:00+1:00' is not valid date-time: invalid time element: offset must be 6 characters long", false},
		{"not an object", "sensor_reading", `{"specversion"`, `[{"specversion"`, "", "type", "", "got array, want object", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := base[tc.typ]
			if tc.from != "" {
				if !strings.Contains(string(data), tc.from) {
					t.Fatalf("the %s event does not contain %s", tc.typ, tc.from)
				}
				data = []byte(strings.Replace(string(data), tc.from, tc.to, 1))
			}
			if tc.typ == "sensor_reading" && tc.name == "not an object" {
				data = append(data, ']')
			}
			ours := schemas[tc.typ][0].(*Schema)
			ref := schemas[tc.typ][1]
			got := ours.Validate(data)
			refErr := validateRef(t, ref, data)
			if tc.keyword == "" {
				if got != nil || refErr != nil {
					t.Fatalf("want valid; got %v, the reference %v", got, refErr)
				}
				if tc.slow || raceEnabled {
					return
				}
				if n := testing.AllocsPerRun(10, func() { _ = ours.Validate(data) }); n != 0 {
					t.Errorf("%v allocations for a valid event", n)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(got, &ve) {
				t.Fatalf("want a *ValidationError, got %v", got)
			}
			want := refSelection{loc: tc.loc, keyword: tc.keyword, missing: tc.missing, message: tc.message}
			if have := selectOurs(got); have != want {
				t.Errorf("got %+v, want %+v", have, want)
			}
			if refSel, _ := selectRef(refErr); refSel != want {
				t.Errorf("the reference selects %+v, want %+v", refSel, want)
			}
		})
	}
}
