package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/loadtest"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
)

// loadtestOutput is the JSON `sdp loadtest --output json` prints.
type loadtestOutput struct {
	Seed     uint64                  `json:"seed"`
	Summary  loadtest.Summary        `json:"summary"`
	Arrivals *loadtest.ArrivalReport `json:"arrivals"`
	SLO      *struct {
		Objectives string   `json:"objectives"`
		Passed     bool     `json:"passed"`
		Violations []string `json:"violations"`
	} `json:"slo"`
}

// TestLoadtestE2E runs `sdp loadtest e2e` against a local stack armed with a quarantine rule: the rate is
// held, nothing fails, every valid event reaches the curated table and no poison event does.
func TestLoadtestE2E(t *testing.T) {
	var cfg stackConfig
	cfg.Rules = []workflow.Rule{{Name: "poison", Pointer: "/subject", Prefix: "poison-"}}
	// Quick retries: each poison record fails its batch until it is bisected out and discarded.
	cfg.Mapping = func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	}
	base, _ := startStack(t, cfg)

	var out, errOut bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"loadtest", "e2e", "--endpoint-url", base, "--rate", "500", "--duration", "3s",
		"--batch", "4", "--poison", "0.01", "--seed", "7", "--wait", "60s", "--slo", "errors<0.1%", "--output", "json"}, &out, &errOut)
	t.Logf("sdp loadtest e2e took %v; stderr:\n%s", time.Since(start).Round(time.Millisecond), errOut.String())
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	var rep loadtestOutput
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	s := rep.Summary
	if rep.Seed != 7 || !strings.HasPrefix(s.Target, "e2e POST "+base+"/v1/events") {
		t.Errorf("seed %d, target %q", rep.Seed, s.Target)
	}
	if math.Abs(s.Rate-500)/500 > 0.03 || s.Requests < 1450 || s.Requests > 1500 {
		t.Errorf("achieved %.1f requests/s (%d requests), want 500/s within 3%% for 3s", s.Rate, s.Requests)
	}
	if s.Errors != 0 || s.Rejected != 0 || s.Events != 4*s.Requests || s.Accepted != s.Events || s.Codes["202"] != s.Requests {
		t.Errorf("summary %+v, want every event accepted with 202 and no errors", s)
	}
	if rep.SLO == nil || !rep.SLO.Passed || len(rep.SLO.Violations) != 0 {
		t.Errorf("SLO verdict %+v, want passed", rep.SLO)
	}
	a := rep.Arrivals
	if a == nil {
		t.Fatal("no arrivals report")
	}
	if a.Sampled || a.Accepted != s.Accepted || uint64(a.Valid.Tracked+a.Poison.Tracked) != s.Accepted {
		t.Errorf("arrivals followed %d+%d of %d accepted (sampled %v)", a.Valid.Tracked, a.Poison.Tracked, s.Accepted, a.Sampled)
	}
	// 1% of ~6000 events: a binomial count well within 20..100.
	if a.Poison.Tracked < 20 || a.Poison.Tracked > 100 {
		t.Errorf("%d poison events among %d", a.Poison.Tracked, s.Accepted)
	}
	if a.Valid.Arrived != a.Valid.Tracked || a.Valid.Missing != 0 || a.Poison.Arrived != 0 || a.Poison.Missing != a.Poison.Tracked {
		t.Errorf("valid %+v, poison %+v: want every valid event arrived and every poison one missing", a.Valid, a.Poison)
	}
	if a.Latency.P50 <= 0 || a.Latency.Max < a.Latency.P99 || a.ReadErrors != 0 {
		t.Errorf("ingest→curated latency %+v, read errors %d", a.Latency, a.ReadErrors)
	}
	if !strings.Contains(errOut.String(), "(seed 7)") || !strings.Contains(errOut.String(), "following the accepted events") {
		t.Errorf("stderr lacks the start lines:\n%s", errOut.String())
	}
	t.Logf("rate %.1f/s, p99 %v; ingest→curated p50 %v p99 %v; %d poison missing; waited %v",
		s.Rate, s.Latency.P99, a.Latency.P50, a.Latency.P99, a.Poison.Missing, a.Waited)
}

