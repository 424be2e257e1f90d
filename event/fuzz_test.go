package event

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzValidate checks the registry's Validate and ReadID on any bytes, including those the differential
// targets leave out (invalid UTF-8, deep nesting): Validate never panics and fails only with a
// *ValidationError; an event it accepts has an ID, the one ReadID reads from the same bytes.
func FuzzValidate(f *testing.F) {
	r, err := NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f, r) {
		f.Add(s)
	}
	f.Add([]byte("{\"id\":\"\xff\"}"))
	f.Add([]byte(`{"id":"a","id":"b"}`))
	f.Add([]byte(`{"ID":"a","id":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id := ReadID(raw)
		ev, err := r.Validate(raw)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate error %v (%T) is not a *ValidationError", err, err)
			}
			return
		}
		// Split refuses invalid UTF-8 before Validate sees it; Validate keeps such bytes in the id, where
		// ReadID (as encoding/json does) turns them into U+FFFD, so the ids are compared on valid UTF-8 only.
		if ev.ID == "" || utf8.Valid(raw) && ev.ID != id {
			t.Fatalf("Validate accepted id %q; ReadID reads %q", ev.ID, id)
		}
	})
}
