package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

// executionsCmd lists, shows and replays workflow executions: of a running `sdp up` through its API, or of
// the Express state machine in AWS through its execution log (--log-group).
type executionsCmd struct {
	Ls     executionsLsCmd     `cmd:"" help:"List executions, newest first."`
	Show   executionsShowCmd   `cmd:"" help:"Show an execution: its outcome and a timeline of its states."`
	Replay executionsReplayCmd `cmd:"" help:"Run an execution again with its recorded input (writes are idempotent: nothing is counted twice)."`
}

// awsExecutionFlags select AWS instead of a local stack.
type awsExecutionFlags struct {
	LogGroup        string `name:"log-group" env:"SDP_WORKFLOW_LOG_GROUP" help:"AWS: the workflow's execution log group (stack output WorkflowLogGroup). Without it, the commands ask the sdp up at --endpoint-url."`
	StateMachineARN string `name:"state-machine-arn" env:"SDP_WORKFLOW_ARN" help:"AWS: the state machine a replay starts (stack output WorkflowArn)."`
}

type executionsLsCmd struct {
	awsExecutionFlags
	Status string        `enum:",SUCCEEDED,FAILED,TIMED_OUT,ABORTED,RUNNING" default:"" help:"Only executions with this status."`
	Batch  string        `help:"Only executions of this batch id (local)."`
	Limit  int           `default:"50" help:"At most this many executions (0: all)."`
	Since  time.Duration `default:"1h" help:"AWS: executions that started within this long."`
}

type executionsShowCmd struct {
	awsExecutionFlags
	Execution string `arg:"" help:"The execution's name or ARN."`
}

type executionsReplayCmd struct {
	awsExecutionFlags
	Execution string `arg:"" help:"The execution's name or ARN."`
}

