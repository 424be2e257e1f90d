package infrastructure

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// azureTemplate is the part of an ARM template the tests read.
type azureTemplate struct {
	Schema     string                     `json:"$schema"`
	Content    string                     `json:"contentVersion"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Resources  []struct {
		Type       string `json:"type"`
		APIVersion string `json:"apiVersion"`
		Name       string `json:"name"`
	} `json:"resources"`
	Outputs map[string]json.RawMessage `json:"outputs"`
}

func readAzureTemplate(t *testing.T) azureTemplate {
	t.Helper()
	b, err := os.ReadFile("azure/azuredeploy.json")
	if err != nil {
		t.Fatal(err)
	}
	var tpl azureTemplate
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatalf("azuredeploy.json: %v", err)
	}
	return tpl
}

func readAzureBicep(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("azure/main.bicep")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	azureBicepResource = regexp.MustCompile(`(?m)^resource\s+([A-Za-z_][A-Za-z0-9_]*)\s+'([^'@]+)@([^']+)'`)
	azureBicepParam    = regexp.MustCompile(`(?m)^param\s+([A-Za-z_][A-Za-z0-9_]*)\s`)
	azureBicepOutput   = regexp.MustCompile(`(?m)^output\s+([A-Za-z_][A-Za-z0-9_]*)\s`)
)

// azureCoreTypes are the resource types the blueprint's templates must create.
var azureCoreTypes = []string{
	"Microsoft.EventHub/namespaces",
	"Microsoft.EventHub/namespaces/eventhubs",
	"Microsoft.EventHub/namespaces/eventhubs/consumergroups",
	"Microsoft.Web/sites",
	"Microsoft.Web/serverfarms",
	"Microsoft.DocumentDB/databaseAccounts",
	"Microsoft.DocumentDB/databaseAccounts/sqlDatabases",
	"Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
	"Microsoft.Storage/storageAccounts",
	"Microsoft.Insights/components",
}

func TestAzureDeployJSON(t *testing.T) {
	tpl := readAzureTemplate(t)
	if !strings.HasPrefix(tpl.Schema, "https://schema.management.azure.com/schemas/") ||
		!strings.HasSuffix(tpl.Schema, "/deploymentTemplate.json#") {
		t.Errorf("$schema = %q, want a resource-group deployment template schema", tpl.Schema)
	}
	if tpl.Content == "" {
		t.Error("contentVersion is missing")
	}
	if len(tpl.Resources) == 0 {
		t.Fatal("no resources")
	}
	types := map[string]int{}
	for i, r := range tpl.Resources {
		if r.Type == "" || r.APIVersion == "" || r.Name == "" {
			t.Errorf("resource %d has no type, apiVersion or name: %+v", i, r)
		}
		types[r.Type]++
	}
	for _, want := range azureCoreTypes {
		t.Run(want, func(t *testing.T) {
			if types[want] == 0 {
				t.Errorf("azuredeploy.json has no %s resource", want)
			}
		})
	}
}

func TestAzureBicep(t *testing.T) {
	src := readAzureBicep(t)
	types := map[string]bool{}
	for _, m := range azureBicepResource.FindAllStringSubmatch(src, -1) {
		types[m[2]] = true
	}
	for _, want := range azureCoreTypes {
		t.Run(want, func(t *testing.T) {
			if !types[want] {
				t.Errorf("main.bicep declares no resource of type %s", want)
			}
		})
	}
}

// TestAzureTemplatesAgree checks that azuredeploy.json is main.bicep in ARM JSON: the same resource types at
// the same API versions (as many of each), the same parameters and the same outputs.
func TestAzureTemplatesAgree(t *testing.T) {
	src := readAzureBicep(t)
	tpl := readAzureTemplate(t)

	var bicepTypes, armTypes []string
	for _, m := range azureBicepResource.FindAllStringSubmatch(src, -1) {
		bicepTypes = append(bicepTypes, m[2]+"@"+m[3])
	}
	for _, r := range tpl.Resources {
		armTypes = append(armTypes, r.Type+"@"+r.APIVersion)
	}
	names := func(re *regexp.Regexp) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			out = append(out, m[1])
		}
		return out
	}
	keys := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	tests := []struct {
		name        string
		bicep, json []string
	}{
		{"resources", bicepTypes, armTypes},
		{"parameters", names(azureBicepParam), keys(tpl.Parameters)},
		{"outputs", names(azureBicepOutput), keys(tpl.Outputs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sort.Strings(tt.bicep)
			sort.Strings(tt.json)
			if len(tt.bicep) == 0 {
				t.Fatalf("main.bicep has no %s", tt.name)
			}
			if !reflect.DeepEqual(tt.bicep, tt.json) {
				t.Errorf("%s differ:\nmain.bicep        %v\nazuredeploy.json  %v", tt.name, tt.bicep, tt.json)
			}
		})
	}
}

// azureMarkdownRows returns the rows of the Markdown tables in src as their cells, header and separator rows left
// out.
func azureMarkdownRows(src string) [][]string {
	var rows [][]string
	lines := strings.Split(src, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		next := ""
		if i+1 < len(lines) {
			next = strings.TrimSpace(lines[i+1])
		}
		if strings.HasPrefix(next, "|") && strings.Trim(next, "|-: ") == "" {
			continue // a header: the next line is the separator
		}
		if strings.Trim(line, "|-: ") == "" {
			continue // the separator
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	return rows
}

// azureMissingMappings returns the components that have no table row whose first cell starts with their name
// (case-insensitive) and whose other cells are all filled.
func azureMissingMappings(src string, components []string) []string {
	var missing []string
	rows := azureMarkdownRows(src)
	for _, c := range components {
		found := false
		for _, r := range rows {
			if len(r) < 3 || !strings.HasPrefix(strings.ToLower(r[0]), strings.ToLower(c)) {
				continue
			}
			filled := true
			for _, cell := range r[1:] {
				filled = filled && cell != ""
			}
			found = found || filled
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing
}

// azurePipelineComponents are the AWS components of the pipeline; guarantees are the properties of its delivery.
var (
	azurePipelineComponents = []string{
		"HTTP API", "Ingest function", "Raw-event bucket", "Kinesis stream", "Consumer function",
		"Event source mapping", "DLQ", "Step Functions workflow", "Enrich", "Persist", "Curated table",
		"Analytics", "Aggregates table", "Export function", "Glue/Athena", "CloudWatch alarms", "X-Ray",
	}
	azurePipelineGuarantees = []string{
		"At-least-once", "Partial batch failures", "Bisection", "Maximum retries", "Ordering",
		"Idempotent writes", "On-failure record", "Encryption", "Least privilege",
	}
)

func TestAzureMissingMappings(t *testing.T) {
	const table = "| AWS | Azure | Differs |\n|---|---|---|\n| HTTP API | HTTP trigger | keys |\n| DLQ | queue | |\n"
	tests := []struct {
		name       string
		src        string
		components []string
		want       []string
	}{
		{"present", table, []string{"HTTP API"}, nil},
		{"case-insensitive prefix", table, []string{"http"}, nil},
		{"a row with an empty cell does not count", table, []string{"DLQ"}, []string{"DLQ"}},
		{"absent", table, []string{"X-Ray", "HTTP API"}, []string{"X-Ray"}},
		{"the header is not a row", table, []string{"AWS"}, []string{"AWS"}},
		{"no table", "HTTP API | HTTP trigger | keys", []string{"HTTP API"}, []string{"HTTP API"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := azureMissingMappings(tt.src, tt.components); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("missing %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAzureReadmeMapsThePipeline(t *testing.T) {
	b, err := os.ReadFile("azure/README.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		items []string
	}{
		{"components", azurePipelineComponents},
		{"guarantees", azurePipelineGuarantees},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if missing := azureMissingMappings(string(b), tt.items); len(missing) > 0 {
				t.Errorf("azure/README.md has no mapping row for %q", missing)
			}
		})
	}
}
