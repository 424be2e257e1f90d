package infrastructure

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
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
	if got, want := strings.Join(names, ","), "analytics,consumer,enrich,export,ingest,persist"; got != want {
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

// resources returns the template's resources by logical id, and their types.
func resources(t *testing.T) (map[string]*yaml.Node, map[string]string) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(Template, &root); err != nil {
		t.Fatal(err)
	}
	res := field(root.Content[0], "Resources")
	nodes, types := map[string]*yaml.Node{}, map[string]string{}
	for i := 0; i+1 < len(res.Content); i += 2 {
		nodes[res.Content[i].Value] = res.Content[i+1]
		types[res.Content[i].Value] = scalar(field(res.Content[i+1], "Type"))
	}
	return nodes, types
}

// path follows keys from n through nested mappings.
func path(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = field(n, k)
	}
	return n
}

// hiveType is the Hive type of the Go type t as the Hive JSON SerDe reads its JSON encoding: the type a Glue
// column must have for the exporter's field of type t.
func hiveType(t reflect.Type) (string, error) {
	if t == reflect.TypeFor[export.Timestamp]() {
		return "timestamp", nil
	}
	switch t.Kind() {
	case reflect.String:
		return "string", nil
	case reflect.Int64:
		return "bigint", nil
	case reflect.Float64:
		return "double", nil
	case reflect.Slice:
		e, err := hiveType(t.Elem())
		return "array<" + e + ">", err
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return "", fmt.Errorf("map key %v: JSON object keys are strings", t.Key())
		}
		e, err := hiveType(t.Elem())
		return "map<string," + e + ">", err
	case reflect.Struct:
		var fields []string
		for _, c := range columns(t) {
			fields = append(fields, c[0]+":"+c[1])
		}
		return "struct<" + strings.Join(fields, ",") + ">", nil
	}
	return "", fmt.Errorf("no Hive type for %v", t)
}

// columns returns the name (JSON key) and Hive type of each field of the struct type t.
func columns(t reflect.Type) [][2]string {
	var out [][2]string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		typ, err := hiveType(f.Type)
		if err != nil {
			typ = "unsupported: " + err.Error()
		}
		out = append(out, [2]string{name, typ})
	}
	return out
}

// TestGlueTableMatchesExport checks that the Glue table over the export has exactly the columns of the
// records the exporter writes (derived from export.Record), in order, with the Hive types of their JSON; that
// it reads them with the Hive JSON SerDe; and that its partitions are projected from the exporter's key
// layout.
func TestGlueTableMatchesExport(t *testing.T) {
	nodes, types := resources(t)
	var tables []string
	for id, typ := range types {
		if typ == "AWS::Glue::Table" {
			tables = append(tables, id)
		}
	}
	if len(tables) != 1 {
		t.Fatalf("Glue tables %v, want one", tables)
	}
	in := path(nodes[tables[0]], "Properties", "TableInput")
	sd := field(in, "StorageDescriptor")
	var got [][2]string
	for _, c := range field(sd, "Columns").Content {
		got = append(got, [2]string{scalar(field(c, "Name")), scalar(field(c, "Type"))})
	}
	want := columns(reflect.TypeFor[export.Record]())
	if !slices.Equal(got, want) {
		t.Errorf("table columns:\n%v\nwant the exporter's record:\n%v", got, want)
	}
	var parts []string
	for _, c := range field(in, "PartitionKeys").Content {
		parts = append(parts, scalar(field(c, "Name"))+" "+scalar(field(c, "Type")))
	}
	if strings.Join(parts, ",") != "dt string,hour string" {
		t.Errorf("partition keys %v, want dt and hour, strings", parts)
	}
	params := field(in, "Parameters")
	checks := []struct{ key, want string }{
		{"projection.enabled", "true"},
		{"projection.dt.format", "yyyy-MM-dd"},
		{"projection.hour.range", "0,23"},
		{"projection.hour.digits", "2"},
		{"storage.location.template", "s3://${ExportBucket}/${ExportPrefix}/dt=${!dt}/hour=${!hour}/"},
	}
	for _, c := range checks {
		if got := scalar(field(params, c.key)); got != c.want {
			t.Errorf("table parameter %s = %q, want %q", c.key, got, c.want)
		}
	}
	if got := scalar(path(sd, "SerdeInfo", "SerializationLibrary")); got != "org.apache.hive.hcatalog.data.JsonSerDe" {
		t.Errorf("SerDe %q, want the Hive JSON SerDe", got)
	}
	if got := scalar(field(sd, "Location")); got != "s3://${ExportBucket}/${ExportPrefix}/" {
		t.Errorf("location %q, want the export prefix", got)
	}
	// The projection's location of a partition holds the exporter's objects of that date and hour.
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	prefix := st.Parameters["ExportPrefix"]
	e, err := export.New(noStore{}, export.NewFolder(t.TempDir()), export.WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	loc := strings.NewReplacer("s3://${ExportBucket}/", "", "${ExportPrefix}", prefix, "${!dt}", "2026-11-26",
		"${!hour}", "09").Replace(scalar(field(params, "storage.location.template")))
	if key := e.ObjectKey(time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC)); !strings.HasPrefix(key, loc) ||
		strings.Contains(key[len(loc):], "/") {
		t.Errorf("the exporter writes %s, not in the partition's location %s", key, loc)
	}
}

