package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/dlq/sqs"
	"github.com/serverless-data-platform/sdp/stream/dlq/workbench"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

// dlqCmd is the dead-letter queue workbench: of a running `sdp up` through its API (--backend local), or of
// an SQS queue and its Kinesis stream directly (--backend aws).
type dlqCmd struct {
	Ls      dlqLsCmd      `cmd:"" help:"List the dead letters grouped by function, error and shard, with counts and the oldest age."`
	Show    dlqShowCmd    `cmd:"" help:"Show one message: its metadata and decoded on-failure record."`
	Explain dlqExplainCmd `cmd:"" help:"Read a message's failed records back from the stream, validate each again and show the recorded error."`
	Redrive dlqRedriveCmd `cmd:"" help:"Re-inject the records of the matching messages, then delete the messages; --dry-run changes nothing."`
	Purge   dlqPurgeCmd   `cmd:"" help:"Delete messages (all, or those given with --id); asks first unless --yes."`
}

// dlqFlags choose the queue the commands work on.
type dlqFlags struct {
	Backend         string        `enum:"local,aws" default:"local" help:"local: the DLQ of the sdp up at --endpoint-url; aws: the SQS queue --queue and the Kinesis stream --stream."`
	Queue           string        `env:"SDP_DLQ_QUEUE" help:"AWS: the dead-letter queue's name or URL."`
	Stream          string        `env:"SDP_STREAM" help:"AWS: the Kinesis stream's name or ARN that the on-failure records name."`
	SQSEndpoint     string        `name:"sqs-endpoint-url" env:"AWS_ENDPOINT_URL_SQS" help:"AWS: SQS endpoint, overriding --endpoint-url."`
	KinesisEndpoint string        `name:"kinesis-endpoint-url" env:"AWS_ENDPOINT_URL_KINESIS" help:"AWS: Kinesis endpoint, overriding --endpoint-url."`
	Retention       time.Duration `default:"24h" help:"AWS: the stream's retention period, quoted when records have expired."`
	LogGroup        string        `name:"log-group" env:"SDP_WORKFLOW_LOG_GROUP" help:"AWS: the workflow's execution log group (stack output WorkflowLogGroup), where the handler's recorded errors are read. Without it, --backend aws shows no recorded errors."`
	LogSince        time.Duration `name:"log-since" default:"24h" help:"AWS: how far back --log-group is searched."`
	LogsEndpoint    string        `name:"logs-endpoint-url" env:"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS" help:"AWS: CloudWatch Logs endpoint, overriding --endpoint-url."`
}

// noRecordedErrors is the note --backend aws prints when no execution log is given.
const noRecordedErrors = "recorded errors: not looked up: --backend aws reads the handler's errors from the workflow's execution log; give --log-group (stack output WorkflowLogGroup)"

// noStream is the Stream of --backend aws without --stream: it serves a DLQ of original messages (an SQS
// source's), whose redrive moves bodies to --target-queue and reads no stream.
type noStream struct{}

func (noStream) ReadAt(context.Context, string, string, int) ([]event.StreamRecord, error) {
	return nil, errors.New("the message is an on-failure record of a Kinesis stream: give --stream (the stream's name or ARN) to read its records")
}

func (s noStream) ReadAfter(ctx context.Context, shardID, seq string, limit int) ([]event.StreamRecord, error) {
	return s.ReadAt(ctx, shardID, seq, limit)
}

type dlqLsCmd struct{ dlqFlags }

type dlqShowCmd struct {
	dlqFlags
	ID string `arg:"" help:"The message id."`
}

type dlqExplainCmd struct {
	dlqFlags
	ID string `arg:"" help:"The message id."`
}

