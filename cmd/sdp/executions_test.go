package main

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// TestExecutionsCommands runs the sample through the pipeline, then lists, shows and replays its execution
// with the CLI: the record holds the input, the output and each state's entry and exit; the replay is a new
// execution of the same input that leaves the curated items and the aggregates as they were.
func TestExecutionsCommands(t *testing.T) {
	base, s := startStack(t, stackConfig{})
	body, ids := sampleIDs(t)
	if status, _ := postEvents(t, base, "application/json", body); status != http.StatusAccepted {
		t.Fatalf("POST sample = %d", status)
	}
	ctx := context.Background()
	eventually(t, 5*time.Second, "the sample curated and recorded", func() bool {
		n, err := s.curated.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := s.history.List(history.Filter{})
		return err == nil && n == len(ids) && len(recs) > 0
	})

	var out, errOut bytes.Buffer
	cli := func(args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(ctx, append(args, "--endpoint-url", base), &out, &errOut)
	}
	if code := cli("executions", "ls", "--output", "json"); code != 0 {
		t.Fatalf("sdp executions ls: exit %d: %s", code, errOut.String())
	}
	var listed []history.Record
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil || len(listed) == 0 {
		t.Fatalf("sdp executions ls --output json = %s (%v)", out.String(), err)
	}
	first := listed[len(listed)-1]
	if first.Status != asl.StatusSucceeded || !strings.HasPrefix(first.BatchID, "shardId-") ||
		!strings.Contains(first.ExecutionARN, ":express:") || first.Input != nil {
		t.Errorf("listed execution = %+v; want a succeeded summary of a batch, without data", first)
	}
	if code := cli("executions", "ls"); code != 0 || !strings.Contains(out.String(), first.Name) ||
		!strings.Contains(out.String(), "SUCCEEDED") || !strings.Contains(out.String(), "recorded") {
		t.Errorf("sdp executions ls: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	// show: a timeline through every state of the successful path.
	if code := cli("executions", "show", first.Name); code != 0 {
		t.Fatalf("sdp executions show: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Status     SUCCEEDED", "ExecutionStarted", "TaskStateEntered", "Enrich", "Persist",
		"Analytics", "TaskSucceeded", "PassStateExited", "Done", "ExecutionSucceeded"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("sdp executions show lacks %q:\n%s", want, out.String())
		}
	}
	if code := cli("executions", "show", first.Name, "--output", "json"); code != 0 {
		t.Fatalf("sdp executions show --output json: exit %d", code)
	}
	var rec history.Record
	if err := json.Unmarshal(out.Bytes(), &rec); err != nil || len(rec.Input) == 0 || len(rec.Output) == 0 || len(rec.Events) < 10 {
		t.Fatalf("show --output json = %d input bytes, %d output bytes, %d events (%v)", len(rec.Input), len(rec.Output), len(rec.Events), err)
	}
	var batch event.Batch
	if err := json.Unmarshal(rec.Input, &batch); err != nil || batch.BatchID != rec.BatchID || len(batch.Items) == 0 {
		t.Errorf("recorded input is not the batch: %.200s", rec.Input)
	}
	if code := cli("executions", "show", "no-such-execution"); code != 1 || !strings.Contains(errOut.String(), "404") ||
		!strings.Contains(errOut.String(), "sdp executions ls") {
		t.Errorf("sdp executions show of an unknown name: exit %d, stderr %q", code, errOut.String())
	}

	// replay: a new execution, the same answer, and nothing written twice.
	items, windows := curatedSnapshot(t, s), aggregatesSnapshot(t, s)
	if code := cli("executions", "replay", first.Name, "--output", "json"); code != 0 {
		t.Fatalf("sdp executions replay: exit %d: %s", code, errOut.String())
	}
	var replay history.Record
	if err := json.Unmarshal(out.Bytes(), &replay); err != nil || replay.Status != asl.StatusSucceeded ||
		replay.ReplayOf != first.Name || replay.Name == first.Name {
		t.Fatalf("replay = %+v (%v); want a new succeeded execution naming the original", replay, err)
	}
	if !jsonEqual(replay.Output, rec.Output) {
		t.Errorf("replay output %s; original %s", replay.Output, rec.Output)
	}
	if got := curatedSnapshot(t, s); !reflect.DeepEqual(got, items) {
		t.Errorf("the replay changed curated items")
	}
	if got := aggregatesSnapshot(t, s); !reflect.DeepEqual(got, windows) {
		t.Errorf("the replay changed the aggregates:\n got %+v\nwant %+v", got, windows)
	}
	if code := cli("executions", "ls", "--output", "json"); code != 0 || !strings.Contains(out.String(), `"replayOf":"`+first.Name) &&
		!strings.Contains(out.String(), `"replayOf": "`+first.Name) {
		t.Errorf("the replay is not listed: %s", out.String())
	}
}

// curatedSnapshot returns every curated item as JSON, by id.
func curatedSnapshot(t *testing.T, s *stack) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.curated.Scan(context.Background(), func(c event.Curated) bool {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out[c.ID] = string(b)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// aggregatesSnapshot returns every aggregate window.
func aggregatesSnapshot(t *testing.T, s *stack) []analytics.Window {
	t.Helper()
	ws, err := s.agg.Query(context.Background(), analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
