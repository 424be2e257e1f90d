package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBareIngest checks that the bare server parses every event of a body and answers as the ingest API
// does, so that the load generator counts its events the same way.
func TestBareIngest(t *testing.T) {
	ev := `{"specversion":"1.0","id":"%s","source":"urn:t","type":"page_view","time":"2026-11-26T09:00:00Z","data":{}}`
	tests := []struct {
		name, body, want string
		status           int
	}{
		{name: "batch", body: "[" + strings.ReplaceAll(ev, "%s", "a") + "," + strings.ReplaceAll(ev, "%s", "b") + "]",
			status: http.StatusAccepted, want: `{"accepted":2,"rejected":0,"errors":[]}`},
		{name: "one bad event", body: `[{"id":1},` + strings.ReplaceAll(ev, "%s", "c") + `]`, status: http.StatusAccepted,
			want: `{"accepted":1,"rejected":1,"errors":[]}`},
		{name: "not JSON", body: `nope`, status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			bareIngest(w, httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(tt.body)))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.want != "" && w.Body.String() != tt.want {
				t.Errorf("body %s, want %s", w.Body, tt.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 163254.4: "163,254", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestMedian(t *testing.T) {
	rs := []result{{Name: "s", EventRate: 3}, {Name: "s", EventRate: 1}, {Name: "s", EventRate: 2}, {Name: "s", EventRate: 9}}
	if m := median(rs); m.EventRate != 2 || m.Name != "s (median of 4)" {
		t.Errorf("median = %+v, want the lower middle (2)", m)
	}
	if m := median(rs[:3]); m.EventRate != 2 {
		t.Errorf("median of 3 = %+v, want 2", m)
	}
}
