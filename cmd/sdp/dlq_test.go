package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq/workbench"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
)

// dlqEvent returns a valid page_view event with the id and subject.
func dlqEvent(id, subject string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"https://shop.example.com/web","type":"page_view","time":"2026-11-26T09:15:02.120Z","subject":%q,"datacontenttype":"application/json","data":{"url":"https://shop.example.com/p/1","title":"P1","session_id":"s-1","country":"DE","duration_ms":100,"scroll_depth":0.5}}`, id, subject)
}

// updating reports whether the test binary runs with -update (the flag the package's golden tests share).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// startStoppable runs a stack like startStack and returns a function that stops it (also called at cleanup).
func startStoppable(t *testing.T, cfg stackConfig) (string, func()) {
	t.Helper()
	base, _, stop := runStack(t, cfg)
	return base, stop
}

// sdp runs the CLI and returns its exit code, stdout and stderr.
func sdp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

var (
	reUUID  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reTime  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	reAgeJ  = regexp.MustCompile(`"oldestAgeSeconds": \d+`)
	reAgeT  = regexp.MustCompile(`  (\d+h)?(\d+m)?\d+(\.\d+)?s  `)
	reCount = regexp.MustCompile(`"receiveCount": \d+`)
	reSpace = regexp.MustCompile(`(\S)  +`)
	reTrace = regexp.MustCompile(`Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=[01]`)
)

// normalize replaces what changes from run to run (ids, times, ages, the trace headers ingest writes into the
// events) with stable placeholders, and collapses
// the padding of table columns.
func normalize(s string) string {
	ids := map[string]string{}
	s = reUUID.ReplaceAllStringFunc(s, func(u string) string {
		if _, ok := ids[u]; !ok {
			ids[u] = fmt.Sprintf("<uuid-%d>", len(ids)+1)
		}
		return ids[u]
	})
	s = reTime.ReplaceAllString(s, "<time>")
	s = reAgeJ.ReplaceAllString(s, `"oldestAgeSeconds": <age>`)
	s = reAgeT.ReplaceAllString(s, "  <age>  ")
	s = reCount.ReplaceAllString(s, `"receiveCount": <n>`)
	s = reTrace.ReplaceAllString(s, "<trace>")
	return reSpace.ReplaceAllString(s, "$1  ")
}

// golden compares got, normalized, with testdata/dlq/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "dlq", name+".golden")
	got = normalize(got)
	if updating() {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestDLQ -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestDLQWorkbench is the acceptance scenario on the local stack: poison events reach the DLQ, ls, show and
// explain show each poison payload and its error, a dry-run redrive changes nothing; then the cause is fixed
// (the stack restarts without the rule on the same data directory) and the redrive gets them curated,
// deletes the messages and writes one audit line each.
func TestDLQWorkbench(t *testing.T) {
	dir := t.TempDir()
	quick := func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 2 * time.Millisecond, Max: 10 * time.Millisecond}
		c.MaximumRetryAttempts = 1
		c.MaxBatchingWindow = 0
	}
	rule := workflow.Rule{Name: "poison", Pointer: "/subject", Prefix: "poison-"}
	base, stop := startStoppable(t, stackConfig{DataDir: dir, Shards: 1, Rules: []workflow.Rule{rule}, Mapping: quick})

	// One healthy event, then two poison ones, each sent once the previous one has settled, so that each
	// dead letter covers exactly one record and the output is the same on every run.
	send := func(id, subject string) {
		status, r := postEvents(t, base, event.ContentTypeSingle, dlqEvent(id, subject))
		if status != http.StatusAccepted || r.Accepted != 1 {
			t.Fatalf("POST %s: %d %+v", id, status, r)
		}
	}
	depth := func() int {
		var d struct{ Depth int }
		getJSON(t, base+"/v1/dlq", &d)
		return d.Depth
	}
	send("evt-healthy-1", "visitor-1")
	eventually(t, 30*time.Second, "healthy event curated", func() bool { return getJSON(t, base+"/v1/events/evt-healthy-1", nil) == 200 })
	send("evt-poison-1", "poison-1")
	eventually(t, 30*time.Second, "first poison event dead-lettered", func() bool { return depth() == 1 })
	send("evt-poison-2", "poison-2")
	eventually(t, 30*time.Second, "second poison event dead-lettered", func() bool { return depth() == 2 })

	var l workbench.Listing
	if code, out, errOut := sdp(t, "dlq", "ls", "--endpoint-url", base, "--output", "json"); code != 0 {
		t.Fatalf("ls: exit %d: %s", code, errOut)
	} else if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if l.Depth != 2 || len(l.Groups) != 1 || l.Groups[0].Messages != 2 || !strings.Contains(l.Groups[0].Error, "Enrich") {
		t.Fatalf("listing %+v, want 2 messages in one group whose error names the enrich failure", l)
	}
	ids := l.Groups[0].MessageIDs

	cases := []struct {
		name string
		args []string
		code int
		// want must appear in the output (table or JSON).
		want []string
	}{
		{"ls.table", []string{"dlq", "ls"}, 0, []string{"consumer", "2"}},
		{"ls.json", []string{"dlq", "ls", "--output", "json"}, 0, []string{`"messages": 2`}},
		{"show.table", []string{"dlq", "show", ids[0]}, 0, []string{"RetryAttemptsExhausted", "shardId-000000000000"}},
		{"show.json", []string{"dlq", "show", ids[0], "--output", "json"}, 0, []string{`"KinesisBatchInfo"`}},
		{"explain.table", []string{"dlq", "explain", ids[0]}, 0, []string{"evt-poison-1", "poison-1", "yes"}},
		{"explain.json", []string{"dlq", "explain", ids[1], "--output", "json"}, 0, []string{`"eventId": "evt-poison-2"`, `"subject": "poison-2"`}},
		{"redrive-dry-run.table", []string{"dlq", "redrive", "--dry-run"}, 0, []string{"would-redrive", "dry run: nothing changed"}},
		{"redrive-dry-run.json", []string{"dlq", "redrive", "--dry-run", "--type", "page_view", "--output", "json"}, 0, []string{`"dryRun": true`, `"matched": 2`}},
		{"redrive-none.table", []string{"dlq", "redrive", "--dry-run", "--type", "purchase"}, 0, []string{"0 messages matched"}},
		{"show-unknown", []string{"dlq", "show", "no-such-id"}, 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := sdp(t, append(tc.args, "--endpoint-url", base)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.code != 0 {
				if !strings.Contains(errOut, "sdp dlq ls") {
					t.Errorf("the error does not say what to do: %s", errOut)
				}
				return
			}
			golden(t, tc.name, out)
		})
	}
	// The dry runs changed nothing.
	if d := depth(); d != 2 {
		t.Fatalf("after dry runs the DLQ holds %d messages, want 2", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "dlq-audit.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote the audit log (%v)", err)
	}

	// The cause is fixed: the stack runs again without the rule, on the same data.
	stop()
	base, _ = startStoppable(t, stackConfig{DataDir: dir, Shards: 1, Mapping: quick})
	code, out, errOut := sdp(t, "dlq", "redrive", "--endpoint-url", base, "--rate", "50", "--output", "json")
	if code != 0 {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep workbench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Matched != 2 || rep.Deleted != 2 || rep.Target != "stream" {
		t.Fatalf("report %+v", rep)
	}
	for _, id := range []string{"evt-poison-1", "evt-poison-2"} {
		eventually(t, 30*time.Second, id+" curated after the redrive", func() bool { return getJSON(t, base+"/v1/events/"+id, nil) == 200 })
	}
	if d := depth(); d != 0 {
		t.Errorf("after the redrive the DLQ holds %d messages", d)
	}
	audit, err := os.ReadFile(filepath.Join(dir, "dlq-audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(audit)), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit log has %d lines, want 2:\n%s", len(lines), audit)
	}
	for i, line := range lines {
		var a workbench.AuditLine
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		if a.MessageID != ids[i] || !a.Deleted || a.Records != 1 || len(a.NewSequenceNumbers) != 1 || a.Target != "stream" || a.At.IsZero() {
			t.Errorf("audit line %d: %+v", i, a)
		}
	}
	// Nothing left: ls is empty, purge has nothing to do.
	if code, out, _ := sdp(t, "dlq", "purge", "--yes", "--endpoint-url", base); code != 0 || !strings.Contains(out, "0 messages deleted") {
		t.Errorf("purge of an empty queue: exit %d, %s", code, out)
	}
}
