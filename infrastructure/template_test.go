package infrastructure

import (
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
	if got, want := strings.Join(names, ","), "analytics,consumer,ingest"; got != want {
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