// noStore is a store the exporter is built with but never reads.
type noStore struct{ analytics.Store }

// TestExportFunction checks the export function's settings and that its role is least privilege: it reads
// the aggregates table and writes only below the export prefix.
func TestExportFunction(t *testing.T) {
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := st.Function("export")
	if !ok {
		t.Fatal("no function with Handler: export")
	}
	nodes, _ := resources(t)
	props := field(nodes[f.LogicalID], "Properties")
	if got := scalar(path(props, "Events", "Schedule", "Properties", "Schedule")); got != "rate(5 minutes)" {
		t.Errorf("schedule %q, want rate(5 minutes)", got)
	}
	if got := scalar(field(props, "ReservedConcurrentExecutions")); got != "1" {
		t.Errorf("reserved concurrency %q, want 1: runs must not overlap", got)
	}
	env := path(props, "Environment", "Variables")
	analyticsFn, _ := st.Function("analytics")
	analyticsEnv := path(nodes[analyticsFn.LogicalID], "Properties", "Environment", "Variables")
	for _, v := range []string{"AGGREGATES_TABLE", "SDP_EXPORT_BUCKET", "SDP_EXPORT_PREFIX", "SDP_WINDOW_SIZE", "SDP_ALLOWED_LATENESS"} {
		if field(env, v) == nil {
			t.Errorf("the export function does not set %s", v)
		}
	}
	for _, v := range []string{"AGGREGATES_TABLE", "SDP_WINDOW_SIZE", "SDP_ALLOWED_LATENESS"} {
		if a, e := scalar(field(analyticsEnv, v)), scalar(field(env, v)); a != e {
			t.Errorf("%s is %q for analytics and %q for export; they must be the same", v, a, e)
		}
	}
	allowed := map[string]string{
		"dynamodb:Query": "AggregatesTable", "dynamodb:Scan": "AggregatesTable",
		"s3:PutObject": "${ExportBucket.Arn}/${ExportPrefix}/*", "s3:GetObject": "${ExportBucket.Arn}/${ExportPrefix}/*",
		"s3:ListBucket": "ExportBucket",
	}
	policies := field(props, "Policies")
	if policies == nil || len(policies.Content) != 1 || field(policies.Content[0], "Statement") == nil {
		t.Fatalf("export policies: want one inline statement list, no managed policy templates")
	}
	for _, stmt := range field(policies.Content[0], "Statement").Content {
		var actions, targets []string
		for _, a := range field(stmt, "Action").Content {
			actions = append(actions, a.Value)
		}
		res := field(stmt, "Resource")
		if res.Kind == yaml.SequenceNode {
			for _, r := range res.Content {
				targets = append(targets, r.Value)
			}
		} else {
			targets = append(targets, res.Value)
		}
		for _, a := range actions {
			want, ok := allowed[a]
			if !ok {
				t.Errorf("the export function may %s; it needs only %v", a, allowed)
				continue
			}
			for _, r := range targets {
				if r == "*" || !strings.Contains(r, want) {
					t.Errorf("%s on %q, want it on %s only", a, r, want)
				}
			}
		}
	}
}

// TestBuckets checks that every bucket is encrypted, closed to the public, and expires what it holds.
func TestBuckets(t *testing.T) {
	nodes, types := resources(t)
	n := 0
	for id, typ := range types {
		if typ != "AWS::S3::Bucket" {
			continue
		}
		n++
		p := field(nodes[id], "Properties")
		enc := path(p, "BucketEncryption", "ServerSideEncryptionConfiguration")
		if enc == nil || len(enc.Content) == 0 || scalar(path(enc.Content[0], "ServerSideEncryptionByDefault", "SSEAlgorithm")) == "" {
			t.Errorf("%s: no default encryption", id)
		}
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if scalar(path(p, "PublicAccessBlockConfiguration", k)) != "true" {
				t.Errorf("%s: %s is not true", id, k)
			}
		}
		rules := path(p, "LifecycleConfiguration", "Rules")
		if rules == nil || len(rules.Content) == 0 || field(rules.Content[0], "ExpirationInDays") == nil {
			t.Errorf("%s: no lifecycle rule that expires objects", id)
		}
	}
	if n < 2 {
		t.Errorf("%d buckets, want the export's and Athena's results", n)
	}
}
