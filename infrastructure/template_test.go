package infrastructure

import (
	"encoding/json"
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

// root returns the template's document node.
func root(t *testing.T) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(Template, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// values returns the scalar values of a node that is a scalar or a sequence of scalars.
func values(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.SequenceNode {
		var out []string
		for _, c := range n.Content {
			out = append(out, c.Value)
		}
		return out
	}
	return []string{n.Value}
}

// TestFunctionsBuild checks every function against the Makefile that `sam build` runs: its handler is one of
// LAMBDA_FUNCTIONS, it builds with the Makefile (TestMakeLambdaBuildsEveryHandler runs its build-<LogicalId>
// target), and it runs the arm64 provided.al2023 bootstrap with active tracing (set on the function or in
// Globals).
func TestFunctionsBuild(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^LAMBDA_FUNCTIONS\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no LAMBDA_FUNCTIONS")
	}
	built := strings.Fields(string(m[1]))
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Functions) != len(built) {
		t.Errorf("%d functions in the template, %d in LAMBDA_FUNCTIONS %v", len(st.Functions), len(built), built)
	}
	nodes, _ := resources(t)
	globals := path(root(t), "Globals", "Function")
	setting := func(props *yaml.Node, key string) string {
		return strings.Join(values(first(field(props, key), field(globals, key))), ",")
	}
	for _, f := range st.Functions {
		t.Run(f.LogicalID, func(t *testing.T) {
			if !slices.Contains(built, f.Name) {
				t.Errorf("Handler %q is not one of LAMBDA_FUNCTIONS %v", f.Name, built)
			}
			res := nodes[f.LogicalID]
			if got := scalar(path(res, "Metadata", "BuildMethod")); got != "makefile" {
				t.Errorf("BuildMethod %q, want makefile", got)
			}
			props := field(res, "Properties")
			for _, c := range []struct{ key, want string }{
				{"Runtime", "provided.al2023"}, {"Architectures", "arm64"}, {"Tracing", "Active"},
			} {
				if got := setting(props, c.key); got != c.want {
					t.Errorf("%s = %q, want %q", c.key, got, c.want)
				}
			}
		})
	}
}

// TestConsumerEventSourceSettings checks that the consumer's Kinesis event source sets every setting the
// pipeline depends on explicitly, rather than leaving it to AWS's defaults.
func TestConsumerEventSourceSettings(t *testing.T) {
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := st.Function("consumer")
	if !ok {
		t.Fatal("no consumer function")
	}
	nodes, _ := resources(t)
	p := path(nodes[c.LogicalID], "Properties", "Events", "Stream", "Properties")
	tests := []struct {
		key  string
		want string // "" means present, any value
	}{
		{"BatchSize", ""},
		{"MaximumBatchingWindowInSeconds", ""},
		{"ParallelizationFactor", ""},
		{"BisectBatchOnFunctionError", "true"},
		{"MaximumRetryAttempts", ""},
		{"MaximumRecordAgeInSeconds", ""},
		{"FunctionResponseTypes", "ReportBatchItemFailures"},
	}
	for _, tt := range tests {
		n := field(p, tt.key)
		switch {
		case n == nil:
			t.Errorf("%s is not set", tt.key)
		case tt.want != "" && strings.Join(values(n), ",") != tt.want:
			t.Errorf("%s = %v, want %s", tt.key, values(n), tt.want)
		}
	}
	onFailure := path(p, "DestinationConfig", "OnFailure")
	if scalar(field(onFailure, "Type")) != "SQS" || c.Kinesis[0].OnFailureLogicalID != "DeadLetterQueue" {
		t.Errorf("on-failure destination %s %q, want SQS DeadLetterQueue", scalar(field(onFailure, "Type")), c.Kinesis[0].OnFailureLogicalID)
	}
	if typ := scalar(field(nodes["DeadLetterQueue"], "Type")); typ != "AWS::SQS::Queue" {
		t.Errorf("DeadLetterQueue is a %q, want an SQS queue", typ)
	}
}

