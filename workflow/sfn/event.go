package sfn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// Notes added to a Cause when CloudWatch Logs cut a payload. Step Functions truncates an escaped input or
// output above about 248 KB in the log event and says so with inputDetails or outputDetails
// {"truncated": true}; what is left is not JSON. Such a payload is kept as a JSON string holding the text
// that was logged, and the Cause of the event (or of the Result, for the execution's own input and output)
// gets one of these notes, so that a truncated input is never replayed as if it were whole.
const (
	TruncatedInput  = "input truncated in CloudWatch Logs"
	TruncatedOutput = "output truncated in CloudWatch Logs"
)

// logEvent is one Step Functions history event as a CloudWatch Logs message:
//
//	{"id":"2","type":"TaskStateEntered","details":{"input":"{...}","inputDetails":{"truncated":false},
//	 "name":"Enrich"},"previous_event_id":"1","event_timestamp":"1700000000123",
//	 "execution_arn":"arn:aws:states:...:express:...","redrive_count":"0"}
//
// Numbers are logged as strings; both forms are accepted.
type logEvent struct {
	ID           flexInt    `json:"id"`
	Type         string     `json:"type"`
	Details      logDetails `json:"details"`
	PreviousID   flexInt    `json:"previous_event_id"`
	Timestamp    flexInt    `json:"event_timestamp"`
	ExecutionARN string     `json:"execution_arn"`
}

// logDetails is the union of the details fields of the event types: the *EventDetails shapes of
// GetExecutionHistory, with input and output as escaped JSON strings.
type logDetails struct {
	Input         *string      `json:"input"`
	InputDetails  *dataDetails `json:"inputDetails"`
	Output        *string      `json:"output"`
	OutputDetails *dataDetails `json:"outputDetails"`
	// Parameters is a task's effective input (TaskScheduled).
	Parameters   *string  `json:"parameters"`
	Error        string   `json:"error"`
	Cause        string   `json:"cause"`
	Name         string   `json:"name"`
	Resource     string   `json:"resource"`
	ResourceType string   `json:"resourceType"`
	Index        *flexInt `json:"index"`
}

// dataDetails is HistoryEventExecutionDataDetails.
type dataDetails struct {
	Truncated bool `json:"truncated"`
}

// flexInt is an integer logged as a JSON string or number.
type flexInt int64

// UnmarshalJSON accepts "12", 12 and null.
func (n *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", b)
	}
	*n = flexInt(v)
	return nil
}

// parseLogEvent decodes one log message. fallback is the log event's own timestamp, used when the message
// has no event_timestamp. A message that is not a Step Functions history event is an error.
func parseLogEvent(message string, fallback time.Time) (string, asl.HistoryEvent, error) {
	var le logEvent
	if err := json.Unmarshal([]byte(message), &le); err != nil {
		return "", asl.HistoryEvent{}, fmt.Errorf("decode log event: %w", err)
	}
	if le.ExecutionARN == "" || le.Type == "" {
		return "", asl.HistoryEvent{}, fmt.Errorf("log event is not a history event: no execution_arn or type")
	}
	ev := asl.HistoryEvent{
		ID:         int64(le.ID),
		PreviousID: int64(le.PreviousID),
		Timestamp:  fallback.UTC(),
		Type:       le.Type,
		State:      le.Details.Name,
		Resource:   resourceARN(le.Details.ResourceType, le.Details.Resource),
		Error:      le.Details.Error,
		Cause:      le.Details.Cause,
	}
	if le.Timestamp != 0 {
		ev.Timestamp = time.UnixMilli(int64(le.Timestamp)).UTC()
	}
	if le.Details.Index != nil && strings.HasPrefix(le.Type, "MapIteration") {
		i := int(*le.Details.Index)
		ev.Index = &i
	}
	in, inDetails := le.Details.Input, le.Details.InputDetails
	if in == nil {
		in = le.Details.Parameters
	}
	if in != nil {
		var cut bool
		ev.Input, cut = loggedPayload(*in, inDetails)
		if cut {
			ev.Cause = addNote(ev.Cause, TruncatedInput)
		}
	}
	if le.Details.Output != nil {
		var cut bool
		ev.Output, cut = loggedPayload(*le.Details.Output, le.Details.OutputDetails)
		if cut {
			ev.Cause = addNote(ev.Cause, TruncatedOutput)
		}
	}
	return le.ExecutionARN, ev, nil
}