// TestLoadtestCommand runs `sdp loadtest http` against a stand-in API: the text and JSON summaries, the HTML
// report, SLO failures, progress lines and flag errors.
func TestLoadtestCommand(t *testing.T) {
	var status atomic.Int64
	status.Store(202)
	var gotKey atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var evs []json.RawMessage
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Errorf("body is not a JSON array: %v", err)
		}
		gotKey.Store(r.Header.Get("x-api-key"))
		st := int(status.Load())
		w.WriteHeader(st)
		if st == 202 {
			json.NewEncoder(w).Encode(map[string]any{"accepted": len(evs), "rejected": 0, "errors": []any{}})
			return
		}
		io.WriteString(w, `{"accepted":0,"rejected":0,"errors":[]}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")

	tests := []struct {
		name       string
		args       []string
		status     int
		wantCode   int
		wantOut    []string
		wantErrOut []string
		check      func(t *testing.T, out string)
	}{
		{
			name: "text summary and HTML report", status: 202, wantCode: 0,
			args:       []string{"--url", srv.URL + "/v1/events", "--rate", "100", "--duration", "300ms", "--batch", "5", "--api-key", "k1", "--html", html, "--seed", "3"},
			wantOut:    []string{"Seed  3\n", "Target  ", "POST " + srv.URL + "/v1/events", "202:30"},
			wantErrOut: []string{"at 100 requests/s of 5 events for 300ms (seed 3)"},
			check: func(t *testing.T, _ string) {
				b, err := os.ReadFile(html)
				if err != nil || !bytes.Contains(b, []byte("<svg")) {
					t.Errorf("HTML report: %v, %d bytes", err, len(b))
				}
				if k, _ := gotKey.Load().(string); k != "k1" {
					t.Errorf("API key %q", k)
				}
			},
		},
		{
			name: "JSON summary, endpoint URL", status: 202, wantCode: 0,
			args: []string{"--endpoint-url", srv.URL, "--rate", "50", "--duration", "200ms", "--batch", "2", "--output", "json", "--slo", "p99<10s"},
			check: func(t *testing.T, out string) {
				var rep loadtestOutput
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("%v in %s", err, out)
				}
				if rep.Seed == 0 || rep.Summary.Requests != 10 || rep.Summary.Accepted != 20 || rep.Arrivals != nil ||
					rep.SLO == nil || !rep.SLO.Passed || rep.SLO.Objectives != "p99<10s" {
					t.Errorf("report %+v", rep)
				}
			},
		},
		{
			name: "SLO violated", status: 503, wantCode: 1,
			args:       []string{"--url", srv.URL + "/v1/events", "--rate", "50", "--duration", "200ms", "--slo", "errors<1%,p99<10s"},
			wantOut:    []string{"503:10", "SLO   errors<1%,p99<10s: FAILED: errors"},
			wantErrOut: []string{"sdp loadtest: SLO violated: errors", "sdp loadtest: error (10 times): POST " + srv.URL + "/v1/events: loadtest: throttled: 503"},
		},
		{name: "bad rate", args: []string{"--rate", "fast"}, wantCode: 1, wantErrOut: []string{"--rate:"}},
		{name: "bad SLO", args: []string{"--slo", "p99~1s"}, wantCode: 1, wantErrOut: []string{"--slo:"}},
		{name: "bad zipf", args: []string{"--zipf", "0.5"}, wantCode: 1, wantErrOut: []string{"zipf exponent 0.5"}},
		{name: "ratios over 1", args: []string{"--invalid", "0.7", "--poison", "0.7"}, wantCode: 1, wantErrOut: []string{"add up to more than 1"}},
		{name: "bad URL", args: []string{"--url", "localhost/v1/events"}, wantCode: 1, wantErrOut: []string{`ingest URL "localhost/v1/events"`}},
		{name: "unwritable report", args: []string{"--url", srv.URL, "--html", filepath.Join(dir, "no", "such", "dir.html")}, wantCode: 1, wantErrOut: []string{"--html:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status.Store(int64(tt.status))
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"loadtest", "http"}, tt.args...), &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.wantErrOut {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
				}
			}
			if tt.check != nil {
				tt.check(t, out.String())
			}
		})
	}
}

// TestLiveLine checks the progress printer: a rewritten line on a terminal, plain lines elsewhere.
func TestLiveLine(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		want     string
	}{
		{"terminal", true, "\r\x1b[Ka\r\x1b[Kb\n"},
		{"pipe", false, "a\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			l := newLiveLine(&b)
			if l.terminal || l.every != 5*time.Second {
				t.Fatalf("a buffer is taken for a terminal: %+v", l)
			}
			l.terminal = tt.terminal
			l.print("a")
			l.print("b")
			l.end()
			if b.String() != tt.want {
				t.Errorf("printed %q, want %q", b.String(), tt.want)
			}
		})
	}
}