// TestStateMachineDefinition checks that the state machine is built from the workflow package's definition
// file and traces its executions.
func TestStateMachineDefinition(t *testing.T) {
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range st.StateMachines {
		if got, want := filepath.Clean(sm.DefinitionURI), filepath.Join("..", "workflow", "definition.asl.json"); got != want {
			t.Errorf("%s DefinitionUri %q, want %q", sm.LogicalID, got, want)
		}
		if _, err := os.Stat(sm.DefinitionURI); err != nil {
			t.Errorf("%s: %v", sm.LogicalID, err)
		}
		nodes, _ := resources(t)
		if got := scalar(path(nodes[sm.LogicalID], "Properties", "Tracing", "Enabled")); got != "true" {
			t.Errorf("%s tracing %q, want true", sm.LogicalID, got)
		}
	}
}

// wildcardAllowed are the actions that may be granted on Resource "*": those with no resource-level
// permissions in IAM.
var wildcardAllowed = map[string]bool{
	"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true,
	"xray:GetSamplingTargets": true, "cloudwatch:PutMetricData": true,
	// CloudWatch Logs delivery for Step Functions' execution logging.
	"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true,
	"logs:DeleteLogDelivery": true, "logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true,
	"logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
}

// wildcardGrants walks every Policies list and PolicyDocument below n and returns, for each Allow statement
// whose Resource includes "*", the actions it grants that are not in wildcardAllowed. Entries of a Policies
// list that are SAM policy templates or managed policy names are not statements and are skipped, and so are
// KMS key policies, where "*" names the key.
func wildcardGrants(n *yaml.Node, where string) []string {
	var out []string
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if k == "KeyPolicy" {
				// A key policy's "*" is the key itself (KMS requires it): no grant on other resources.
				continue
			}
			if k == "Statement" {
				for j, s := range v.Content {
					out = append(out, badStatement(s, fmt.Sprintf("%s.Statement[%d]", where, j))...)
				}
				continue
			}
			out = append(out, wildcardGrants(v, where+"."+k)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			out = append(out, wildcardGrants(c, fmt.Sprintf("%s[%d]", where, i))...)
		}
	}
	return out
}

// badStatement returns the actions of one statement granted on "*" that may not be.
func badStatement(s *yaml.Node, where string) []string {
	if scalar(field(s, "Effect")) != "Allow" || !slices.Contains(values(field(s, "Resource")), "*") {
		return nil
	}
	var out []string
	for _, a := range values(field(s, "Action")) {
		if !wildcardAllowed[a] {
			out = append(out, where+": "+a)
		}
	}
	return out
}