type dlqRedriveCmd struct {
	dlqFlags
	ID           []string      `name:"id" help:"Only these messages (repeatable)."`
	Type         string        `help:"Only messages with a record of this event type."`
	Error        string        `help:"Only messages whose error, or a record's recorded or validation error, contains this text."`
	Since        string        `help:"Only messages sent at or after this time: RFC 3339, or relative to now (-2h)."`
	Until        string        `help:"Only messages sent before this time: RFC 3339, or relative to now."`
	Rate         float64       `default:"100" help:"Records re-injected per second (0: no limit)."`
	DryRun       bool          `name:"dry-run" help:"Report what would be done; change nothing."`
	SkipInvalid  bool          `name:"skip-invalid" help:"Redrive the valid records of a message that also holds invalid ones (the invalid ones are dropped with the message)."`
	Target       string        `enum:"stream,workflow" default:"stream" help:"stream: put the records back on the stream; workflow: run them straight through the workflow."`
	TargetQueue  string        `name:"target-queue" help:"AWS: queue (name or URL) that receives messages that are not on-failure records (an SQS source's DLQ)."`
	Edit         bool          `help:"AWS: edit the bodies moved to --target-queue in $EDITOR first (one JSON string per line)."`
	Audit        string        `help:"AWS: audit log, one JSON line per message (default: dlq-audit.jsonl in the user cache dir)."`
	StateMachine string        `name:"state-machine-arn" env:"SDP_WORKFLOW_ARN" help:"AWS: the workflow --target workflow starts."`
	Timeout      time.Duration `default:"30m" help:"Local: how long to wait for the stack's answer."`
}

type dlqPurgeCmd struct {
	dlqFlags
	ID  []string `name:"id" help:"Only these messages (repeatable); without it, every message."`
	Yes bool     `help:"Do not ask for confirmation."`
}

// redriveRequest is the body of POST /v1/dlq/redrive.
type redriveRequest struct {
	workbench.Filter
	Rate        float64 `json:"rate,omitempty"`
	DryRun      bool    `json:"dryRun,omitempty"`
	SkipInvalid bool    `json:"skipInvalid,omitempty"`
	Target      string  `json:"target,omitempty"`
}

// purgeRequest is the body of POST /v1/dlq/purge; purgeResponse its answer.
type purgeRequest struct {
	IDs []string `json:"ids,omitempty"`
}

type purgeResponse struct {
	Deleted []string `json:"deleted"`
}

// awsWorkbench is the workbench of --backend aws, with what a redrive needs.
type awsWorkbench struct {
	wb       *workbench.Workbench
	queue    dlq.Queue
	sqs      *awssqs.Client
	producer *kinesis.Producer
	cfg      aws.Config
}

// open builds the workbench over SQS and Kinesis.
func (f *dlqFlags) open(g *globals) (*awsWorkbench, error) {
	if f.Queue == "" {
		return nil, errors.New("--backend aws needs --queue (the DLQ's name or URL) and, for the on-failure records of a Kinesis source, --stream")
	}
	cfg, err := awsConfig(g)
	if err != nil {
		return nil, err
	}
	ep := func(own string) *string {
		if own != "" {
			return aws.String(own)
		}
		if e := awsEndpoint(g); e != "" {
			return aws.String(e)
		}
		return nil
	}
	qc := awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = ep(f.SQSEndpoint) })
	kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) { o.BaseEndpoint = ep(f.KinesisEndpoint) })
	q, err := openQueue(g.ctx, qc, f.Queue)
	if err != nil {
		return nil, err
	}
	a := &awsWorkbench{queue: q, sqs: qc, cfg: cfg}
	var stream workbench.Stream = noStream{}
	if f.Stream != "" {
		reader, err := kinesis.NewReader(kc, f.Stream)
		if err != nil {
			return nil, err
		}
		if a.producer, err = kinesis.NewProducer(kc, f.Stream); err != nil {
			return nil, err
		}
		stream = reader
	}
	reg, err := event.NewRegistry()
	if err != nil {
		return nil, err
	}
	opts := []workbench.Option{workbench.WithRetention(f.Retention)}
	if f.LogGroup != "" {
		lc := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = ep(f.LogsEndpoint) })
		opts = append(opts, workbench.WithFailures(workbench.FromExecutionLog(sfn.NewLogs(lc, f.LogGroup), f.LogSince)))
	}
	if a.wb, err = workbench.New(workbench.FromQueue(q), stream, reg, opts...); err != nil {
		return nil, err
	}
	return a, nil
}

