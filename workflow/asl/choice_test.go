package asl_test

import (
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// TestChoiceRules runs one Choice Rule against an input: the machine's output is true when it matches.
func TestChoiceRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		rule  string
		input string
		want  bool
		err   string // the execution fails with this error instead
	}{
		{"StringEquals", `"Variable":"$.s","StringEquals":"abc"`, `{"s":"abc"}`, true, ""},
		{"StringEquals other", `"Variable":"$.s","StringEquals":"abd"`, `{"s":"abc"}`, false, ""},
		{"StringEquals on a number is false", `"Variable":"$.n","StringEquals":"1"`, `{"n":1}`, false, ""},
		{"StringLessThan", `"Variable":"$.s","StringLessThan":"abd"`, `{"s":"abc"}`, true, ""},
		{"StringGreaterThan", `"Variable":"$.s","StringGreaterThan":"abd"`, `{"s":"abc"}`, false, ""},
		{"StringLessThanEquals", `"Variable":"$.s","StringLessThanEquals":"abc"`, `{"s":"abc"}`, true, ""},
		{"StringGreaterThanEquals", `"Variable":"$.s","StringGreaterThanEquals":"b"`, `{"s":"abc"}`, false, ""},
		{"StringEqualsPath", `"Variable":"$.s","StringEqualsPath":"$.t"`, `{"s":"x","t":"x"}`, true, ""},
		{"StringLessThanPath", `"Variable":"$.s","StringLessThanPath":"$.t"`, `{"s":"a","t":"b"}`, true, ""},
		{"StringMatches star", `"Variable":"$.s","StringMatches":"log-*.txt"`, `{"s":"log-2024.txt"}`, true, ""},
		{"StringMatches stars", `"Variable":"$.s","StringMatches":"*a*b*"`, `{"s":"xxaYYbZ"}`, true, ""},
		{"StringMatches no match", `"Variable":"$.s","StringMatches":"log-*.txt"`, `{"s":"log-2024.csv"}`, false, ""},
		{"StringMatches escaped star", `"Variable":"$.s","StringMatches":"a\\*b"`, `{"s":"a*b"}`, true, ""},
		{"StringMatches escaped star is literal", `"Variable":"$.s","StringMatches":"a\\*b"`, `{"s":"axxb"}`, false, ""},
		{"StringMatches escaped backslash", `"Variable":"$.s","StringMatches":"a\\\\*"`, `{"s":"a\\bc"}`, true, ""},
		{"StringMatches overlapping prefix and suffix", `"Variable":"$.s","StringMatches":"ab*ba"`, `{"s":"aba"}`, false, ""},
		{"NumericEquals", `"Variable":"$.n","NumericEquals":1`, `{"n":1.0}`, true, ""},
		{"NumericEquals on a string is false", `"Variable":"$.n","NumericEquals":1`, `{"n":"1"}`, false, ""},
		{"NumericLessThan", `"Variable":"$.n","NumericLessThan":1`, `{"n":0.5}`, true, ""},
		{"NumericGreaterThan", `"Variable":"$.n","NumericGreaterThan":1`, `{"n":1}`, false, ""},
		{"NumericLessThanEquals", `"Variable":"$.n","NumericLessThanEquals":1`, `{"n":1}`, true, ""},
		{"NumericGreaterThanEquals", `"Variable":"$.n","NumericGreaterThanEquals":-2`, `{"n":-3}`, false, ""},
		{"NumericGreaterThanPath", `"Variable":"$.n","NumericGreaterThanPath":"$.m"`, `{"n":3,"m":2}`, true, ""},
		{"NumericEqualsPath with a string is false", `"Variable":"$.n","NumericEqualsPath":"$.m"`, `{"n":3,"m":"3"}`, false, ""},
		{"BooleanEquals", `"Variable":"$.b","BooleanEquals":false`, `{"b":false}`, true, ""},
		{"BooleanEquals on a string is false", `"Variable":"$.b","BooleanEquals":true`, `{"b":"true"}`, false, ""},
		{"BooleanEqualsPath", `"Variable":"$.b","BooleanEqualsPath":"$.c"`, `{"b":true,"c":true}`, true, ""},
		{"TimestampEquals across offsets", `"Variable":"$.t","TimestampEquals":"2024-01-01T00:00:00Z"`, `{"t":"2024-01-01T01:00:00+01:00"}`, true, ""},
		{"TimestampLessThan", `"Variable":"$.t","TimestampLessThan":"2024-01-01T00:00:00Z"`, `{"t":"2023-12-31T23:59:59.5Z"}`, true, ""},
		{"TimestampGreaterThan", `"Variable":"$.t","TimestampGreaterThan":"2024-01-01T00:00:00Z"`, `{"t":"2023-12-31T23:59:59Z"}`, false, ""},
		{"TimestampLessThanEquals", `"Variable":"$.t","TimestampLessThanEquals":"2024-01-01T00:00:00Z"`, `{"t":"2024-01-01T00:00:00Z"}`, true, ""},
		{"TimestampGreaterThanEquals", `"Variable":"$.t","TimestampGreaterThanEquals":"2024-01-01T00:00:00Z"`, `{"t":"2024-06-01T00:00:00Z"}`, true, ""},
		{"Timestamp on a non-timestamp is false", `"Variable":"$.t","TimestampEquals":"2024-01-01T00:00:00Z"`, `{"t":"yesterday"}`, false, ""},
		{"TimestampLessThanPath", `"Variable":"$.t","TimestampLessThanPath":"$.u"`, `{"t":"2024-01-01T00:00:00Z","u":"2024-01-02T00:00:00Z"}`, true, ""},
		{"IsNull", `"Variable":"$.v","IsNull":true`, `{"v":null}`, true, ""},
		{"IsNull false", `"Variable":"$.v","IsNull":false`, `{"v":0}`, true, ""},
		{"IsPresent", `"Variable":"$.v","IsPresent":true`, `{"v":null}`, true, ""},
		{"IsPresent on a missing field", `"Variable":"$.w","IsPresent":true`, `{"v":1}`, false, ""},
		{"IsPresent false on a missing field", `"Variable":"$.w.x","IsPresent":false`, `{"v":1}`, true, ""},
		{"IsNumeric", `"Variable":"$.v","IsNumeric":true`, `{"v":1.5}`, true, ""},
		{"IsString", `"Variable":"$.v","IsString":true`, `{"v":1}`, false, ""},
		{"IsBoolean", `"Variable":"$.v","IsBoolean":true`, `{"v":true}`, true, ""},
		{"IsTimestamp", `"Variable":"$.v","IsTimestamp":true`, `{"v":"2024-02-29T12:00:00.123Z"}`, true, ""},
		{"IsTimestamp on a date", `"Variable":"$.v","IsTimestamp":true`, `{"v":"2024-02-29"}`, false, ""},
		{"And", `"And":[{"Variable":"$.a","NumericGreaterThan":1},{"Variable":"$.a","NumericLessThan":3}]`, `{"a":2}`, true, ""},
		{"And false", `"And":[{"Variable":"$.a","NumericGreaterThan":1},{"Variable":"$.a","NumericLessThan":2}]`, `{"a":2}`, false, ""},
		{"Or", `"Or":[{"Variable":"$.a","StringEquals":"x"},{"Variable":"$.a","NumericEquals":2}]`, `{"a":2}`, true, ""},
		{"Not", `"Not":{"Variable":"$.a","StringEquals":"x"}`, `{"a":"y"}`, true, ""},
		{"nested", `"Not":{"Or":[{"Variable":"$.a","IsNull":true},{"And":[{"Variable":"$.a","IsNumeric":true},{"Variable":"$.a","NumericEquals":0}]}]}`, `{"a":0}`, false, ""},
		{"Variable over the context", `"Variable":"$$.State.Name","StringEquals":"C"`, `{}`, true, ""},
		{"Variable over a variable", `"Variable":"$v","NumericEquals":7`, `{}`, true, ""},
		{"missing Variable is States.Runtime", `"Variable":"$.missing","StringEquals":"x"`, `{}`, false, asl.ErrorRuntime},
		{"missing comparison path is States.Runtime", `"Variable":"$.a","StringEqualsPath":"$.missing"`, `{"a":"x"}`, false, asl.ErrorRuntime},
		{"Or stops at the first match", `"Or":[{"Variable":"$.a","IsPresent":true},{"Variable":"$.missing","IsNull":true}]`, `{"a":1}`, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := `{"StartAt":"V","States":{"V":{"Type":"Pass","Assign":{"v":7},"Next":"C"},
				"C":{"Type":"Choice","Choices":[{` + tc.rule + `,"Next":"Yes"}],"Default":"No"},
				"Yes":{"Type":"Pass","Result":true,"End":true},"No":{"Type":"Pass","Result":false,"End":true}}}`
			res := execMachine(t, parseMachine(t, def), tc.input)
			if tc.err != "" {
				if res.Status != asl.StatusFailed || res.Error != tc.err {
					t.Fatalf("status %s error %q, want FAILED %q", res.Status, res.Error, tc.err)
				}
				return
			}
			if res.Status != asl.StatusSucceeded {
				t.Fatalf("status %s (%s: %s)", res.Status, res.Error, res.Cause)
			}
			want := "false"
			if tc.want {
				want = "true"
			}
			if string(res.Output) != want {
				t.Errorf("matched %s, want %s", res.Output, want)
			}
		})
	}
}
