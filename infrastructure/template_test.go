package infrastructure

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestReadEmbeddedTemplate(t *testing.T) {
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range st.Functions {
		names = append(names, f.Name)
	}
	if got, want := strings.Join(names, ","), "analytics,consumer,enrich,ingest,persist"; got != want {
		t.Fatalf("functions = %s, want %s", got, want)
	}
	if st.StreamShards != 2 || st.StreamRetentionHours != 24 {
		t.Errorf("stream shards/retention = %d/%d, want 2/24", st.StreamShards, st.StreamRetentionHours)
	}
	c, ok := st.Function("consumer")
	if !ok || len(c.Kinesis) != 1 {
		t.Fatalf("consumer has no Kinesis event source: %+v", c)
	}
	k := c.Kinesis[0]
	want := KinesisSource{
		EventName: "Stream", StreamLogicalID: "EventStream", StartingPosition: "TRIM_HORIZON",
		BatchSize: 100, MaximumBatchingWindowInSeconds: 0, ParallelizationFactor: 2,
		BisectBatchOnFunctionError: true, MaximumRetryAttempts: 3, MaximumRecordAgeInSeconds: 3600,
		ReportBatchItemFailures: true, OnFailureLogicalID: "DeadLetterQueue",
	}
	if k != want {
		t.Errorf("consumer source =\n%+v\nwant\n%+v", k, want)
	}
	if c.Timeout != 60 || c.MemorySize != 512 {
		t.Errorf("consumer timeout/memory = %d/%d, want 60 (own) / 512 (Globals)", c.Timeout, c.MemorySize)
	}
}

// TestTemplateWorkflow checks that the state machine is made from the workflow's definition file, that each
// of the file's substitution variables names a function of the template, and that execution logging keeps
// the data `sdp executions` reads.
func TestTemplateWorkflow(t *testing.T) {
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.StateMachines) != 1 {
		t.Fatalf("state machines = %+v, want one", st.StateMachines)
	}
	sm := st.StateMachines[0]
	if sm.Type != "EXPRESS" || sm.LogLevel != "ALL" || !sm.IncludeExecutionData {
		t.Errorf("state machine type/log level/data = %s/%s/%v, want EXPRESS/ALL/true", sm.Type, sm.LogLevel, sm.IncludeExecutionData)
	}
	def, err := os.ReadFile(filepath.Join(".", sm.DefinitionURI))
	if err != nil {
		t.Fatalf("DefinitionUri %q: %v", sm.DefinitionURI, err)
	}
	vars := regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`).FindAllStringSubmatch(string(def), -1)
	if len(vars) == 0 {
		t.Fatal("the definition has no substitution variables; expected the functions' ARNs")
	}
	for _, m := range vars {
		id, ok := sm.Substitutions[m[1]]
		if !ok {
			t.Errorf("the definition's ${%s} has no DefinitionSubstitutions entry", m[1])
			continue
		}
		if _, ok := st.FunctionByLogicalID(id); !ok {
			t.Errorf("${%s} = %q, which is not a function of the template", m[1], id)
		}
	}
}

func TestReadDefaultsAndErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, st *Stack)
	}{
		{
			name: "AWS defaults where the template is silent",
			yaml: `
Resources:
  S:
    Type: AWS::Kinesis::Stream
  F:
    Type: AWS::Serverless::Function
    Properties:
      Handler: f
      Events:
        K:
          Type: Kinesis
          Properties:
            Stream: {"Fn::GetAtt": [S, Arn]}
`,
			check: func(t *testing.T, st *Stack) {
				k := st.Functions[0].Kinesis[0]
				if k.BatchSize != 100 || k.MaximumRetryAttempts != -1 || k.MaximumRecordAgeInSeconds != -1 ||
					k.ParallelizationFactor != 1 || k.StartingPosition != "LATEST" || k.StreamLogicalID != "S" {
					t.Errorf("defaults not applied: %+v", k)
				}
				if st.StreamShards != 1 || st.Functions[0].Timeout != 3 {
					t.Errorf("shards=%d timeout=%d, want 1 and 3", st.StreamShards, st.Functions[0].Timeout)
				}
			},
		},
		{
			name:    "function without a handler",
			yaml:    "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n",
			wantErr: "no Handler",
		},
		{
			name: "a batch size that is not a number",
			yaml: `
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Handler: f
      Events:
        K: {Type: Kinesis, Properties: {BatchSize: lots}}
`,
			wantErr: `BatchSize: "lots" is not a whole number`,
		},
		{name: "no resources", yaml: "Parameters: {}\n", wantErr: "no Resources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Read([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, st)
		})
	}
}