// noteUnrecorded says, for --backend aws without --log-group, that the errors shown are not the handler's:
// in the table, or on stderr beside JSON.
func (f *dlqFlags) noteUnrecorded(g *globals) {
	if f.Backend != "aws" || f.LogGroup != "" {
		return
	}
	if g.Output == "json" {
		fmt.Fprintf(g.stderr, "sdp: %s\n", noRecordedErrors)
		return
	}
	fmt.Fprintf(g.stdout, "(%s)\n", noRecordedErrors)
}

// openQueue returns the SQS queue of a name or URL.
func openQueue(ctx context.Context, qc *awssqs.Client, nameOrURL string) (*sqs.Queue, error) {
	u := nameOrURL
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		out, err := qc.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w (check --queue, --region and --profile)", nameOrURL, err)
		}
		u = aws.ToString(out.QueueUrl)
	}
	return sqs.New(qc, u)
}

// Run lists the groups of dead letters.
func (c *dlqLsCmd) Run(g *globals) error {
	var l workbench.Listing
	if c.Backend == "aws" {
		a, err := c.open(g)
		if err != nil {
			return err
		}
		res, err := a.wb.List(g.ctx)
		if err != nil {
			return err
		}
		l = *res
	} else if err := dlqAPI(g, http.MethodGet, "/v1/dlq/messages", nil, &l, 30*time.Second); err != nil {
		return err
	}
	if g.Output == "json" {
		c.noteUnrecorded(g)
		return printJSON(g.stdout, l)
	}
	if err := printListing(g.stdout, &l); err != nil {
		return err
	}
	c.noteUnrecorded(g)
	return nil
}

// printListing writes the groups as a table.
func printListing(w io.Writer, l *workbench.Listing) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tERROR\tSHARD\tMESSAGES\tRECORDS\tOLDEST AGE\tOLDEST MESSAGE")
	for _, gr := range l.Groups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", shortARN(gr.Function), gr.Error, gr.Shard, gr.Messages, gr.Records,
			time.Duration(gr.OldestAgeSeconds)*time.Second, gr.MessageIDs[0])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d messages in %d groups\n", l.Depth, len(l.Groups))
	return err
}

// shortARN keeps the name of a function ARN.
func shortARN(arn string) string {
	if i := strings.LastIndex(arn, ":function:"); i >= 0 {
		return arn[i+len(":function:"):]
	}
	return arn
}