// resourceARN rebuilds the Resource field of a Task state from the logged resource and resourceType: an
// optimised integration is logged as resourceType "lambda" and resource "invoke" and becomes
// arn:aws:states:::lambda:invoke, as written in the definition; a resource logged as an ARN (a plain
// Lambda function ARN of LambdaFunctionScheduled) is kept.
func resourceARN(resourceType, resource string) string {
	if resourceType == "" || resource == "" || strings.HasPrefix(resource, "arn:") {
		return resource
	}
	return "arn:aws:states:::" + resourceType + ":" + resource
}

// loggedPayload converts a logged input or output. It reports whether the payload was cut, either as the
// details say or because the text is not JSON.
func loggedPayload(s string, d *dataDetails) (json.RawMessage, bool) {
	raw, ok := payload(s)
	return raw, !ok || (d != nil && d.Truncated)
}

// payload returns s as JSON: s itself when it is valid JSON, otherwise s encoded as a JSON string (with
// false), so that the value always encodes.
func payload(s string) (json.RawMessage, bool) {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s), true
	}
	quoted, _ := json.Marshal(s)
	return quoted, false
}

// addNote appends a note to a cause.
func addNote(cause, note string) string {
	if cause == "" {
		return note
	}
	if strings.Contains(cause, note) {
		return cause
	}
	return cause + "; " + note
}

// executionName returns the execution name in an execution ARN: arn:aws:states:region:account:execution:
// machine:name for Standard and arn:aws:states:region:account:express:machine:name:id for Express.
func executionName(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) < 8 || parts[0] != "arn" {
		return ""
	}
	return parts[7]
}

// executionStatus maps the type of an execution's terminal event to its status.
func executionStatus(eventType string) (asl.Status, bool) {
	switch eventType {
	case "ExecutionSucceeded":
		return asl.StatusSucceeded, true
	case "ExecutionFailed":
		return asl.StatusFailed, true
	case "ExecutionTimedOut":
		return asl.StatusTimedOut, true
	case "ExecutionAborted":
		return asl.StatusAborted, true
	}
	return "", false
}

// StatusRunning is the Status of a Result read from the logs without a terminal event: the execution was
// still running when its events were read, or its last events were not delivered (CloudWatch Logs delivery
// is best effort).
const StatusRunning asl.Status = "RUNNING"

// execution accumulates the execution-level events of one execution into its Result.
type execution struct {
	res     asl.Result
	started bool
}

// add folds one event into the result: ExecutionStarted gives the input and start date, a terminal event
// the status, output, error, cause and stop date.
func (x *execution) add(arn string, ev asl.HistoryEvent) {
	if x.res.ExecutionARN == "" {
		x.res.ExecutionARN = arn
		x.res.Name = executionName(arn)
		x.res.Status = StatusRunning
	}
	if ev.Type == "ExecutionStarted" {
		x.started = true
		x.res.StartDate = ev.Timestamp
		x.res.Input = ev.Input
		if strings.Contains(ev.Cause, TruncatedInput) {
			x.res.Cause = addNote(x.res.Cause, TruncatedInput)
		}
		return
	}
	status, ok := executionStatus(ev.Type)
	if !ok {
		return
	}
	x.res.Status = status
	x.res.StopDate = ev.Timestamp
	x.res.Output = ev.Output
	x.res.Error = ev.Error
	cause := ev.Cause
	if strings.Contains(x.res.Cause, TruncatedInput) {
		cause = addNote(cause, TruncatedInput)
	}
	x.res.Cause = cause
}
