package workflow_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow"
)

// TestParseRule checks the flag form of rules, its errors, and that String gives the form back.
func TestParseRule(t *testing.T) {
	tests := []struct {
		in      string
		want    workflow.Rule
		wantErr string // a part of the error message; "" for no error
	}{
		{in: "quarantine:/data/device_id=device-ht-0042",
			want: workflow.Rule{Name: "quarantine", Pointer: "/data/device_id", Equals: "device-ht-0042"}},
		{in: "test-sources:/source^=urn:test:",
			want: workflow.Rule{Name: "test-sources", Pointer: "/source", Prefix: "urn:test:"}},
		{in: "eq-with-equals:/subject=a=b",
			want: workflow.Rule{Name: "eq-with-equals", Pointer: "/subject", Equals: "a=b"}},
		{in: "caret-in-value:/subject=^x",
			want: workflow.Rule{Name: "caret-in-value", Pointer: "/subject", Equals: "^x"}},
		{in: "escaped:/data/a~1b~0c=1",
			want: workflow.Rule{Name: "escaped", Pointer: "/data/a~1b~0c", Equals: "1"}},
		{in: "top:/=x", want: workflow.Rule{Name: "top", Pointer: "/", Equals: "x"}},
		{in: "no-colon", wantErr: "no ':' after the name"},
		{in: ":/subject=x", wantErr: "empty name"},
		{in: "r:/subject", wantErr: "no '=' or '^='"},
		{in: "r:subject=x", wantErr: "must start with '/'"},
		{in: "r:=x", wantErr: "must start with '/'"},
		{in: "r:/subject=", wantErr: "empty value"},
		{in: "r:/subject^=", wantErr: "empty value"},
		{in: "bad name:/subject=x", wantErr: "white space"},
		{in: "r:/data/a~2=x", wantErr: "'~' must be followed by 0 or 1"},
		{in: "r:/b^^=x", wantErr: "ends with '^'"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := workflow.ParseRule(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, workflow.ErrInvalidRule) {
					t.Fatalf("ParseRule(%q) = %+v, %v; want an ErrInvalidRule containing %q", tc.in, got, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "name:/pointer=value") {
					t.Errorf("error %q does not show the syntax", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRule(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("String() = %q; want %q", got.String(), tc.in)
			}
		})
	}
}

// FuzzParseRule checks that every rule ParseRule accepts is valid and survives String and ParseRule again.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"a:/b=c", "a:/b^=c", "x:/data/0/~0~1=^=", "::=", "a:/=", "a:/b^^=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := workflow.ParseRule(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseRule(%q) returned a rule that does not validate: %v", s, err)
		}
		again, err := workflow.ParseRule(r.String())
		if err != nil || again != r {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, r, r.String(), again, err)
		}
	})
}
