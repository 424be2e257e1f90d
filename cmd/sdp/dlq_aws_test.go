package main

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/sqs"
	"github.com/serverless-data-platform/sdp/stream/dlq/workbench"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// awsCLIEnv gives the CLI, which loads its AWS configuration as the AWS CLI does, the emulators' region and
// credentials, and no shared configuration of the machine.
func awsCLIEnv(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEMULATOR")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "emulator-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", emulator.Region)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_KINESIS", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
		"SDP_WORKFLOW_LOG_GROUP", "SDP_DLQ_QUEUE", "SDP_STREAM"} {
		t.Setenv(v, "")
	}
}

// sqsClient returns a client of moto's SQS.
func sqsClient(moto *emulator.Server) *awssqs.Client {
	return awssqs.NewFromConfig(moto.Config(), func(o *awssqs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
}

// readAudit decodes the lines of an audit log.
func readAudit(t *testing.T, path string) []workbench.AuditLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	var out []workbench.AuditLine
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var a workbench.AuditLine
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, a)
	}
	return out
}

// TestDLQWorkbenchAWS is the acceptance scenario with --backend aws: `sdp up --backend aws` runs over
// kinesis-local and moto (SQS, DynamoDB, CloudWatch Logs) with a rule quarantining poison subjects, so
// poison events end in the SQS dead-letter queue; `sdp dlq ls|show|explain --backend aws` show the
// messages and the poison payloads, saying that the handler's errors are not looked up without --log-group
// and showing them from the execution log with it; a dry-run redrive changes nothing; the cause is fixed
// (the stack restarts without the rule) and the redrive gets the events curated, deletes the messages and
// writes one audit line each.
func TestDLQWorkbenchAWS(t *testing.T) {
	moto := emulator.Require(t, emulator.Moto)
	kin := emulator.Require(t, emulator.KinesisLocal)
	awsCLIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	suffix := strings.ToLower(event.NewID()[:8])
	// moto's DynamoDB is used one request at a time, as in TestEndToEndAWS.
	cfg := moto.Config()
	u, err := url.Parse(moto.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPClient = &serialHTTP{host: u.Host, next: awshttp.NewBuildableClient()}
	backend := func() *awsBackend {
		return &awsBackend{Config: cfg, Endpoint: moto.Endpoint, KinesisEndpoint: kin.Endpoint, Create: true, Shards: 1,
			Stream: "events-" + suffix, CuratedTable: "curated-" + suffix, AggregatesTable: "aggregates-" + suffix, Queue: "dlq-" + suffix}
	}
	quick := func(c *esm.Config) {
		c.RetryBackoff = esm.Backoff{Min: 2 * time.Millisecond, Max: 10 * time.Millisecond}
		c.MaximumRetryAttempts = 1
		c.MaxBatchingWindow = 0
	}
	dir := t.TempDir()
	rule := workflow.Rule{Name: "poison", Pointer: "/subject", Prefix: "poison-"}
	base, stop := startStoppable(t, stackConfig{DataDir: dir, Shards: 1, Rules: []workflow.Rule{rule}, Mapping: quick, AWS: backend()})

	send := func(base, id, subject string) {
		status, r := postEvents(t, base, event.ContentTypeSingle, dlqEvent(id, subject))
		if status != http.StatusAccepted || r.Accepted != 1 {
			t.Fatalf("POST %s: %d %+v", id, status, r)
		}
	}
	q, err := openQueue(ctx, sqsClient(moto), "dlq-"+suffix)
	if err != nil {
		t.Fatal(err)
	}
	depth := func() int {
		d, err := q.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return d.Total()
	}
	send(base, "evt-healthy-1", "visitor-1")
	eventually(t, 30*time.Second, "healthy event curated", func() bool { return getJSON(t, base+"/v1/events/evt-healthy-1", nil) == 200 })
	send(base, "evt-poison-1", "poison-1")
	eventually(t, 30*time.Second, "first poison event dead-lettered in SQS", func() bool { return depth() == 1 })
	send(base, "evt-poison-2", "poison-2")
	eventually(t, 30*time.Second, "second poison event dead-lettered in SQS", func() bool { return depth() == 2 })

	common := []string{"--backend", "aws", "--queue", "dlq-" + suffix, "--stream", "events-" + suffix,
		"--endpoint-url", moto.Endpoint, "--kinesis-endpoint-url", kin.Endpoint}
	cli := func(args ...string) (int, string, string) { return sdp(t, append(args, common...)...) }

	var l workbench.Listing
	if code, out, errOut := cli("dlq", "ls", "--output", "json"); code != 0 {
		t.Fatalf("ls: exit %d: %s", code, errOut)
	} else if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("ls: %v:\n%s", err, out)
	}
	if l.Depth != 2 || len(l.Groups) != 1 || l.Groups[0].Messages != 2 || l.Groups[0].Shard != "shardId-000000000000" ||
		!strings.Contains(l.Groups[0].Error, dlq.ConditionRetryAttemptsExhausted) {
		t.Fatalf("listing %+v, want 2 messages of shardId-000000000000 in one group", l)
	}
	ids := l.Groups[0].MessageIDs

	// The execution log a state machine writes at level ALL, for the executions the stack ran: what
	// --log-group reads the handler's errors from.
	logGroup := "sdp-workflow-" + suffix
	writeExecutionLog(ctx, t, moto, base, logGroup)

	cases := []struct {
		name string
		args []string
		// want must appear on stdout, wantErr on stderr.
		want, wantErr []string
	}{
		{"ls table says errors are not recorded", []string{"dlq", "ls"},
			[]string{"RetryAttemptsExhausted", "shardId-000000000000", "2 messages in 1 groups", "give --log-group"}, nil},
		{"show", []string{"dlq", "show", ids[0]}, []string{"RetryAttemptsExhausted", "shardId-000000000000", "(1 records)"}, nil},
		{"show json", []string{"dlq", "show", ids[0], "--output", "json"}, []string{`"KinesisBatchInfo"`, `"id": "` + ids[0] + `"`}, nil},
		{"explain shows the poison payload", []string{"dlq", "explain", ids[0]},
			[]string{"evt-poison-1", `"subject":"poison-1"`, "yes", "recorded errors: not looked up"}, nil},
		{"explain json", []string{"dlq", "explain", ids[1], "--output", "json"},
			[]string{`"eventId": "evt-poison-2"`, `"subject": "poison-2"`, `"valid": true`}, []string{"give --log-group"}},
		{"ls with the execution log groups by the recorded error", []string{"dlq", "ls", "--log-group", logGroup},
			[]string{"Enrich", "2 messages in 1 groups"}, nil},
		{"explain with the execution log shows the recorded error", []string{"dlq", "explain", ids[1], "--log-group", logGroup},
			[]string{"evt-poison-2", "Enrich", "poison"}, nil},
		{"dry run", []string{"dlq", "redrive", "--dry-run"}, []string{"would-redrive", "2 messages matched (2 records)", "dry run: nothing changed"}, nil},
		{"dry run by recorded error", []string{"dlq", "redrive", "--dry-run", "--error", "Enrich", "--log-group", logGroup},
			[]string{"2 messages matched"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(tc.args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
	if code, _, errOut := cli("dlq", "show", "no-such-id"); code != 1 || !strings.Contains(errOut, "sdp dlq ls") {
		t.Errorf("show of an unknown id: exit %d, stderr %q; want advice to list the messages", code, errOut)
	}
	// The dry runs changed nothing.
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	if code, _, errOut := cli("dlq", "redrive", "--dry-run", "--audit", audit); code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	if d := depth(); d != 2 {
		t.Fatalf("after dry runs the DLQ holds %d messages, want 2", d)
	}
	if _, err := os.Stat(audit); !os.IsNotExist(err) {
		t.Fatalf("a dry run wrote the audit log (%v)", err)
	}

	// The cause is fixed: the stack runs again without the rule, on the same data and resources.
	stop()
	base, _ = startStoppable(t, stackConfig{DataDir: dir, Shards: 1, Mapping: quick, AWS: backend()})
	code, out, errOut := cli("dlq", "redrive", "--rate", "50", "--audit", audit, "--output", "json")
	if code != 0 {
		t.Fatalf("redrive: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep workbench.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Matched != 2 || rep.Deleted != 2 || rep.Target != "stream" || rep.Incomplete() != 0 {
		t.Fatalf("report %+v", rep)
	}
	for _, id := range []string{"evt-poison-1", "evt-poison-2"} {
		eventually(t, 30*time.Second, id+" curated after the redrive", func() bool { return getJSON(t, base+"/v1/events/"+id, nil) == 200 })
	}
	if d := depth(); d != 0 {
		t.Errorf("after the redrive the DLQ holds %d messages", d)
	}
	lines := readAudit(t, audit)
	if len(lines) != 2 {
		t.Fatalf("audit log has %d lines, want 2", len(lines))
	}
	for i, a := range lines {
		if a.MessageID != ids[i] || !a.Deleted || a.Records != 1 || len(a.NewSequenceNumbers) != 1 || a.Target != "stream" ||
			a.Shard != "shardId-000000000000" || a.State != workbench.StateRedriven || a.At.IsZero() {
			t.Errorf("audit line %d: %+v", i, a)
		}
	}
	if code, out, _ := cli("dlq", "purge", "--yes"); code != 0 || !strings.Contains(out, "0 messages deleted") {
		t.Errorf("purge of an empty queue: exit %d, %s", code, out)
	}
}

// writeExecutionLog writes the executions the stack at base recorded to the log group, as an Express state
// machine logs them at level ALL with their data: ExecutionStarted with the input, then the terminal event
// with the output, or the error and cause.
func writeExecutionLog(ctx context.Context, t *testing.T, moto *emulator.Server, base, group string) {
	t.Helper()
	var list struct{ Executions []history.Record }
	if code := getJSON(t, base+"/v1/executions?limit=0", &list); code != http.StatusOK || len(list.Executions) == 0 {
		t.Fatalf("GET /v1/executions = %d with %d executions", code, len(list.Executions))
	}
	now := time.Now().UnixMilli()
	var events []logtypes.InputLogEvent
	add := func(arn, typ string, id int, details map[string]any) {
		msg, err := json.Marshal(map[string]any{"id": strconv.Itoa(id), "type": typ, "details": details, "previous_event_id": strconv.Itoa(id - 1),
			"event_timestamp": strconv.FormatInt(now, 10), "execution_arn": arn, "redrive_count": "0"})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, logtypes.InputLogEvent{Message: aws.String(string(msg)), Timestamp: aws.Int64(now)})
	}
	for _, sum := range list.Executions {
		var rec history.Record
		if code := getJSON(t, base+"/v1/executions/"+url.PathEscape(sum.Name), &rec); code != http.StatusOK {
			t.Fatalf("GET /v1/executions/%s = %d", sum.Name, code)
		}
		add(rec.ExecutionARN, "ExecutionStarted", 1, map[string]any{"input": string(rec.Input), "inputDetails": map[string]any{"truncated": false}})
		if rec.Status == "SUCCEEDED" {
			add(rec.ExecutionARN, "ExecutionSucceeded", 2, map[string]any{"output": string(rec.Output), "outputDetails": map[string]any{"truncated": false}})
		} else {
			add(rec.ExecutionARN, "ExecutionFailed", 2, map[string]any{"error": rec.Error, "cause": rec.Cause})
		}
	}
	lc := cloudwatchlogs.NewFromConfig(moto.Config(), func(o *cloudwatchlogs.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	if _, err := lc.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	stream := aws.String("states/sdp-workflow/1")
	if _, err := lc.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(group), LogStreamName: stream}); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(group), LogStreamName: stream, LogEvents: events}); err != nil {
		t.Fatal(err)
	}
}

// TestDLQRedriveSQSSourceAWS redrives a dead-letter queue of an SQS source, whose messages are the original
// bodies rather than on-failure records, against moto: the bodies are moved to --target-queue (edited
// first in $EDITOR with --edit), the moved messages are deleted and audited; a dry run, a redrive without a
// target queue and --edit without one move nothing.
func TestDLQRedriveSQSSourceAWS(t *testing.T) {
	moto := emulator.Require(t, emulator.Moto)
	awsCLIEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	qc := sqsClient(moto)
	suffix := strings.ToLower(event.NewID()[:8])
	// The editor the tests run: it edits the file in place.
	editor := filepath.Join(t.TempDir(), "edit.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/poison-/fixed-/g' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor)
	bodies := [][]byte{dlqEvent("evt-sqs-1", "poison-1"), dlqEvent("evt-sqs-2", "poison-2")}

	cases := []struct {
		name string
		// args come after `sdp dlq redrive`; "TARGET" stands for the target queue's URL.
		args     []string
		code     int
		wantLeft int
		// wantMoved are the bodies the target queue must hold, in any order.
		wantMoved [][]byte
		wantState string
		wantErr   string
		audited   bool
	}{
		{"dry run moves nothing", []string{"--dry-run", "--target-queue", "TARGET"}, 0, 2, nil, workbench.StateWouldMove, "", false},
		{"without a target queue the bodies stay", nil, 1, 2, nil, workbench.StateSkipped, "not redriven", false},
		{"edit needs a target queue", []string{"--edit"}, 1, 2, nil, "", "--target-queue", false},
		{"moved as they are", []string{"--target-queue", "TARGET"}, 0, 0, bodies, workbench.StateMoved, "", true},
		{"edited in $EDITOR, then moved", []string{"--target-queue", "TARGET", "--edit"}, 0, 0,
			[][]byte{dlqEvent("evt-sqs-1", "fixed-1"), dlqEvent("evt-sqs-2", "fixed-2")}, workbench.StateMoved, "", true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srcURL, err := sqs.CreateQueue(ctx, qc, "src-dlq-"+suffix+"-"+strconv.Itoa(i), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			tgtURL, err := sqs.CreateQueue(ctx, qc, "target-"+suffix+"-"+strconv.Itoa(i), 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			src, err := sqs.New(qc, srcURL)
			if err != nil {
				t.Fatal(err)
			}
			tgt, err := sqs.New(qc, tgtURL)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bodies {
				if _, err := src.Send(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			args := []string{"dlq", "redrive", "--backend", "aws", "--queue", srcURL, "--endpoint-url", moto.Endpoint, "--audit", audit, "--output", "json"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "TARGET", tgtURL))
			}
			code, out, errOut := sdp(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
			if tc.wantErr != "" && !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr lacks %q: %s", tc.wantErr, errOut)
			}
			if tc.wantState != "" {
				var rep workbench.Report
				if err := json.Unmarshal([]byte(out), &rep); err != nil {
					t.Fatalf("%v:\n%s", err, out)
				}
				if rep.Matched != 2 || len(rep.Outcomes) != 2 || rep.Outcomes[0].State != tc.wantState || rep.Outcomes[1].State != tc.wantState {
					t.Errorf("report %+v, want 2 messages %s", rep, tc.wantState)
				}
			}
			left, err := dlq.Peek(ctx, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			moved, err := dlq.Peek(ctx, tgt, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != tc.wantLeft || len(moved) != len(tc.wantMoved) {
				t.Fatalf("%d messages left in the source, %d in the target; want %d and %d", len(left), len(moved), tc.wantLeft, len(tc.wantMoved))
			}
			for _, want := range tc.wantMoved {
				found := false
				for _, m := range moved {
					found = found || string(m.Body) == string(want)
				}
				if !found {
					t.Errorf("the target queue lacks %s", want)
				}
			}
			if !tc.audited {
				if _, err := os.Stat(audit); err == nil && tc.code == 0 {
					t.Errorf("the audit log was written")
				}
				return
			}
			lines := readAudit(t, audit)
			if len(lines) != 2 {
				t.Fatalf("audit log has %d lines, want 2", len(lines))
			}
			for _, a := range lines {
				if !a.Deleted || a.State != workbench.StateMoved || !strings.HasPrefix(a.Target, "queue ") || len(a.NewSequenceNumbers) != 1 {
					t.Errorf("audit line %+v", a)
				}
			}
		})
	}

	// ls and show see the original messages as such.
	srcURL, err := sqs.CreateQueue(ctx, qc, "src-dlq-"+suffix+"-ls", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sqs.New(qc, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	id, err := src.Send(ctx, bodies[0])
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--backend", "aws", "--queue", srcURL, "--endpoint-url", moto.Endpoint}
	if code, out, errOut := sdp(t, append([]string{"dlq", "ls"}, common...)...); code != 0 || !strings.Contains(out, "1 messages in 1 groups") {
		t.Errorf("ls: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := sdp(t, append([]string{"dlq", "show", id}, common...)...); code != 0 ||
		!strings.Contains(out, "not an on-failure record") || !strings.Contains(out, "evt-sqs-1") {
		t.Errorf("show: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := sdp(t, append([]string{"dlq", "explain", id}, common...)...); code != 1 || !strings.Contains(errOut, "not an on-failure record") {
		t.Errorf("explain of an original message: exit %d, stderr %q", code, errOut)
	}
}