// Run lists executions.
func (c *executionsLsCmd) Run(g *globals) error {
	var recs []history.Record
	total := -1
	if c.LogGroup != "" {
		logs, err := awsLogs(g, c.LogGroup)
		if err != nil {
			return err
		}
		now := time.Now()
		res, err := logs.List(g.ctx, now.Add(-c.Since), now, c.Limit)
		if err != nil {
			return fmt.Errorf("list executions from log group %s: %w", c.LogGroup, err)
		}
		for i := range res {
			if c.Status != "" && string(res[i].Status) != c.Status {
				continue
			}
			recs = append(recs, history.NewRecord(&res[i], nil).Summary())
		}
	} else {
		q := url.Values{"limit": {fmt.Sprint(c.Limit)}}
		if c.Status != "" {
			q.Set("status", c.Status)
		}
		if c.Batch != "" {
			q.Set("batch", c.Batch)
		}
		body, err := readAPI(g, "/v1/executions?"+q.Encode())
		if err != nil {
			return err
		}
		var ans struct {
			Executions []history.Record `json:"executions"`
			Total      int              `json:"total"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			return fmt.Errorf("the API answered something unexpected: %w", err)
		}
		recs, total = ans.Executions, ans.Total
	}
	if g.Output == "json" {
		if recs == nil {
			recs = []history.Record{}
		}
		return printJSON(g.stdout, recs)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSTARTED\tDURATION\tBATCH\tERROR")
	for _, r := range recs {
		errText := r.Error
		if r.ReplayOf != "" {
			errText = strings.TrimSpace(errText + " (replay of " + r.ReplayOf + ")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Status, r.StartDate.UTC().Format(time.RFC3339Nano),
			r.Duration().Round(time.Microsecond), r.BatchID, errText)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total >= 0 {
		fmt.Fprintf(g.stdout, "%d shown, %d recorded\n", len(recs), total)
	}
	return nil
}

// Run shows one execution.
func (c *executionsShowCmd) Run(g *globals) error {
	rec, err := c.get(g, c.Execution)
	if err != nil {
		return err
	}
	if g.Output == "json" {
		return printJSON(g.stdout, rec)
	}
	return printTimeline(g.stdout, rec)
}

// get fetches the whole record of an execution, locally or from the AWS execution log.
func (f *awsExecutionFlags) get(g *globals, nameOrARN string) (*history.Record, error) {
	if f.LogGroup != "" {
		logs, err := awsLogs(g, f.LogGroup)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(nameOrARN, "arn:") {
			return nil, fmt.Errorf("in AWS, name the execution by its ARN (as `sdp executions ls --log-group %s` prints it)", f.LogGroup)
		}
		res, events, err := logs.History(g.ctx, nameOrARN)
		if err != nil {
			return nil, fmt.Errorf("read execution %s from log group %s: %w", nameOrARN, f.LogGroup, err)
		}
		return history.NewRecord(res, events), nil
	}
	body, err := readAPI(g, "/v1/executions/"+url.PathEscape(nameOrARN))
	if err != nil {
		return nil, err
	}
	var rec history.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("the API answered something unexpected: %w", err)
	}
	return &rec, nil
}

// Run replays one execution and shows the new one.
func (c *executionsReplayCmd) Run(g *globals) error {
	var rec *history.Record
	if c.LogGroup != "" {
		if c.StateMachineARN == "" {
			return fmt.Errorf("replaying in AWS needs --state-machine-arn (the stack output WorkflowArn)")
		}
		orig, err := c.get(g, c.Execution)
		if err != nil {
			return err
		}
		if len(orig.Input) == 0 {
			return fmt.Errorf("execution %s has no input in its log; the state machine must log with includeExecutionData", c.Execution)
		}
		if strings.Contains(orig.Cause, sfn.TruncatedInput) {
			return fmt.Errorf("execution %s: its input was truncated in the log, so it cannot be replayed from there", c.Execution)
		}
		cfg, err := awsConfig(g)
		if err != nil {
			return err
		}
		ex := sfn.New(sfn.NewClient(cfg, awsEndpoint(g)), c.StateMachineARN)
		res, err := ex.Start(g.ctx, "", orig.Input)
		if err != nil {
			return fmt.Errorf("replay %s: %w", c.Execution, err)
		}
		rec = history.NewRecord(res, nil)
		rec.ReplayOf = orig.ExecutionARN
	} else {
		var err error
		if rec, err = postAPI(g, "/v1/executions/"+url.PathEscape(c.Execution)+"/replay"); err != nil {
			return err
		}
	}
	if g.Output == "json" {
		return printJSON(g.stdout, rec)
	}
	if err := printTimeline(g.stdout, rec); err != nil {
		return err
	}
	if rec.Status != asl.StatusSucceeded {
		return errReported
	}
	return nil
}

// postAPI POSTs to a path of the local API and decodes the execution record it answers.
func postAPI(g *globals, path string) (*history.Record, error) {
	body, err := callAPI(g, http.MethodPost, path, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	var rec history.Record
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("the API answered something unexpected: %w", err)
	}
	return &rec, nil
}

// printTimeline writes an execution as people read it: its outcome, then each history event with its time
// since the start, the state, and any error.
func printTimeline(w io.Writer, r *history.Record) error {
	fmt.Fprintf(w, "Execution  %s\n", r.ExecutionARN)
	fmt.Fprintf(w, "Status     %s in %s (started %s)\n", r.Status, r.Duration().Round(time.Microsecond),
		r.StartDate.UTC().Format(time.RFC3339Nano))
	if r.BatchID != "" {
		fmt.Fprintf(w, "Batch      %s\n", r.BatchID)
	}
	if r.ReplayOf != "" {
		fmt.Fprintf(w, "Replay of  %s\n", r.ReplayOf)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error      %s: %s\n", r.Error, r.Cause)
	}
	if len(r.Output) > 0 {
		fmt.Fprintf(w, "Output     %s\n", clip(string(r.Output), 400))
	}
	if len(r.Events) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "+TIME\tID\tEVENT\tSTATE\tDETAIL")
	for _, ev := range r.Events {
		state := ev.State
		if ev.Index != nil {
			state = fmt.Sprintf("%s[%d]", state, *ev.Index)
		}
		var detail []string
		if ev.Resource != "" {
			detail = append(detail, ev.Resource)
		}
		if ev.RetryCount > 0 {
			detail = append(detail, fmt.Sprintf("retry %d", ev.RetryCount))
		}
		if ev.Error != "" {
			detail = append(detail, ev.Error+": "+clip(ev.Cause, 160))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", ev.Timestamp.Sub(r.StartDate).Round(time.Microsecond), ev.ID, ev.Type,
			state, strings.Join(detail, "; "))
	}
	return tw.Flush()
}

// clip shortens s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// awsConfig loads the AWS configuration as the AWS CLI does: the default chain, --region and --profile.
func awsConfig(g *globals) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(g.Region)}
	if g.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(g.Profile))
	}
	cfg, err := config.LoadDefaultConfig(g.ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load the AWS configuration (region %s, profile %q): %w", g.Region, g.Profile, err)
	}
	return cfg, nil
}

// awsEndpoint is --endpoint-url when the user set it for AWS (an emulator), or "" for the AWS endpoints: the
// default --endpoint-url is the local stack's, which is not an AWS endpoint.
func awsEndpoint(g *globals) string {
	if g.EndpointURL == "http://"+defaultAddr {
		return ""
	}
	return g.EndpointURL
}

// awsLogs returns the reader of the workflow's execution log.
func awsLogs(g *globals, group string) (*sfn.Logs, error) {
	cfg, err := awsConfig(g)
	if err != nil {
		return nil, err
	}
	client := cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
		if ep := awsEndpoint(g); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	return sfn.NewLogs(client, group), nil
}
