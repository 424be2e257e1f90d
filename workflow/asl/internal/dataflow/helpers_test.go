package dataflow

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// decode parses JSON text for a test.
func decode(t testing.TB, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// assertJSON checks that got is the JSON value want.
func assertJSON(t testing.TB, got any, want string) {
	t.Helper()
	w := decode(t, want)
	if !reflect.DeepEqual(normalize(t, got), w) {
		g, _ := json.Marshal(got)
		t.Fatalf("got %s, want %s", g, want)
	}
}

// normalize round-trips v through JSON so that values built in Go compare with decoded ones.
func normalize(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return decode(t, string(b))
}

// assertError checks that err is an *Error with the given name and cause (cause "" skips the cause).
func assertError(t testing.TB, err error, name, cause string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want *Error %s", err, name)
	}
	if e.Name != name || (cause != "" && e.Cause != cause) {
		t.Fatalf("got %s: %s\nwant %s: %s", e.Name, e.Cause, name, cause)
	}
}

// snapshot returns a deep copy of v to check later that v was not modified.
func snapshot(t testing.TB, v any) any {
	t.Helper()
	return normalize(t, v)
}
