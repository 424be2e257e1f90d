package asl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	withHandlers := []asl.Option{
		asl.WithLambda(echoLambda),
		asl.WithTask("arn:aws:states:::test:echo", taskOf(func(p any) (any, error) { return p, nil })),
	}
	cases := []struct {
		name  string
		def   string
		state string // the state the error names ("" for the top level)
		field string // the field it names
		want  string // a part of the reason
	}{
		{"not JSON", `{"StartAt":`, "", "", "not JSON"},
		{"unknown top-level field", `{"StartAt":"P","Foo":1,"States":{"P":{"Type":"Pass","End":true}}}`, "", "Foo", "unknown field"},
		{"unknown state field", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true,"Bar":1}}}`, "P", "Bar", "unknown field"},
		{"field of another state type", `{"StartAt":"P","States":{"P":{"Type":"Pass","Resource":"x","End":true}}}`, "P", "Resource", "unknown field"},
		{"ResultPath on a Choice", `{"StartAt":"C","States":{"C":{"Type":"Choice","ResultPath":"$.x","Choices":[{"Variable":"$.a","IsNull":true,"Next":"S"}]},"S":{"Type":"Succeed"}}}`, "C", "ResultPath", "unknown field"},
		{"JSONata machine", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, "", "QueryLanguage", "JSONata is not supported: use JSONPath"},
		{"JSONata state", `{"StartAt":"P","States":{"P":{"Type":"Pass","QueryLanguage":"JSONata","End":true}}}`, "P", "QueryLanguage", "JSONata is not supported"},
		{"JSONata field", `{"StartAt":"P","States":{"P":{"Type":"Pass","Output":{},"End":true}}}`, "P", "Output", "JSONata"},
		{"missing StartAt", `{"States":{"P":{"Type":"Pass","End":true}}}`, "", "StartAt", "is required"},
		{"StartAt names no state", `{"StartAt":"X","States":{"P":{"Type":"Pass","End":true}}}`, "", "StartAt", `"X"`},
		{"bad Next", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nowhere"}}}`, "P", "Next", `"Nowhere"`},
		{"no Next nor End", `{"StartAt":"P","States":{"P":{"Type":"Pass"}}}`, "P", "Next", "Next or"},
		{"Next and End", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"P","End":true}}}`, "P", "End", "both"},
		{"unreachable state", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"Q":{"Type":"Pass","End":true}}}`, "Q", "", "not reachable"},
		{"unknown type", `{"StartAt":"P","States":{"P":{"Type":"Sleep","End":true}}}`, "P", "Type", "unknown state type"},
		{"duplicate state name in a branch", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}]}}}`, "P", "", "used twice"},
		{"transition out of a branch", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"Q","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Q"}}}]},"Q":{"Type":"Succeed"}}}`, "A", "Next", `"Q"`},
		{"distributed Map mode", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`, "M", "ItemProcessor.ProcessorConfig.Mode", "distributed Map is not supported"},
		{"distributed Map ItemReader", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemReader":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`, "M", "ItemReader", "distributed Map is not supported"},
		{"unknown resource", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}}`, "T", "Resource", "unknown resource"},
		{"activity", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:us-east-1:123456789012:activity:a","End":true}}}`, "T", "Resource", "activities"},
		{"waitForTaskToken", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken","Parameters":{"FunctionName":"f"},"End":true}}}`, "T", "Resource", ".waitForTaskToken"},
		{"sync", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync:2","End":true}}}`, "T", "Resource", ".sync"},
		{"lambda:invoke without FunctionName", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"Payload":{}},"End":true}}}`, "T", "Parameters", "FunctionName"},
		{"lambda:invoke unknown parameter", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f","Foo":1},"End":true}}}`, "T", "Parameters.Foo", "not a parameter"},
		{"Credentials", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","Credentials":{},"End":true}}}`, "T", "Credentials", "not supported"},
		{"States.ALL not last", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["X"]}]}}}`, "T", "Retry[0].ErrorEquals", "States.ALL"},
		{"States.ALL not alone", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Catch":[{"ErrorEquals":["X","States.ALL"],"Next":"T"}]}}}`, "T", "Catch[0].ErrorEquals", "States.ALL"},
		{"Retry unknown field", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Retry":[{"ErrorEquals":["X"],"Interval":1}]}}}`, "T", "Retry[0].Interval", "unknown field"},
		{"BackoffRate under 1", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Retry":[{"ErrorEquals":["X"],"BackoffRate":0.5}]}}}`, "T", "Retry[0].BackoffRate", "at least 1.0"},
		{"bad JitterStrategy", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Retry":[{"ErrorEquals":["X"],"JitterStrategy":"HALF"}]}}}`, "T", "Retry[0].JitterStrategy", "FULL or NONE"},
		{"Catch without Next", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","End":true,"Catch":[{"ErrorEquals":["X"]}]}}}`, "T", "Catch[0].Next", "is required"},
		{"Wait with two fields", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"SecondsPath":"$.s","End":true}}}`, "W", "Seconds", "exactly one"},
		{"Wait bad Timestamp", `{"StartAt":"W","States":{"W":{"Type":"Wait","Timestamp":"tomorrow","End":true}}}`, "W", "Timestamp", "ISO-8601"},
		{"Fail Error and ErrorPath", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}`, "F", "ErrorPath", "exclusive"},
		{"choice rule without Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true}],"Default":"S"},"S":{"Type":"Succeed"}}}`, "C", "Choices[0].Next", "is required"},
		{"nested choice rule with Next", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Not":{"Variable":"$.a","IsNull":true,"Next":"S"},"Next":"S"}]},"S":{"Type":"Succeed"}}}`, "C", "Choices[0].Not.Next", "only the Choice Rules"},
		{"choice rule with two operators", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"IsString":true,"Next":"S"}]},"S":{"Type":"Succeed"}}}`, "C", "Choices[0].", "exactly one"},
		{"choice wrong operand type", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericEquals":"1","Next":"S"}]},"S":{"Type":"Succeed"}}}`, "C", "Choices[0].NumericEquals", "number"},
		{"bad path", `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"a.b","End":true}}}`, "P", "InputPath", "invalid path"},
		{"ResultPath into the context", `{"StartAt":"P","States":{"P":{"Type":"Pass","ResultPath":"$$.x","End":true}}}`, "P", "ResultPath", "invalid path"},
		{"bad intrinsic in Parameters", `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"x.$":"States.Nope(1)"},"End":true}}}`, "P", "Parameters", ""},
		{"bad TimeoutSeconds", `{"StartAt":"P","TimeoutSeconds":0,"States":{"P":{"Type":"Pass","End":true}}}`, "", "TimeoutSeconds", "integer"},
		{"HeartbeatSeconds not under TimeoutSeconds", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","TimeoutSeconds":5,"HeartbeatSeconds":5,"End":true}}}`, "T", "HeartbeatSeconds", "smaller"},
		{"inner scope assigns an outer variable", `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x":1},"Next":"M"},"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","Assign":{"x":2},"End":true}}}}}}`, "I", "Assign", "enclosing scope"},
		{"reserved variable name", `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"states":1},"End":true}}}`, "A", "Assign", "reserved"},
		{"Map Parameters and ItemSelector", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"Parameters":{},"ItemSelector":{},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`, "M", "Parameters", "exclusive"},
		{"Map without processor", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, "M", "ItemProcessor", "is required"},
		{"ToleratedFailurePercentage over 100", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailurePercentage":101,"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`, "M", "ToleratedFailurePercentage", "0 to 100"},
		{"empty Branches", `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[]}}}`, "P", "Branches", "at least one"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := asl.Parse([]byte(tc.def), withHandlers...)
			if err == nil {
				t.Fatal("Parse accepted the definition")
			}
			if !errors.Is(err, asl.ErrInvalidDefinition) {
				t.Fatalf("error %v does not wrap ErrInvalidDefinition", err)
			}
			var found bool
			for _, e := range joinedErrors(err) {
				var de *asl.DefinitionError
				if errors.As(e, &de) && de.State == tc.state && strings.HasPrefix(de.Field, tc.field) && strings.Contains(de.Reason, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no error about state %q field %q with %q in:\n%v", tc.state, tc.field, tc.want, err)
			}
		})
	}
}

// joinedErrors returns the errors joined in err.
func joinedErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, joinedErrors(e)...)
		}
		return out
	}
	return []error{err}
}

func TestParseResources(t *testing.T) {
	t.Parallel()
	lambdaDef := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}}`
	if _, err := asl.Parse([]byte(lambdaDef)); err == nil || !strings.Contains(err.Error(), "no Lambda port") {
		t.Errorf("a Lambda resource without WithLambda: %v", err)
	}
	if _, err := asl.Parse([]byte(lambdaDef), asl.WithLambda(echoLambda)); err != nil {
		t.Errorf("a Lambda resource with WithLambda: %v", err)
	}
	// A registered handler takes any resource ARN, a Lambda one included.
	if _, err := asl.Parse([]byte(lambdaDef), asl.WithTask("arn:aws:lambda:us-east-1:123456789012:function:f", taskOf(func(p any) (any, error) { return p, nil }))); err != nil {
		t.Errorf("a registered Lambda ARN: %v", err)
	}
	if _, err := asl.Parse([]byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`), asl.WithStateMachineARN("not-an-arn")); err == nil {
		t.Error("Parse accepted a bad state machine ARN")
	}
}