// Run shows one message.
func (c *dlqShowCmd) Run(g *globals) error {
	var d workbench.Detail
	if c.Backend == "aws" {
		a, err := c.open(g)
		if err != nil {
			return err
		}
		res, err := a.wb.Show(g.ctx, c.ID)
		if err != nil {
			return notFoundAdvice(err, c.ID)
		}
		d = *res
	} else if err := dlqAPI(g, http.MethodGet, "/v1/dlq/messages/"+url.PathEscape(c.ID), nil, &d, 30*time.Second); err != nil {
		return err
	}
	if g.Output == "json" {
		return printJSON(g.stdout, d)
	}
	w := g.stdout
	m := d.Message
	fmt.Fprintf(w, "Message    %s\n", m.ID)
	fmt.Fprintf(w, "Sent       %s\n", m.SentAt.UTC().Format(time.RFC3339Nano))
	if m.ReceiveCount > 0 {
		fmt.Fprintf(w, "Received   %d times\n", m.ReceiveCount)
	}
	of := d.OnFailure
	if of == nil {
		fmt.Fprintf(w, "Body       %s\n", clip(string(m.Body), 2000))
		fmt.Fprintln(w, "(not an on-failure record: redrive it with --target-queue)")
		return nil
	}
	bi := of.KinesisBatchInfo
	fmt.Fprintf(w, "Function   %s\n", of.RequestContext.FunctionARN)
	fmt.Fprintf(w, "Condition  %s after %d invocations\n", of.RequestContext.Condition, of.RequestContext.ApproximateInvokeCount)
	if fe := of.ResponseContext.FunctionError; fe != "" {
		fmt.Fprintf(w, "Error      function error %s (status %d)\n", fe, of.ResponseContext.StatusCode)
	}
	fmt.Fprintf(w, "Stream     %s\n", bi.StreamARN)
	fmt.Fprintf(w, "Shard      %s\n", bi.ShardID)
	fmt.Fprintf(w, "Range      %s - %s (%d records)\n", bi.StartSequenceNumber, bi.EndSequenceNumber, bi.BatchSize)
	fmt.Fprintf(w, "Arrived    %s - %s\n", bi.ApproximateArrivalOfFirstRecord.UTC().Format(time.RFC3339Nano),
		bi.ApproximateArrivalOfLastRecord.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(w, "Gave up    %s\n", of.Timestamp.UTC().Format(time.RFC3339Nano))
	return nil
}

// notFoundAdvice adds what to do to an unknown message id.
func notFoundAdvice(err error, id string) error {
	if errors.Is(err, workbench.ErrNotFound) {
		return fmt.Errorf("%w; list the messages with sdp dlq ls", err)
	}
	return err
}

// Run explains one message.
func (c *dlqExplainCmd) Run(g *globals) error {
	var x workbench.Explanation
	if c.Backend == "aws" {
		a, err := c.open(g)
		if err != nil {
			return err
		}
		res, err := a.wb.Explain(g.ctx, c.ID)
		if err != nil {
			return notFoundAdvice(err, c.ID)
		}
		x = *res
	} else if err := dlqAPI(g, http.MethodGet, "/v1/dlq/messages/"+url.PathEscape(c.ID)+"/explain", nil, &x, time.Minute); err != nil {
		return err
	}
	if x.Expired {
		fmt.Fprintf(g.stderr, "sdp: %s\n", expiredAdvice(&x))
	}
	if g.Output == "json" {
		c.noteUnrecorded(g)
		return printJSON(g.stdout, x)
	}
	w := g.stdout
	fmt.Fprintf(w, "Message  %s\nShard    %s\nRange    %s - %s (%d records)\nError    %s\n", x.MessageID, x.ShardID,
		x.StartSequenceNumber, x.EndSequenceNumber, x.BatchSize, x.Error)
	if x.Expired {
		fmt.Fprintf(w, "State    EXPIRED: %d of the records are still in the stream\n", len(x.Records))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQUENCE\tPARTITION KEY\tEVENT ID\tTYPE\tVALID\tRECORDED ERROR")
	for _, r := range x.Records {
		valid := "yes"
		if !r.Valid {
			valid = "no: " + r.Invalid
		}
		recorded := "-"
		if r.Failure != nil {
			recorded = r.Failure.Error + ": " + clip(r.Failure.Cause, 160)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.SequenceNumber, r.PartitionKey, r.EventID, r.EventType, valid, recorded)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The payloads of the records that failed; of every record when none is known to have failed (no
	// recorded errors, every record valid), so that the batch's payloads are always shown.
	all := !slices.ContainsFunc(x.Records, func(r workbench.RecordReport) bool { return r.Failure != nil || !r.Valid })
	for _, r := range x.Records {
		if r.Failure == nil && r.Valid && !all {
			continue
		}
		fmt.Fprintf(w, "\n%s %s:\n%s\n", r.SequenceNumber, r.EventID, clip(string(r.Event), 2000))
	}
	if c.Backend == "aws" && c.LogGroup == "" {
		fmt.Fprintln(w)
	}
	c.noteUnrecorded(g)
	return nil
}

// expiredAdvice says what to do with a message whose records left the stream.
func expiredAdvice(x *workbench.Explanation) string {
	return fmt.Sprintf("message %s: records expired from the stream's retention (%dh): nothing to redrive; delete the message with sdp dlq purge --id %s",
		x.MessageID, x.RetentionHours, x.MessageID)
}

// Run redrives the matching messages.
func (c *dlqRedriveCmd) Run(g *globals) error {
	now := time.Now()
	filter := workbench.Filter{IDs: c.ID, Type: c.Type, Error: c.Error}
	for _, p := range []struct {
		v   string
		dst *time.Time
	}{{c.Since, &filter.Since}, {c.Until, &filter.Until}} {
		if p.v == "" {
			continue
		}
		t, err := parseTimeParam(p.v, now)
		if err != nil {
			return fmt.Errorf("--since/--until: %w", err)
		}
		*p.dst = t
	}
	var rep workbench.Report
	if c.Backend == "aws" {
		res, err := c.redriveAWS(g, filter)
		if res != nil {
			rep = *res
		}
		if err != nil {
			return err
		}
	} else {
		if c.TargetQueue != "" || c.Edit {
			return errors.New("--target-queue and --edit apply to --backend aws: local mode's DLQ holds on-failure records only")
		}
		req := redriveRequest{Filter: filter, Rate: c.Rate, DryRun: c.DryRun, SkipInvalid: c.SkipInvalid, Target: c.Target}
		fmt.Fprintf(g.stderr, "sdp dlq redrive: asking the stack at %s (this waits until every matching message is handled)\n", g.EndpointURL)
		if err := dlqAPI(g, http.MethodPost, "/v1/dlq/redrive", req, &rep, c.Timeout); err != nil {
			return err
		}
	}
	if g.Output == "json" {
		if err := printJSON(g.stdout, rep); err != nil {
			return err
		}
	} else if err := printReport(g.stdout, &rep); err != nil {
		return err
	}
	for _, o := range rep.Outcomes {
		if o.State == workbench.StateExpired {
			fmt.Fprintf(g.stderr, "sdp: message %s: %s; delete the message with sdp dlq purge --id %s\n", o.MessageID, o.Error, o.MessageID)
		}
	}
	if n := rep.Incomplete(); n > 0 {
		fmt.Fprintf(g.stderr, "sdp: %d of %d matching messages were not redriven and stay in the queue (see STATE and ERROR)\n", n, rep.Matched)
		return errReported
	}
	return nil
}

// redriveAWS runs the redrive in-process over SQS and Kinesis, with progress lines and the audit file.
func (c *dlqRedriveCmd) redriveAWS(g *globals, filter workbench.Filter) (*workbench.Report, error) {
	a, err := c.open(g)
	if err != nil {
		return nil, err
	}
	opts := workbench.RedriveOptions{Filter: filter, Rate: c.Rate, DryRun: c.DryRun, SkipInvalid: c.SkipInvalid}
	switch c.Target {
	case "workflow":
		if c.StateMachine == "" {
			return nil, errors.New("--target workflow with --backend aws needs --state-machine-arn (the stack output WorkflowArn)")
		}
		opts.Target = workbench.ToWorkflow(sfn.New(sfn.NewClient(a.cfg, awsEndpoint(g)), c.StateMachine))
	default:
		if a.producer != nil {
			opts.Target = workbench.ToStream(a.producer)
		}
	}
	if c.TargetQueue != "" {
		if opts.TargetQueue, err = openQueue(g.ctx, a.sqs, c.TargetQueue); err != nil {
			return nil, err
		}
	}
	if c.Edit {
		if c.TargetQueue == "" {
			return nil, errors.New("--edit edits the bodies moved to --target-queue; give --target-queue")
		}
		opts.Edit = editBodies
	}
	if !c.DryRun {
		path := c.Audit
		if path == "" {
			dir, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("no user cache dir for the audit log (%w): give --audit", err)
			}
			path = filepath.Join(dir, "sdp", "dlq-audit.jsonl")
		}
		f, err := openAudit(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		opts.Audit = f
		fmt.Fprintf(g.stderr, "sdp dlq redrive: audit log %s\n", path)
	}
	last := time.Now()
	opts.Progress = func(done, total int) {
		if done == total || time.Since(last) >= 2*time.Second {
			last = time.Now()
			fmt.Fprintf(g.stderr, "sdp dlq redrive: %d of %d messages handled\n", done, total)
		}
	}
	return a.wb.Redrive(g.ctx, opts)
}

// openAudit opens the audit log for appending, creating it and its directory.
func openAudit(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return f, nil
}

// editBodies writes the bodies to a temporary file, one JSON string per line, runs $EDITOR (or $VISUAL, or
// vi) on it and reads them back.
func editBodies(ctx context.Context, bodies [][]byte) ([][]byte, error) {
	f, err := os.CreateTemp("", "sdp-dlq-*.jsonl")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	for _, b := range bodies {
		line, err := json.Marshal(string(b))
		if err != nil {
			f.Close()
			return nil, err
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			f.Close()
			return nil, fmt.Errorf("write the bodies to edit: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = os.Getenv("VISUAL")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "sh", f.Name())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("editor %q: %w", editor, err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 2*dlq.MaxBodySize)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var s string
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("edited file, line %d: each line must stay one JSON string: %w", n, err)
		}
		out = append(out, []byte(s))
	}
	return out, sc.Err()
}

// printReport writes a redrive's report as a table.
func printReport(w io.Writer, r *workbench.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE\tSHARD\tRECORDS\tTYPES\tSTATE\tDELETED\tERROR")
	for _, o := range r.Outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%v\t%s\n", o.MessageID, o.Shard, o.Records, strings.Join(o.Types, ","), o.State,
			o.Deleted, clip(o.Error, 200))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "redriven to the " + r.Target
	if r.DryRun {
		verb = "dry run: nothing changed"
	}
	_, err := fmt.Fprintf(w, "%d messages matched (%d records), %d deleted; %s\n", r.Matched, r.Records, r.Deleted, verb)
	return err
}

// Run purges messages after confirmation.
func (c *dlqPurgeCmd) Run(g *globals) error {
	what := "every message"
	if len(c.ID) > 0 {
		what = fmt.Sprintf("%d messages", len(c.ID))
	}
	if !c.Yes {
		fmt.Fprintf(g.stderr, "Delete %s of the dead-letter queue? Their records cannot be redriven afterwards. [y/N] ", what)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not confirmed: nothing deleted (pass --yes to skip the question)")
		}
	}
	var res purgeResponse
	if c.Backend == "aws" {
		a, err := c.open(g)
		if err != nil {
			return err
		}
		res.Deleted, err = a.wb.Purge(g.ctx, c.ID)
		if err != nil {
			return err
		}
	} else if err := dlqAPI(g, http.MethodPost, "/v1/dlq/purge", purgeRequest{IDs: c.ID}, &res, 5*time.Minute); err != nil {
		return err
	}
	if g.Output == "json" {
		return printJSON(g.stdout, res)
	}
	_, err := fmt.Fprintf(g.stdout, "%d messages deleted\n", len(res.Deleted))
	return err
}

// dlqAPI calls the local stack's DLQ API with an optional JSON body and decodes a 200 answer into out.
func dlqAPI(g *globals, method, path string, in, out any, timeout time.Duration) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := strings.TrimSuffix(g.EndpointURL, "/") + path
	req, err := http.NewRequestWithContext(g.ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.httpClient(timeout).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the API at %s: %w (is `sdp up` running? set --endpoint-url, or use --backend aws)", g.EndpointURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Message string }
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Message)
		}
		return fmt.Errorf("%s answered %s", u, resp.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the API answered something unexpected: %w", err)
	}
	return nil
}
