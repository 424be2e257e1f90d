package infrastructure_test

import (
	"maps"
	"testing"

	"github.com/serverless-data-platform/sdp/infrastructure"
)

// TestFunctionEnvironment checks the functions' environment as local mode reads it: Globals' variables on
// every function, each function's own beside them, parameters resolved to their defaults and resources named
// by logical id.
func TestFunctionEnvironment(t *testing.T) {
	st, err := infrastructure.Read(infrastructure.Template)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		function string
		want     map[string]string
	}{
		{"analytics", map[string]string{"SDP_WINDOW_SIZE": "1m", "SDP_ALLOWED_LATENESS": "5m"}},
		{"export", map[string]string{"SDP_WINDOW_SIZE": "1m", "SDP_ALLOWED_LATENESS": "5m", "SDP_EXPORT_BUCKET": "ExportBucket",
			"SDP_EXPORT_PREFIX": "aggregates"}},
		{"consumer", map[string]string{"WORKFLOW_ARN": "Workflow"}},
	}
	for _, tc := range tests {
		t.Run(tc.function, func(t *testing.T) {
			fn, ok := st.Function(tc.function)
			if !ok {
				t.Fatalf("no function %s", tc.function)
			}
			want := map[string]string{"CURATED_TABLE": "CuratedTable", "EVENT_STREAM": "EventStream"}
			maps.Copy(want, tc.want)
			for k, v := range want {
				if fn.Environment[k] != v {
					t.Errorf("%s=%q, want %q (all: %v)", k, fn.Environment[k], v, fn.Environment)
				}
			}
		})
	}
}