// TestLeastPrivilege checks that no IAM statement of the template grants an action on every resource except
// the actions that cannot be scoped, and that the check finds such statements wherever they are.
func TestLeastPrivilege(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"the template", string(Template), nil},
		{"function statement on *", `
Resources:
  F:
    Properties:
      Policies:
        - DynamoDBCrudPolicy: {TableName: t}
        - Statement:
            - {Effect: Allow, Action: [s3:GetObject, xray:PutTraceSegments], Resource: "*"}
`, []string{".Resources.F.Properties.Policies[1].Statement[0]: s3:GetObject"}},
		{"role policy document, * among resources", `
Resources:
  R:
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: sqs:SendMessage
                Resource: [arn:aws:sqs:eu-west-1:1:q, "*"]
`, []string{".Resources.R.Properties.Policies[0].PolicyDocument.Statement[0]: sqs:SendMessage"}},
		{"deny and scoped statements", `
Resources:
  B:
    Properties:
      PolicyDocument:
        Statement:
          - {Effect: Deny, Action: "s3:*", Resource: "*"}
          - {Effect: Allow, Action: s3:GetObject, Resource: arn:aws:s3:::b/*}
          - {Effect: Allow, Action: cloudwatch:PutMetricData, Resource: "*"}
`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			if got := wildcardGrants(doc.Content[0], ""); !slices.Equal(got, tt.want) {
				t.Errorf("grants on * = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEncryptedAtRest checks that every queue, stream, table, bucket and topic is encrypted, and that the
// tables are on-demand with point-in-time recovery.
func TestEncryptedAtRest(t *testing.T) {
	nodes, types := resources(t)
	checks := map[string]func(p *yaml.Node) string{
		"AWS::SQS::Queue": func(p *yaml.Node) string {
			if scalar(field(p, "SqsManagedSseEnabled")) == "true" || field(p, "KmsMasterKeyId") != nil {
				return ""
			}
			return "neither SqsManagedSseEnabled nor KmsMasterKeyId"
		},
		"AWS::Kinesis::Stream": func(p *yaml.Node) string {
			if scalar(path(p, "StreamEncryption", "EncryptionType")) == "KMS" && path(p, "StreamEncryption", "KeyId") != nil {
				return ""
			}
			return "no KMS StreamEncryption"
		},
		"AWS::DynamoDB::Table": func(p *yaml.Node) string {
			switch {
			case scalar(path(p, "SSESpecification", "SSEEnabled")) != "true":
				return "SSE not enabled"
			case scalar(path(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")) != "true":
				return "no point-in-time recovery"
			case scalar(field(p, "BillingMode")) != "PAY_PER_REQUEST":
				return "not on-demand"
			}
			return ""
		},
		"AWS::S3::Bucket": func(p *yaml.Node) string {
			enc := path(p, "BucketEncryption", "ServerSideEncryptionConfiguration")
			if enc != nil && len(enc.Content) > 0 {
				switch scalar(path(enc.Content[0], "ServerSideEncryptionByDefault", "SSEAlgorithm")) {
				case "AES256", "aws:kms", "aws:kms:dsse":
					return ""
				}
			}
			return "no default encryption"
		},
		"AWS::SNS::Topic": func(p *yaml.Node) string {
			if field(p, "KmsMasterKeyId") == nil {
				return "no KmsMasterKeyId"
			}
			return ""
		},
	}
	seen := map[string]int{}
	for id, typ := range types {
		check, ok := checks[typ]
		if !ok {
			continue
		}
		seen[typ]++
		if msg := check(field(nodes[id], "Properties")); msg != "" {
			t.Errorf("%s (%s): %s", id, typ, msg)
		}
	}
	for typ := range checks {
		if seen[typ] == 0 {
			t.Errorf("no %s in the template: the check is vacuous", typ)
		}
	}
}

// alarm is one agreed alarm: its metric, statistic and threshold, and the resource its dimension names.
type alarm struct {
	namespace, metric, statistic, threshold, comparison, period, evaluations string
	dimension, target                                                        string
}

// agreedAlarms is the alarm set the SAM template and the Terraform configuration both deploy.
func agreedAlarms() map[string]alarm {
	gt := "GreaterThanThreshold"
	out := map[string]alarm{
		"ConsumerIteratorAgeAlarm":  {"AWS/Lambda", "IteratorAge", "Maximum", "60000", gt, "60", "5", "FunctionName", "ConsumerFunction"},
		"DeadLetterQueueDepthAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "0", gt, "60", "1", "QueueName", "DeadLetterQueue"},
		"WorkflowFailuresAlarm":     {"AWS/States", "ExecutionsFailed", "Sum", "0", gt, "60", "1", "StateMachineArn", "Workflow"},
		"WorkflowTimeoutsAlarm":     {"AWS/States", "ExecutionsTimedOut", "Sum", "0", gt, "60", "1", "StateMachineArn", "Workflow"},
	}
	for _, fn := range []string{"Ingest", "Consumer", "Enrich", "Persist", "Analytics", "Export"} {
		out[fn+"ErrorsAlarm"] = alarm{"AWS/Lambda", "Errors", "Sum", "0", gt, "60", "1", "FunctionName", fn + "Function"}
		out[fn+"ThrottlesAlarm"] = alarm{"AWS/Lambda", "Throttles", "Sum", "0", gt, "60", "1", "FunctionName", fn + "Function"}
	}
	return out
}

// TestAlarms checks that the template's alarms are exactly the agreed set, each notifying the encrypted
// alarm topic.
func TestAlarms(t *testing.T) {
	nodes, types := resources(t)
	r := resolver{}
	got := map[string]alarm{}
	for id, typ := range types {
		if typ != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := field(nodes[id], "Properties")
		a := alarm{
			namespace: scalar(field(p, "Namespace")), metric: scalar(field(p, "MetricName")),
			statistic: scalar(field(p, "Statistic")), threshold: scalar(field(p, "Threshold")),
			comparison: scalar(field(p, "ComparisonOperator")), period: scalar(field(p, "Period")),
			evaluations: scalar(field(p, "EvaluationPeriods")),
		}
		if dims := field(p, "Dimensions"); dims != nil && len(dims.Content) == 1 {
			a.dimension, a.target = scalar(field(dims.Content[0], "Name")), r.target(field(dims.Content[0], "Value"))
		}
		got[id] = a
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if acts := field(p, key); acts == nil || len(acts.Content) != 1 || r.target(acts.Content[0]) != "AlarmTopic" {
				t.Errorf("%s: %s does not notify AlarmTopic", id, key)
			}
		}
	}
	want := agreedAlarms()
	for id, w := range want {
		if g, ok := got[id]; !ok {
			t.Errorf("missing alarm %s", id)
		} else if g != w {
			t.Errorf("%s =\n%+v\nwant\n%+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("alarm %s is not in the agreed set", id)
		}
	}
	// The topic's key is the stack's own, and CloudWatch may use it: it cannot with alias/aws/sns.
	if key := path(nodes["AlarmTopic"], "Properties", "KmsMasterKeyId"); key == nil || key.Tag != "!GetAtt" || key.Value != "AlarmTopicKey.Arn" {
		t.Errorf("AlarmTopic is not encrypted with !GetAtt AlarmTopicKey.Arn")
	}
	if types["AlarmTopicKey"] != "AWS::KMS::Key" || scalar(path(nodes["AlarmTopicKey"], "Properties", "EnableKeyRotation")) != "true" {
		t.Fatalf("AlarmTopicKey is not a KMS key with rotation")
	}
	cloudwatch := false
	for _, st := range path(nodes["AlarmTopicKey"], "Properties", "KeyPolicy", "Statement").Content {
		if scalar(path(st, "Principal", "Service")) != "cloudwatch.amazonaws.com" {
			continue
		}
		var actions []string
		for _, a := range path(st, "Action").Content {
			actions = append(actions, a.Value)
		}
		cloudwatch = slices.Contains(actions, "kms:Decrypt") && slices.Contains(actions, "kms:GenerateDataKey*")
	}
	if !cloudwatch {
		t.Error("AlarmTopicKey's policy does not let cloudwatch.amazonaws.com use it (kms:Decrypt, kms:GenerateDataKey*)")
	}
}

// TestDashboard checks that the dashboard's body is JSON once substituted, names only resources of the
// template, and graphs each part of the pipeline.
func TestDashboard(t *testing.T) {
	nodes, types := resources(t)
	var body string
	for id, typ := range types {
		if typ == "AWS::CloudWatch::Dashboard" {
			body = scalar(path(nodes[id], "Properties", "DashboardBody"))
		}
	}
	if body == "" {
		t.Fatal("no dashboard")
	}
	subst := regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}`)
	for _, m := range subst.FindAllStringSubmatch(body, -1) {
		if _, ok := nodes[m[1]]; !ok && !strings.HasPrefix(m[1], "AWS::") {
			t.Errorf("the dashboard names %s, which is not a resource of the template", m[0])
		}
	}
	var dash struct {
		Widgets []struct {
			Properties struct {
				Title   string
				Metrics [][]string
			}
		}
	}
	if err := json.Unmarshal([]byte(subst.ReplaceAllString(body, "x")), &dash); err != nil {
		t.Fatalf("dashboard body: %v", err)
	}
	graphed := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) >= 2 {
				graphed[m[0]+" "+m[1]] = true
			}
		}
	}
	for _, m := range []string{
		"AWS/Lambda Invocations", "AWS/Kinesis IncomingRecords", "AWS/Lambda IteratorAge",
		"AWS/SQS ApproximateNumberOfMessagesVisible", "AWS/Lambda Errors", "AWS/Lambda Throttles",
		"AWS/States ExecutionsStarted", "AWS/States ExecutionsFailed", "AWS/States ExecutionsTimedOut",
	} {
		if !graphed[m] {
			t.Errorf("the dashboard does not graph %s", m)
		}
	}
}

// TestReadConditions checks that the reader resolves an !If by its condition, evaluated with the
// parameters' defaults, as the stream's ShardCount uses it.
func TestReadConditions(t *testing.T) {
	stream := func(conditions, shards string) string {
		return `
Parameters:
  Mode: {Type: String, Default: PROVISIONED}
  Shards: {Type: Number, Default: 4}
  Empty: {Type: String, Default: ""}
Conditions:
` + conditions + `
Resources:
  S:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: ` + shards + "\n"
	}
	onDemand := regexp.MustCompile(`(?m)(StreamMode:\n\s+Type: String\n\s+Default: )PROVISIONED`)
	if !onDemand.Match(Template) {
		t.Fatal("template.yaml has no StreamMode parameter defaulting to PROVISIONED")
	}
	tests := []struct {
		name string
		yaml string
		want int
	}{
		{"true condition takes the first branch",
			stream("  P: !Equals [!Ref Mode, PROVISIONED]", "!If [P, !Ref Shards, !Ref AWS::NoValue]"), 4},
		{"false condition with AWS::NoValue leaves the setting out",
			stream("  P: !Equals [!Ref Mode, ON_DEMAND]", "!If [P, !Ref Shards, !Ref AWS::NoValue]"), 1},
		{"false condition takes the second branch",
			stream("  P: !Equals [!Ref Mode, ON_DEMAND]", "!If [P, !Ref Shards, 3]"), 3},
		{"long forms", stream(`  P: {"Fn::Equals": [{"Ref": Mode}, PROVISIONED]}`,
			`{"Fn::If": [P, {"Ref": Shards}, {"Ref": "AWS::NoValue"}]}`), 4},
		{"Not, And, Or and Condition", stream(`  A: !Not [!Equals [!Ref Empty, ""]]
  B: !Or [!Condition A, !Equals [!Ref Mode, PROVISIONED]]
  P: !And [!Condition B, !Not [!Condition A]]`, "!If [P, !Ref Shards, 2]"), 4},
		{"unknown condition falls back to the default", stream("  P: !Equals [a, a]", "!If [Q, 9, 8]"), 1},
		{"conditions naming each other end", stream("  P: !Condition Q\n  Q: !Condition P", "!If [P, 9, 8]"), 1},
		{"the template in on-demand mode", string(onDemand.ReplaceAll(Template, []byte("${1}ON_DEMAND"))), 1},
		{"the template as it is", string(Template), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Read([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if st.StreamShards != tt.want {
				t.Errorf("StreamShards = %d, want %d", st.StreamShards, tt.want)
			}
		})
	}
}

// TestIngestPaths checks the ingest function's two ways in: the HTTP API route (IAM by default, JWT when
// configured, throttled by parameters) and EventBridge "Object Created" events of the raw events bucket, and
// that its role reaches only that bucket's objects and itself.
func TestIngestPaths(t *testing.T) {
	nodes, _ := resources(t)
	doc := root(t)
	params := field(doc, "Parameters")
	r := resolver{}
	tests := []struct {
		name string
		node *yaml.Node
		want string
	}{
		{"route key", path(nodes["IngestRoute"], "Properties", "RouteKey"), "POST /v1/events"},
		{"route integration", path(nodes["IngestRoute"], "Properties", "Target"), "integrations/${IngestIntegration}"},
		{"integration target", path(nodes["IngestIntegration"], "Properties", "IntegrationUri"), "IngestFunction.Arn"},
		{"payload format", path(nodes["IngestIntegration"], "Properties", "PayloadFormatVersion"), "2.0"},
		{"authorizer condition", field(nodes["JwtAuthorizer"], "Condition"), "JwtAuth"},
		{"authorizer type", path(nodes["JwtAuthorizer"], "Properties", "AuthorizerType"), "JWT"},
		{"authorizer issuer", path(nodes["JwtAuthorizer"], "Properties", "JwtConfiguration", "Issuer"), "JwtIssuer"},
		{"IAM by default: no issuer", path(params, "JwtIssuer", "Default"), ""},
		{"burst limit", path(nodes["HttpApiStage"], "Properties", "DefaultRouteSettings", "ThrottlingBurstLimit"), "ApiThrottlingBurstLimit"},
		{"rate limit", path(nodes["HttpApiStage"], "Properties", "DefaultRouteSettings", "ThrottlingRateLimit"), "ApiThrottlingRateLimit"},
		{"API may invoke ingest", path(nodes["IngestApiPermission"], "Properties", "FunctionName"), "IngestFunction.Arn"},
		{"bucket sends to EventBridge", path(nodes["RawEventsBucket"], "Properties", "NotificationConfiguration", "EventBridgeConfiguration", "EventBridgeEnabled"), "true"},
		{"rule event type", path(nodes["IngestFunction"], "Properties", "Events", "RawObjectCreated", "Type"), "EventBridgeRule"},
		{"rule detail type", path(nodes["IngestFunction"], "Properties", "Events", "RawObjectCreated", "Properties", "Pattern", "detail-type"), "Object Created"},
		{"rule source", path(nodes["IngestFunction"], "Properties", "Events", "RawObjectCreated", "Properties", "Pattern", "source"), "aws.s3"},
		{"rule bucket", path(nodes["IngestFunction"], "Properties", "Events", "RawObjectCreated", "Properties", "Pattern", "detail", "bucket", "name"), "RawEventsBucket"},
	}
	for _, tt := range tests {
		if tt.node == nil {
			t.Errorf("%s: not set", tt.name)
			continue
		}
		got := strings.Join(values(tt.node), ",")
		if tt.node.Kind == yaml.SequenceNode && len(tt.node.Content) == 1 {
			got = tt.node.Content[0].Value
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
		}
	}
	// The route's authorization follows the JwtAuth condition: JWT when set, IAM otherwise.
	auth := path(nodes["IngestRoute"], "Properties", "AuthorizationType")
	if fn, args := intrinsic(auth); fn != "If" || strings.Join(values(args), ",") != "JwtAuth,JWT,AWS_IAM" {
		t.Errorf("route AuthorizationType %v %v, want !If [JwtAuth, JWT, AWS_IAM]", fn, values(args))
	}
	if fn, args := intrinsic(path(nodes["IngestRoute"], "Properties", "AuthorizerId")); fn != "If" ||
		len(args.Content) != 3 || r.target(args.Content[1]) != "JwtAuthorizer" {
		t.Errorf("route AuthorizerId is not !If [JwtAuth, !Ref JwtAuthorizer, ...]")
	}
	// The role: the stream, the bucket's objects (writes only under errors/ and progress/), itself by name.
	name := scalar(path(nodes["IngestFunction"], "Properties", "FunctionName"))
	want := map[string][]string{
		"kinesis:PutRecords":    {"EventStream.Arn"},
		"kinesis:PutRecord":     {"EventStream.Arn"},
		"s3:GetObject":          {"${RawEventsBucket.Arn}/*"},
		"s3:PutObject":          {"${RawEventsBucket.Arn}/errors/*", "${RawEventsBucket.Arn}/progress/*"},
		"lambda:InvokeFunction": {"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + name},
	}
	got := map[string][]string{}
	for _, pol := range path(nodes["IngestFunction"], "Properties", "Policies").Content {
		for _, s := range field(pol, "Statement").Content {
			for _, a := range values(field(s, "Action")) {
				got[a] = append(got[a], values(field(s, "Resource"))...)
			}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ingest role grants\n%v\nwant\n%v", got, want)
	}
	if name != "${AWS::StackName}-ingest" {
		t.Errorf("ingest FunctionName %q, want ${AWS::StackName}-ingest", name)
	}
}
