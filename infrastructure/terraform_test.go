package infrastructure_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"go.yaml.in/yaml/v3"

	"github.com/serverless-data-platform/sdp/infrastructure"
)

// terraformDir holds the Terraform modules, relative to this package.
const terraformDir = "terraform"

// tfModule is one Terraform module directory: the top-level blocks of all its .tf files.
type tfModule struct {
	dir    string
	blocks []*hclsyntax.Block
}

// loadModule parses every .tf file of dir (not of its subdirectories).
func loadModule(t *testing.T, dir string) *tfModule {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("%s: no .tf files", dir)
	}
	m := &tfModule{dir: dir}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", path, diags)
		}
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
	}
	return m
}

// find returns the module's top-level blocks of a type whose labels start with labels.
func (m *tfModule) find(typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

// one returns the single top-level block of a type and labels, failing the test otherwise.
func (m *tfModule) one(t *testing.T, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	bs := m.find(typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("%s: %d %s %v blocks, want 1", m.dir, len(bs), typ, labels)
	}
	return bs[0]
}

// local returns the expression of a local value.
func (m *tfModule) local(t *testing.T, name string) hclsyntax.Expression {
	t.Helper()
	for _, b := range m.find("locals") {
		if a, ok := b.Body.Attributes[name]; ok {
			return a.Expr
		}
	}
	t.Fatalf("%s: no local %q", m.dir, name)
	return nil
}

// value evaluates an expression without variables; a reference var.X is the default of variable X.
func (m *tfModule) value(expr hclsyntax.Expression) (cty.Value, error) {
	if name, ok := varRef(expr); ok {
		bs := m.find("variable", name)
		if len(bs) != 1 {
			return cty.NilVal, fmt.Errorf("%s: no variable %q", m.dir, name)
		}
		def, ok := bs[0].Body.Attributes["default"]
		if !ok {
			return cty.NilVal, fmt.Errorf("%s: variable %q has no default", m.dir, name)
		}
		expr = def.Expr
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s: %v", m.dir, diags)
	}
	return v, nil
}

// varRef reports the variable a plain var.X expression refers to.
func varRef(expr hclsyntax.Expression) (string, bool) {
	tr, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(tr.Traversal) != 2 || tr.Traversal.RootName() != "var" {
		return "", false
	}
	a, ok := tr.Traversal[1].(hcl.TraverseAttr)
	return a.Name, ok
}

// reference renders a traversal expression (a.b["c"].d), "" for other expressions.
func reference(expr hclsyntax.Expression) string {
	tr, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, step := range tr.Traversal {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			b.WriteString(s.Name)
		case hcl.TraverseAttr:
			b.WriteString("." + s.Name)
		case hcl.TraverseIndex:
			if s.Key.Type() == cty.String {
				b.WriteString(`["` + s.Key.AsString() + `"]`)
			} else {
				b.WriteString("[" + s.Key.GoString() + "]")
			}
		}
	}
	return b.String()
}

// goValue converts a known cty value to string, float64, bool, []any or map[string]any.
func goValue(v cty.Value) any {
	if v.IsNull() {
		return nil
	}
	switch {
	case v.Type() == cty.String:
		return v.AsString()
	case v.Type() == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f
	case v.Type() == cty.Bool:
		return v.True()
	case v.Type().IsTupleType() || v.Type().IsListType() || v.Type().IsSetType():
		out := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, goValue(e))
		}
		return out
	case v.Type().IsObjectType() || v.Type().IsMapType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = goValue(e)
		}
		return out
	}
	return v.GoString()
}

// objectItems returns the items of an object constructor by their (literal) keys.
func objectItems(t *testing.T, expr hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		t.Fatalf("%T is not an object constructor", expr)
	}
	out := map[string]hclsyntax.Expression{}
	for _, it := range obj.Items {
		k, diags := it.KeyExpr.Value(nil)
		if diags.HasErrors() || k.Type() != cty.String {
			t.Fatalf("object key is not a literal: %v", diags)
		}
		out[k.AsString()] = it.ValueExpr
	}
	return out
}

// checkFile reports why a .tf source is not acceptable: it does not parse, or it is not formatted as
// hclwrite.Format (terraform fmt) leaves it.
func checkFile(name string, src []byte) error {
	if _, diags := hclparse.NewParser().ParseHCL(src, name); diags.HasErrors() {
		return fmt.Errorf("does not parse: %v", diags)
	}
	if !bytes.Equal(hclwrite.Format(src), src) {
		return fmt.Errorf("not canonically formatted (terraform fmt)")
	}
	return nil
}

func TestTerraformCheckFile(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		wantErr   string
	}{
		{"formatted", "variable \"a\" {\n  type    = string\n  default = \"x\"\n}\n", ""},
		{"empty", "", ""},
		{"misaligned", "variable \"a\" {\n  type = string\n  default = \"x\"\n}\n", "not canonically formatted"},
		{"indent", "locals {\n    a = 1\n}\n", "not canonically formatted"},
		{"unclosed", "locals {\n  a = 1\n", "does not parse"},
		{"bad attribute", "locals {\n  a = = 1\n}\n", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkFile(tc.name+".tf", []byte(tc.src))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestTerraformFiles checks that every .tf file parses and is formatted.
func TestTerraformFiles(t *testing.T) {
	var files []string
	err := filepath.WalkDir(terraformDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("found %d .tf files under %s, want the modules' and the example's", len(files), terraformDir)
	}
	for _, path := range files {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkFile(path, src); err != nil {
				t.Error(err)
			}
		})
	}
}

// modules are the module directories, and the example root, under terraformDir.
var modules = []string{
	"modules/stream", "modules/dlq", "modules/table", "modules/functions", "modules/workflow", "modules/api",
	"modules/alarms", "modules/analytics_export", "modules/bucket", "modules/pipeline", "examples/multi-account",
}

// TestTerraformModuleLayout checks each module's files and that its variables and outputs are described.
func TestTerraformModuleLayout(t *testing.T) {
	for _, dir := range modules {
		t.Run(dir, func(t *testing.T) {
			dir := filepath.Join(terraformDir, dir)
			for _, f := range []string{"main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"} {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("%s: missing or empty (%v)", f, err)
				}
			}
			m := loadModule(t, dir)
			for _, typ := range []string{"variable", "output"} {
				for _, b := range m.find(typ) {
					d, ok := b.Body.Attributes["description"]
					if !ok {
						t.Errorf("%s %q has no description", typ, b.Labels[0])
						continue
					}
					if v, err := m.value(d.Expr); err != nil || v.Type() != cty.String || strings.TrimSpace(v.AsString()) == "" {
						t.Errorf("%s %q: description is not a non-empty string (%v)", typ, b.Labels[0], err)
					}
				}
			}
			// Module calls point at existing modules.
			for _, b := range m.find("module") {
				src, err := m.value(b.Body.Attributes["source"].Expr)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(dir, src.AsString(), "main.tf")); err != nil {
					t.Errorf("module %q: source %s: %v", b.Labels[0], src.AsString(), err)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(terraformDir, "README.md")); err != nil {
		t.Error(err)
	}
}

// TestTerraformMultiAccountProviders checks that the example deploys to two accounts, each through an aws
// provider alias assuming a role given by a variable, and that each deployment uses its own alias.
func TestTerraformMultiAccountProviders(t *testing.T) {
	m := loadModule(t, filepath.Join(terraformDir, "examples/multi-account"))
	providers := m.find("provider", "aws")
	if len(providers) != 2 {
		t.Fatalf("%d aws providers, want 2", len(providers))
	}
	aliases := map[string]bool{}
	for _, p := range providers {
		alias, err := m.value(p.Body.Attributes["alias"].Expr)
		if err != nil {
			t.Fatal(err)
		}
		name := alias.AsString()
		aliases[name] = true
		var role hclsyntax.Expression
		for _, b := range p.Body.Blocks {
			if b.Type == "assume_role" {
				if a, ok := b.Body.Attributes["role_arn"]; ok {
					role = a.Expr
				}
			}
		}
		if v, ok := varRef(role); !ok || v != name+"_role_arn" {
			t.Errorf("provider %s: assume_role.role_arn = %q, want var.%s_role_arn", name, reference(role), name)
		}
		if len(m.find("variable", name+"_role_arn")) != 1 {
			t.Errorf("no variable %s_role_arn", name)
		}
	}
	for _, tc := range []struct{ module, alias string }{{"staging", "staging"}, {"production", "production"}} {
		call := m.one(t, "module", tc.module)
		got := objectItems(t, call.Body.Attributes["providers"].Expr)
		if ref := reference(got["aws"]); ref != "aws."+tc.alias || !aliases[tc.alias] {
			t.Errorf("module %s: providers.aws = %q, want aws.%s (aliases %v)", tc.module, ref, tc.alias, aliases)
		}
	}
}

// stack reads the SAM template.
func stack(t *testing.T) *infrastructure.Stack {
	t.Helper()
	st, err := infrastructure.Read(infrastructure.Template)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestTerraformFunctionsMatchTemplate checks that the functions module deploys the template's functions:
// the same handler names, timeouts and memory, one bootstrap zip each on provided.al2023 for arm64.
func TestTerraformFunctionsMatchTemplate(t *testing.T) {
	st := stack(t)
	m := loadModule(t, filepath.Join(terraformDir, "modules/functions"))
	fns := objectItems(t, m.local(t, "functions"))
	var got, want []string
	for name := range fns {
		got = append(got, name)
	}
	for _, f := range st.Functions {
		want = append(want, f.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Terraform functions %v, template handlers %v", got, want)
	}
	for _, f := range st.Functions {
		t.Run(f.Name, func(t *testing.T) {
			attrs := objectItems(t, fns[f.Name])
			for _, c := range []struct {
				attr string
				want int
			}{{"timeout", f.Timeout}, {"memory_size", f.MemorySize}} {
				v, err := m.value(attrs[c.attr])
				if err != nil {
					t.Fatalf("%s: %v", c.attr, err)
				}
				if g := goValue(v); g != float64(c.want) {
					t.Errorf("%s = %v, template %d", c.attr, g, c.want)
				}
			}
		})
	}
	fn := m.one(t, "resource", "aws_lambda_function", "this")
	if ref := reference(fn.Body.Attributes["for_each"].Expr); ref != "local.functions" {
		t.Errorf("aws_lambda_function.this for_each = %q, want local.functions", ref)
	}
	if ref := reference(fn.Body.Attributes["handler"].Expr); ref != "each.key" {
		t.Errorf("handler = %q, want each.key (the function's name)", ref)
	}
	for _, c := range []struct {
		attr string
		want any
	}{{"runtime", "provided.al2023"}, {"architectures", []any{"arm64"}}} {
		v, err := m.value(fn.Body.Attributes[c.attr].Expr)
		if err != nil {
			t.Fatal(err)
		}
		if g := goValue(v); !reflect.DeepEqual(g, c.want) {
			t.Errorf("%s = %v, want %v", c.attr, g, c.want)
		}
	}
	zip := m.one(t, "data", "archive_file", "bootstrap")
	tmpl, ok := zip.Body.Attributes["source_file"].Expr.(*hclsyntax.TemplateExpr)
	if !ok {
		t.Fatalf("archive_file.bootstrap source_file is %T, want a template", zip.Body.Attributes["source_file"].Expr)
	}
	var parts []string
	for _, p := range tmpl.Parts {
		if r := reference(p); r != "" {
			parts = append(parts, "${"+r+"}")
		} else if v, err := m.value(p); err == nil && v.Type() == cty.String {
			parts = append(parts, v.AsString())
		}
	}
	// `make lambda` writes bin/lambda/<name>/bootstrap.
	if got := strings.Join(parts, ""); got != "${var.build_dir}/${each.key}/bootstrap" {
		t.Errorf("archive_file source_file = %s, want ${var.build_dir}/${each.key}/bootstrap", got)
	}
}

// settingCheck compares an attribute of a child module with want, and, when the attribute is a variable of
// the child set by the parent's call, the value the parent gives (a literal or its own variable's default).
func settingCheck(t *testing.T, child *tfModule, expr hclsyntax.Expression, want any, parent *tfModule, call string) {
	t.Helper()
	v, err := child.value(expr)
	if err != nil {
		t.Fatal(err)
	}
	if g := goValue(v); !reflect.DeepEqual(g, want) {
		t.Errorf("%s: %v, template %v", child.dir, g, want)
	}
	name, ok := varRef(expr)
	if !ok || parent == nil {
		return
	}
	a, ok := parent.one(t, "module", call).Body.Attributes[name]
	if !ok {
		return
	}
	pv, err := parent.value(a.Expr)
	if err != nil {
		t.Fatalf("module %q %s: %v", call, name, err)
	}
	if g := goValue(pv); !reflect.DeepEqual(g, want) {
		t.Errorf("%s: module %q sets %s = %v, template %v", parent.dir, call, name, g, want)
	}
}

// TestTerraformEventSourceMappingMatchesTemplate checks the consumer's event source mapping against the
// template's (settings resolved through the template's parameter defaults and the Terraform variables'
// defaults), in the functions module and as the pipeline module calls it.
func TestTerraformEventSourceMappingMatchesTemplate(t *testing.T) {
	st := stack(t)
	c, ok := st.Function("consumer")
	if !ok || len(c.Kinesis) != 1 {
		t.Fatalf("template consumer has no single Kinesis source: %+v", c)
	}
	k := c.Kinesis[0]
	m := loadModule(t, filepath.Join(terraformDir, "modules/functions"))
	pipeline := loadModule(t, filepath.Join(terraformDir, "modules/pipeline"))
	esm := m.one(t, "resource", "aws_lambda_event_source_mapping")
	if ref := reference(esm.Body.Attributes["function_name"].Expr); ref != `aws_lambda_function.this["consumer"].arn` {
		t.Errorf("function_name = %q, want the consumer's", ref)
	}
	var types []any
	if k.ReportBatchItemFailures {
		types = []any{"ReportBatchItemFailures"}
	}
	for _, tc := range []struct {
		attr string
		want any
	}{
		{"starting_position", k.StartingPosition},
		{"batch_size", float64(k.BatchSize)},
		{"maximum_batching_window_in_seconds", float64(k.MaximumBatchingWindowInSeconds)},
		{"parallelization_factor", float64(k.ParallelizationFactor)},
		{"bisect_batch_on_function_error", k.BisectBatchOnFunctionError},
		{"maximum_retry_attempts", float64(k.MaximumRetryAttempts)},
		{"maximum_record_age_in_seconds", float64(k.MaximumRecordAgeInSeconds)},
		{"function_response_types", types},
	} {
		t.Run(tc.attr, func(t *testing.T) {
			a, ok := esm.Body.Attributes[tc.attr]
			if !ok {
				t.Fatalf("not set; template %v", tc.want)
			}
			settingCheck(t, m, a.Expr, tc.want, pipeline, "functions")
		})
	}
	t.Run("on_failure", func(t *testing.T) {
		var dest string
		for _, b := range esm.Body.Blocks {
			for _, of := range b.Body.Blocks {
				if b.Type == "destination_config" && of.Type == "on_failure" {
					dest = reference(of.Body.Attributes["destination_arn"].Expr)
				}
			}
		}
		if k.OnFailureLogicalID != "DeadLetterQueue" || dest != "var.dead_letter_queue_arn" {
			t.Errorf("on-failure destination: Terraform %q, template %q", dest, k.OnFailureLogicalID)
		}
		call := pipeline.one(t, "module", "functions")
		if ref := reference(call.Body.Attributes["dead_letter_queue_arn"].Expr); ref != "module.dlq.arn" {
			t.Errorf("pipeline passes dead_letter_queue_arn = %q, want module.dlq.arn", ref)
		}
	})
}

// TestTerraformStreamMatchesTemplate checks the stream's shard count and retention defaults, and its KMS
// encryption.
func TestTerraformStreamMatchesTemplate(t *testing.T) {
	st := stack(t)
	m := loadModule(t, filepath.Join(terraformDir, "modules/stream"))
	pipeline := loadModule(t, filepath.Join(terraformDir, "modules/pipeline"))
	s := m.one(t, "resource", "aws_kinesis_stream", "this")
	for _, tc := range []struct {
		variable, pipelineVariable string
		want                       any
	}{
		{"shard_count", "stream_shard_count", float64(st.StreamShards)},
		{"retention_hours", "stream_retention_hours", float64(st.StreamRetentionHours)},
		{"kms_key_id", "", "alias/aws/kinesis"},
	} {
		t.Run(tc.variable, func(t *testing.T) {
			expr := &hclsyntax.ScopeTraversalExpr{Traversal: hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: tc.variable}}}
			settingCheck(t, m, expr, tc.want, nil, "")
			if tc.pipelineVariable != "" {
				pexpr := &hclsyntax.ScopeTraversalExpr{Traversal: hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: tc.pipelineVariable}}}
				settingCheck(t, pipeline, pexpr, tc.want, nil, "")
				call := pipeline.one(t, "module", "stream")
				if v, _ := varRef(call.Body.Attributes[tc.variable].Expr); v != tc.pipelineVariable {
					t.Errorf("pipeline sets stream %s from %q, want var.%s", tc.variable, v, tc.pipelineVariable)
				}
			}
		})
	}
	if v, err := m.value(s.Body.Attributes["encryption_type"].Expr); err != nil || goValue(v) != "KMS" {
		t.Errorf("encryption_type = %v (%v), want KMS", v, err)
	}
}

// TestTerraformWorkflowMatchesTemplate checks that the state machine is made from the same definition file
// as the template's, with the same substitution variables, type and logging.
func TestTerraformWorkflowMatchesTemplate(t *testing.T) {
	st := stack(t)
	if len(st.StateMachines) != 1 {
		t.Fatalf("template state machines: %+v", st.StateMachines)
	}
	sm := st.StateMachines[0]
	dir := filepath.Join(terraformDir, "modules/workflow")
	m := loadModule(t, dir)
	res := m.one(t, "resource", "aws_sfn_state_machine", "this")
	if v, err := m.value(res.Body.Attributes["type"].Expr); err != nil || goValue(v) != sm.Type {
		t.Errorf("type = %v (%v), template %s", v, err, sm.Type)
	}
	call, ok := res.Body.Attributes["definition"].Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "templatefile" || len(call.Args) != 2 {
		t.Fatalf("definition is not templatefile(path, vars)")
	}
	// The default path, relative to the module, is the template's DefinitionUri (relative to the template).
	coalesce, ok := m.local(t, "definition_path").(*hclsyntax.FunctionCallExpr)
	if !ok || reference(call.Args[0]) != "local.definition_path" || len(coalesce.Args) != 2 {
		t.Fatalf("definition path is not coalesce(var.definition_path, default)")
	}
	tmpl := coalesce.Args[1].(*hclsyntax.TemplateExpr)
	last, err := m.value(tmpl.Parts[len(tmpl.Parts)-1])
	if err != nil || reference(tmpl.Parts[0]) != "path.module" {
		t.Fatalf("default definition path is not ${path.module}/...: %v", err)
	}
	got, err := filepath.Abs(filepath.Join(dir, last.AsString()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.Abs(sm.DefinitionURI)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("definition file %s, template %s", got, want)
	}
	def, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	vars := objectItems(t, call.Args[1])
	var names []string
	for name := range vars {
		names = append(names, name)
	}
	var subs []string
	for name := range sm.Substitutions {
		subs = append(subs, name)
	}
	sort.Strings(names)
	sort.Strings(subs)
	if !slices.Equal(names, subs) {
		t.Errorf("templatefile variables %v, template substitutions %v", names, subs)
	}
	// templatefile interprets every ${...} and %{...}: each must be one of its variables.
	for _, ref := range regexp.MustCompile(`[$%]\{([^}]*)\}`).FindAllStringSubmatch(string(def), -1) {
		if _, ok := vars[ref[1]]; !ok || ref[0][0] != '$' {
			t.Errorf("definition's %s is not a templatefile variable", ref[0])
		}
	}
	for _, b := range res.Body.Blocks {
		switch b.Type {
		case "logging_configuration":
			level, _ := m.value(b.Body.Attributes["level"].Expr)
			data, _ := m.value(b.Body.Attributes["include_execution_data"].Expr)
			if goValue(level) != sm.LogLevel || goValue(data) != sm.IncludeExecutionData {
				t.Errorf("logging %v/%v, template %s/%v", goValue(level), goValue(data), sm.LogLevel, sm.IncludeExecutionData)
			}
		case "tracing_configuration":
			if v, _ := m.value(b.Body.Attributes["enabled"].Expr); goValue(v) != true {
				t.Error("tracing is not enabled")
			}
		}
	}
}

// alarm is an alarm's metric and condition. Dimensions lists Name=target, sorted, where the target is a
// function's handler name or the logical id of the template's queue or state machine.
type alarm struct {
	Namespace, MetricName, Statistic, ComparisonOperator string
	Threshold                                            float64
	Period, EvaluationPeriods                            int
	Dimensions                                           string
}

// agreedAlarms is the alarm set both templates must have, used while template.yaml has no alarms.
func agreedAlarms() map[string]alarm {
	out := map[string]alarm{
		"ConsumerIteratorAgeAlarm":  {"AWS/Lambda", "IteratorAge", "Maximum", "GreaterThanThreshold", 60000, 60, 5, "FunctionName=consumer"},
		"DeadLetterQueueDepthAlarm": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold", 0, 60, 1, "QueueName=DeadLetterQueue"},
		"WorkflowFailuresAlarm":     {"AWS/States", "ExecutionsFailed", "Sum", "GreaterThanThreshold", 0, 60, 1, "StateMachineArn=Workflow"},
		"WorkflowTimeoutsAlarm":     {"AWS/States", "ExecutionsTimedOut", "Sum", "GreaterThanThreshold", 0, 60, 1, "StateMachineArn=Workflow"},
	}
	for _, fn := range []string{"Ingest", "Consumer", "Enrich", "Persist", "Analytics", "Export"} {
		dim := "FunctionName=" + strings.ToLower(fn)
		out[fn+"ErrorsAlarm"] = alarm{"AWS/Lambda", "Errors", "Sum", "GreaterThanThreshold", 0, 60, 1, dim}
		out[fn+"ThrottlesAlarm"] = alarm{"AWS/Lambda", "Throttles", "Sum", "GreaterThanThreshold", 0, 60, 1, dim}
	}
	return out
}

// samAlarms reads the AWS::CloudWatch::Alarm resources of a SAM template; a !Ref to a parameter is its
// default, and a dimension naming a function (by logical id) names it by its handler.
func samAlarms(template []byte) (map[string]alarm, error) {
	st, err := infrastructure.Read(template)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Parameters map[string]struct {
			Default string `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Type       string               `yaml:"Type"`
			Properties map[string]yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(template, &doc); err != nil {
		return nil, err
	}
	out := map[string]alarm{}
	for id, r := range doc.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		str := func(key string) (string, error) {
			n, ok := r.Properties[key]
			if !ok {
				return "", fmt.Errorf("%s: no %s", id, key)
			}
			if n.Tag == "!Ref" {
				p, ok := doc.Parameters[n.Value]
				if !ok {
					return "", fmt.Errorf("%s.%s: !Ref %s is not a parameter", id, key, n.Value)
				}
				return p.Default, nil
			}
			if n.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("%s.%s: not a scalar", id, key)
			}
			return n.Value, nil
		}
		var a alarm
		for _, f := range []struct {
			key string
			dst *string
		}{{"Namespace", &a.Namespace}, {"MetricName", &a.MetricName}, {"Statistic", &a.Statistic}, {"ComparisonOperator", &a.ComparisonOperator}} {
			if *f.dst, err = str(f.key); err != nil {
				return nil, err
			}
		}
		s, err := str("Threshold")
		if err != nil {
			return nil, err
		}
		if a.Threshold, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("%s.Threshold: %w", id, err)
		}
		for _, f := range []struct {
			key string
			dst *int
		}{{"Period", &a.Period}, {"EvaluationPeriods", &a.EvaluationPeriods}} {
			if s, err = str(f.key); err != nil {
				return nil, err
			}
			if *f.dst, err = strconv.Atoi(s); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", id, f.key, err)
			}
		}
		var dims []string
		if n, ok := r.Properties["Dimensions"]; ok {
			var ds []struct {
				Name  string    `yaml:"Name"`
				Value yaml.Node `yaml:"Value"`
			}
			if err := n.Decode(&ds); err != nil {
				return nil, fmt.Errorf("%s.Dimensions: %w", id, err)
			}
			for _, d := range ds {
				target, _, _ := strings.Cut(d.Value.Value, ".")
				if fn, ok := st.FunctionByLogicalID(target); ok {
					target = fn.Name
				}
				dims = append(dims, d.Name+"="+target)
			}
		}
		sort.Strings(dims)
		a.Dimensions = strings.Join(dims, ",")
		out[id] = a
	}
	return out, nil
}

func TestSAMAlarms(t *testing.T) {
	for _, tc := range []struct {
		name, template string
		want           map[string]alarm
		wantErr        string
	}{
		{"none", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", map[string]alarm{}, ""},
		{"function dimension", `
Resources:
  LagFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: lag
  Queue:
    Type: AWS::SQS::Queue
  A:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - Name: FunctionName
          Value: !Ref LagFunction
      Statistic: Sum
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      Period: 60
      EvaluationPeriods: 1
  B:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions:
        - Name: QueueName
          Value: !GetAtt Queue.QueueName
      Statistic: Maximum
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      Period: 60
      EvaluationPeriods: 1
`, map[string]alarm{
			"A": {"AWS/Lambda", "Errors", "Sum", "GreaterThanThreshold", 0, 60, 1, "FunctionName=lag"},
			"B": {"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "GreaterThanThreshold", 0, 60, 1, "QueueName=Queue"},
		}, ""},
		{"literal and parameter", `
Parameters:
  Lag:
    Type: Number
    Default: 60000
Resources:
  LagAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: IteratorAge
      Statistic: Maximum
      Threshold: !Ref Lag
      ComparisonOperator: GreaterThanThreshold
      Period: 60
      EvaluationPeriods: 5
      AlarmActions: [!Ref AlarmTopic]
`, map[string]alarm{"LagAlarm": {"AWS/Lambda", "IteratorAge", "Maximum", "GreaterThanThreshold", 60000, 60, 5, ""}}, ""},
		{"missing statistic", `
Resources:
  A:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: X
`, nil, "no Statistic"},
		{"unknown parameter", `
Resources:
  A:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: !Ref Nowhere
`, nil, "is not a parameter"},
		{"bad period", `
Resources:
  A:
    Type: AWS::CloudWatch::Alarm
    Properties: {Namespace: N, MetricName: M, Statistic: Sum, ComparisonOperator: GreaterThanThreshold, Threshold: 0, Period: sixty, EvaluationPeriods: 1}
`, nil, "Period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := samAlarms([]byte(tc.template))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("alarms %+v, want %+v", got, tc.want)
			}
		})
	}
}

// terraformAlarms evaluates the alarms module's local.alarms, keyed by logical id, with the Terraform
// functions it calls. The variables its dimensions refer to stand for what samAlarms names: var.function_names
// maps each handler of the template to itself, var.dead_letter_queue_name is DeadLetterQueue and
// var.state_machine_arn is Workflow.
func terraformAlarms(t *testing.T, m *tfModule) map[string]alarm {
	t.Helper()
	functions := map[string]cty.Value{}
	for _, f := range stack(t).Functions {
		functions[f.Name] = cty.StringVal(f.Name)
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{
			"function_names":         cty.MapVal(functions),
			"dead_letter_queue_name": cty.StringVal("DeadLetterQueue"),
			"state_machine_arn":      cty.StringVal("Workflow"),
		})},
		Functions: map[string]function.Function{"merge": stdlib.MergeFunc, "setproduct": stdlib.SetProductFunc, "title": stdlib.TitleFunc},
	}
	// The locals alarms is built from, in order.
	locals := map[string]cty.Value{}
	var alarms cty.Value
	for _, name := range []string{"functions", "function_alarms", "alarms"} {
		v, diags := m.local(t, name).Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("local.%s: %v", name, diags)
		}
		locals[name] = v
		ctx.Variables["local"] = cty.ObjectVal(locals)
		alarms = v
	}
	out := map[string]alarm{}
	for id, a := range goValue(alarms).(map[string]any) {
		attrs, _ := a.(map[string]any)
		for _, key := range []string{"namespace", "metric_name", "statistic", "comparison_operator", "threshold", "period", "evaluation_periods", "dimensions"} {
			if _, ok := attrs[key]; !ok {
				t.Fatalf("alarm %s: no %s", id, key)
			}
		}
		str := func(key string) string { s, _ := attrs[key].(string); return s }
		num := func(key string) float64 { f, _ := attrs[key].(float64); return f }
		var dims []string
		dm, _ := attrs["dimensions"].(map[string]any)
		for name, v := range dm {
			dims = append(dims, fmt.Sprintf("%s=%v", name, v))
		}
		sort.Strings(dims)
		out[id] = alarm{
			Namespace: str("namespace"), MetricName: str("metric_name"), Statistic: str("statistic"),
			ComparisonOperator: str("comparison_operator"), Threshold: num("threshold"),
			Period: int(num("period")), EvaluationPeriods: int(num("evaluation_periods")),
			Dimensions: strings.Join(dims, ","),
		}
	}
	return out
}

// TestTerraformAlarmsMatchTemplate checks that the alarms module has exactly the template's alarms (the
// agreed set while the template has none), each with the same metric and condition, and that every alarm
// notifies the KMS-encrypted topic.
func TestTerraformAlarmsMatchTemplate(t *testing.T) {
	want, err := samAlarms(infrastructure.Template)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Log("template.yaml has no alarms: comparing with the agreed set")
		want = agreedAlarms()
	}
	m := loadModule(t, filepath.Join(terraformDir, "modules/alarms"))
	got := terraformAlarms(t, m)
	for id, w := range want {
		if g, ok := got[id]; !ok {
			t.Errorf("%s: missing from Terraform", id)
		} else if g != w {
			t.Errorf("%s: Terraform %+v, template %+v", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: in Terraform only", id)
		}
	}
	res := m.one(t, "resource", "aws_cloudwatch_metric_alarm", "this")
	fields := map[string]string{
		"namespace": "", "metric_name": "", "statistic": "", "threshold": "", "comparison_operator": "",
		"period": "", "evaluation_periods": "", "dimensions": "",
	}
	for attr := range fields {
		if ref := reference(res.Body.Attributes[attr].Expr); ref != "each.value."+attr {
			t.Errorf("aws_cloudwatch_metric_alarm.this %s = %q, want each.value.%s", attr, ref, attr)
		}
	}
	actions, ok := res.Body.Attributes["alarm_actions"].Expr.(*hclsyntax.TupleConsExpr)
	if !ok || len(actions.Exprs) != 1 || reference(actions.Exprs[0]) != "aws_sns_topic.alarm_topic.arn" {
		t.Errorf("alarm_actions is not [aws_sns_topic.alarm_topic.arn]")
	}
	topic := m.one(t, "resource", "aws_sns_topic", "alarm_topic")
	if ref := reference(topic.Body.Attributes["kms_master_key_id"].Expr); ref != "aws_kms_key.alarm_topic.arn" {
		t.Errorf("alarm topic key = %q, want aws_kms_key.alarm_topic.arn", ref)
	}
	key := m.one(t, "resource", "aws_kms_key", "alarm_topic")
	if v, err := m.value(key.Body.Attributes["enable_key_rotation"].Expr); err != nil || goValue(v) != true {
		t.Errorf("alarm topic key rotation = %v (%v), want true", v, err)
	}
	policy := jsonencoded(t, m, key.Body.Attributes["policy"].Expr)
	root := "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
	var admin, publish bool
	for _, st := range statements(t, policy) {
		if st["Effect"] != "Allow" || st["Resource"] != "*" {
			continue
		}
		p, _ := st["Principal"].(map[string]any)
		actions := stringList(st["Action"])
		switch {
		case reflect.DeepEqual(p, map[string]any{"AWS": root}) && slices.Equal(actions, []string{"kms:*"}):
			admin = true
		case reflect.DeepEqual(p, map[string]any{"Service": "cloudwatch.amazonaws.com"}) &&
			slices.Equal(actions, []string{"kms:Decrypt", "kms:GenerateDataKey*"}):
			publish = true
		}
	}
	if !admin || !publish {
		t.Errorf("alarm topic key policy: account administers %v, cloudwatch.amazonaws.com may decrypt and generate data keys %v; want both", admin, publish)
	}
}

// TestTerraformParameterDefaults checks that the modules' variables default to the SAM template's parameter
// defaults; a parameter the template does not have is skipped.
func TestTerraformParameterDefaults(t *testing.T) {
	st := stack(t)
	mods := map[string]*tfModule{}
	for _, tc := range []struct{ module, variable, parameter string }{
		{"stream", "stream_mode", "StreamMode"},
		{"stream", "shard_count", "StreamShardCount"},
		{"stream", "retention_hours", "StreamRetentionHours"},
		{"api", "throttling_burst_limit", "ApiThrottlingBurstLimit"},
		{"api", "throttling_rate_limit", "ApiThrottlingRateLimit"},
		{"functions", "window_size", "WindowSize"},
		{"functions", "allowed_lateness", "AllowedLateness"},
		{"functions", "export_prefix", "ExportPrefix"},
		{"functions", "consumer_batch_size", "ConsumerBatchSize"},
		{"functions", "consumer_batching_window_seconds", "ConsumerBatchingWindowSeconds"},
		{"functions", "consumer_parallelization_factor", "ConsumerParallelizationFactor"},
		{"functions", "consumer_max_retries", "ConsumerMaxRetries"},
		{"functions", "consumer_max_record_age_seconds", "ConsumerMaxRecordAgeSeconds"},
		{"pipeline", "stream_mode", "StreamMode"},
		{"pipeline", "stream_shard_count", "StreamShardCount"},
		{"pipeline", "stream_retention_hours", "StreamRetentionHours"},
		{"pipeline", "window_size", "WindowSize"},
		{"pipeline", "allowed_lateness", "AllowedLateness"},
		{"pipeline", "export_prefix", "ExportPrefix"},
		{"functions", "raw_events_retention_days", "RawEventsRetentionDays"},
		{"pipeline", "raw_events_retention_days", "RawEventsRetentionDays"},
		{"pipeline", "export_retention_days", "ExportRetentionDays"},
		{"pipeline", "analytics_database_name", "AnalyticsDatabaseName"},
		{"analytics_export", "export_prefix", "ExportPrefix"},
		{"analytics_export", "export_retention_days", "ExportRetentionDays"},
		{"analytics_export", "database_name", "AnalyticsDatabaseName"},
	} {
		t.Run(tc.module+"/"+tc.variable, func(t *testing.T) {
			want, ok := st.Parameters[tc.parameter]
			if !ok {
				t.Skipf("the template has no parameter %s", tc.parameter)
			}
			m, ok := mods[tc.module]
			if !ok {
				m = loadModule(t, filepath.Join(terraformDir, "modules", tc.module))
				mods[tc.module] = m
			}
			expr := &hclsyntax.ScopeTraversalExpr{Traversal: hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: tc.variable}}}
			v, err := m.value(expr)
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch g := goValue(v).(type) {
			case string:
				got = g
			case float64:
				got = strconv.FormatFloat(g, 'f', -1, 64)
			default:
				t.Fatalf("default %v is neither a string nor a number", g)
			}
			if got != want {
				t.Errorf("var.%s defaults to %q, template %s defaults to %q", tc.variable, got, tc.parameter, want)
			}
		})
	}
}

// render turns an expression into Go values as far as it can without evaluating references: literals are
// their values, a reference is "${ref}", a template joins its literal parts and "${ref}"s, and tuples and
// objects are rendered item by item. Anything else is "?".
func render(t *testing.T, m *tfModule, expr hclsyntax.Expression) any {
	t.Helper()
	switch e := expr.(type) {
	case *hclsyntax.ScopeTraversalExpr:
		return "${" + reference(e) + "}"
	case *hclsyntax.TemplateWrapExpr:
		return render(t, m, e.Wrapped)
	case *hclsyntax.TemplateExpr:
		var b strings.Builder
		for _, p := range e.Parts {
			s, ok := render(t, m, p).(string)
			if !ok {
				return "?"
			}
			b.WriteString(s)
		}
		return b.String()
	case *hclsyntax.TupleConsExpr:
		out := []any{}
		for _, x := range e.Exprs {
			out = append(out, render(t, m, x))
		}
		return out
	case *hclsyntax.ObjectConsExpr:
		out := map[string]any{}
		for k, v := range objectItems(t, e) {
			out[k] = render(t, m, v)
		}
		return out
	}
	v, err := m.value(expr)
	if err != nil {
		return "?"
	}
	return goValue(v)
}

// jsonencoded renders the argument of a jsonencode(...) call.
func jsonencoded(t *testing.T, m *tfModule, expr hclsyntax.Expression) any {
	t.Helper()
	call, ok := expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
		t.Fatalf("%s: %T is not jsonencode(document)", m.dir, expr)
	}
	return render(t, m, call.Args[0])
}

// statements returns the Statement list of a rendered policy document.
func statements(t *testing.T, policy any) []map[string]any {
	t.Helper()
	doc, _ := policy.(map[string]any)
	list, ok := doc["Statement"].([]any)
	if !ok {
		t.Fatalf("policy %v has no Statement list", policy)
	}
	var out []map[string]any
	for _, s := range list {
		st, ok := s.(map[string]any)
		if !ok {
			t.Fatalf("statement %v is not an object", s)
		}
		out = append(out, st)
	}
	return out
}

// stringList returns a string, or a list of strings, as a sorted list.
func stringList(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// grants maps each action of the Allow statements whose action starts with one of prefixes to its resources,
// sorted; expand rewrites a resource first.
func grants(sts []map[string]any, expand func(string) string, prefixes ...string) map[string][]string {
	out := map[string][]string{}
	for _, st := range sts {
		if st["Effect"] != "Allow" {
			continue
		}
		for _, a := range stringList(st["Action"]) {
			if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(a, p) }) {
				continue
			}
			for _, r := range stringList(st["Resource"]) {
				out[a] = append(out[a], expand(r))
			}
			sort.Strings(out[a])
		}
	}
	return out
}

func TestTerraformRender(t *testing.T) {
	m := &tfModule{dir: "test"}
	for _, tc := range []struct {
		name, src string
		want      any
	}{
		{"literal", `"x"`, "x"},
		{"number", `3`, float64(3)},
		{"reference", `aws_s3_bucket.b.arn`, "${aws_s3_bucket.b.arn}"},
		{"index", `var.names["ingest"]`, `${var.names["ingest"]}`},
		{"template", `"${aws_s3_bucket.b.arn}/errors/*"`, "${aws_s3_bucket.b.arn}/errors/*"},
		{"escaped", `"dt=$${dt}"`, "dt=${dt}"},
		{"tuple", `["a", local.x]`, []any{"a", "${local.x}"}},
		{"object", `{ Effect = "Allow", "detail-type" = ["Object Created"] }`, map[string]any{"Effect": "Allow", "detail-type": []any{"Object Created"}}},
		{"call", `upper(var.x)`, "?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expr, diags := hclsyntax.ParseExpression([]byte(tc.src), tc.name, hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if got := render(t, m, expr); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("render(%s) = %#v, want %#v", tc.src, got, tc.want)
			}
		})
	}
}

func TestTerraformGrants(t *testing.T) {
	sts := []map[string]any{
		{"Effect": "Allow", "Action": []any{"s3:PutObject", "kinesis:PutRecord"}, "Resource": []any{"b/2", "b/1"}},
		{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "self"},
		{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "b/*"},
	}
	for _, tc := range []struct {
		name     string
		prefixes []string
		want     map[string][]string
	}{
		{"s3 and lambda", []string{"s3:", "lambda:"}, map[string][]string{"s3:PutObject": {"B/1", "B/2"}, "lambda:InvokeFunction": {"SELF"}}},
		{"kinesis", []string{"kinesis:"}, map[string][]string{"kinesis:PutRecord": {"B/1", "B/2"}}},
		{"none", []string{"sqs:"}, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := grants(sts, strings.ToUpper, tc.prefixes...); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("grants = %v, want %v", got, tc.want)
			}
		})
	}
}

// attr renders the attribute of a block, or of its nested block path (each the first of its type).
func attr(t *testing.T, m *tfModule, b *hclsyntax.Block, path ...string) any {
	t.Helper()
	for _, typ := range path[:len(path)-1] {
		var next *hclsyntax.Block
		for _, nb := range b.Body.Blocks {
			if nb.Type == typ {
				next = nb
				break
			}
		}
		if next == nil {
			t.Fatalf("%s %v: no %s block", b.Type, b.Labels, typ)
		}
		b = next
	}
	a, ok := b.Body.Attributes[path[len(path)-1]]
	if !ok {
		t.Fatalf("%s %v: no %s", b.Type, b.Labels, strings.Join(path, "."))
	}
	return render(t, m, a.Expr)
}

// samResource returns the Properties of a resource of the SAM template.
func samResource(t *testing.T, id string) map[string]any {
	t.Helper()
	var doc struct {
		Resources map[string]struct {
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(infrastructure.Template, &doc); err != nil {
		t.Fatal(err)
	}
	r, ok := doc.Resources[id]
	if !ok {
		t.Fatalf("template has no %s", id)
	}
	return r.Properties
}

// TestTerraformRawBucketMatchesTemplate checks the raw-events bucket (RawEventsBucket): a bucket module
// with EventBridge notifications on, expiring by variable; its "Object Created" rule targeting the ingest
// function, which EventBridge may invoke; and the ingest role's S3 and Lambda grants, the same as the
// template's.
func TestTerraformRawBucketMatchesTemplate(t *testing.T) {
	m := loadModule(t, filepath.Join(terraformDir, "modules/functions"))
	const arn = "${module.raw_events_bucket.arn}"
	bucket := m.one(t, "module", "raw_events_bucket")
	for _, c := range []struct {
		attr string
		want any
	}{
		{"name_prefix", "${var.name_prefix}-raw-"},
		{"eventbridge", true},
		{"expirations", []any{map[string]any{"id": "ExpireRawObjects", "days": "${var.raw_events_retention_days}"}}},
	} {
		if got := attr(t, m, bucket, c.attr); !reflect.DeepEqual(got, c.want) {
			t.Errorf("module raw_events_bucket %s = %v, want %v", c.attr, got, c.want)
		}
	}
	for _, c := range []struct {
		typ  string
		path []string
		want any
	}{
		{"aws_cloudwatch_event_target", []string{"rule"}, "${aws_cloudwatch_event_rule.raw_object_created.name}"},
		{"aws_cloudwatch_event_target", []string{"arn"}, `${aws_lambda_function.this["ingest"].arn}`},
		{"aws_lambda_permission", []string{"principal"}, "events.amazonaws.com"},
		{"aws_lambda_permission", []string{"action"}, "lambda:InvokeFunction"},
		{"aws_lambda_permission", []string{"function_name"}, `${aws_lambda_function.this["ingest"].function_name}`},
		{"aws_lambda_permission", []string{"source_arn"}, "${aws_cloudwatch_event_rule.raw_object_created.arn}"},
	} {
		t.Run(c.typ+"/"+strings.Join(c.path, "."), func(t *testing.T) {
			if got := attr(t, m, m.one(t, "resource", c.typ, "raw_object_created"), c.path...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%v, want %v", got, c.want)
			}
		})
	}

	t.Run("rule", func(t *testing.T) {
		rule := m.one(t, "resource", "aws_cloudwatch_event_rule", "raw_object_created")
		got := jsonencoded(t, m, rule.Body.Attributes["event_pattern"].Expr)
		want := map[string]any{
			"source":      []any{"aws.s3"},
			"detail-type": []any{"Object Created"},
			"detail":      map[string]any{"bucket": map[string]any{"name": []any{"${module.raw_events_bucket.bucket}"}}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event pattern %v, want %v", got, want)
		}
		if n := len(m.find("resource", "aws_cloudwatch_event_target", "raw_object_created")); n != 1 {
			t.Errorf("%d targets of the rule, want 1 (ingest)", n)
		}
	})

	t.Run("ingest grants", func(t *testing.T) {
		locals := map[string]string{}
		for _, name := range []string{"ingest_arn"} {
			s, _ := render(t, m, m.local(t, name)).(string)
			locals["${local."+name+"}"] = s
		}
		expandTF := func(r string) string {
			if s, ok := locals[r]; ok {
				return s
			}
			return r
		}
		got := grants(statements(t, map[string]any{"Statement": render(t, m, objectItems(t, m.local(t, "statements"))["ingest"])}), expandTF, "s3:", "lambda:")
		want := map[string][]string{
			"s3:GetObject": {arn + "/*"},
			"s3:PutObject": {arn + "/errors/*", arn + "/progress/*"},
			"lambda:InvokeFunction": {
				"arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:function:${var.name_prefix}-ingest",
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ingest S3 and Lambda grants %v, want %v", got, want)
		}
		// The function's name is the one its own ARN is built from.
		fn := m.one(t, "resource", "aws_lambda_function", "this")
		if name := attr(t, m, fn, "function_name"); name != "${var.name_prefix}-${each.key}" {
			t.Errorf("function_name = %v, want ${var.name_prefix}-${each.key}", name)
		}

		// The template's grants, in Terraform's terms.
		sam := strings.NewReplacer(
			"${AWS::Partition}", "${data.aws_partition.current.partition}",
			"${AWS::Region}", "${data.aws_region.current.name}",
			"${AWS::AccountId}", "${data.aws_caller_identity.current.account_id}",
			"${AWS::StackName}", "${var.name_prefix}",
			"${RawEventsBucket.Arn}", arn,
		)
		var samSts []map[string]any
		for _, p := range samResource(t, "IngestFunction")["Policies"].([]any) {
			doc, _ := p.(map[string]any)
			if doc != nil {
				samSts = append(samSts, statements(t, doc)...)
			}
		}
		if fromSAM := grants(samSts, sam.Replace, "s3:", "lambda:"); !reflect.DeepEqual(fromSAM, want) {
			t.Errorf("template's ingest S3 and Lambda grants %v, Terraform %v", fromSAM, want)
		}
	})
}

// glueColumns lists the columns of a Glue table block's storage_descriptor, or its partition keys, as
// name:type.
func glueColumns(t *testing.T, m *tfModule, table *hclsyntax.Block, partitions bool) []string {
	t.Helper()
	body, typ := table.Body, "partition_keys"
	if !partitions {
		typ = "columns"
		body = nil
		for _, b := range table.Body.Blocks {
			if b.Type == "storage_descriptor" {
				body = b.Body
			}
		}
		if body == nil {
			t.Fatal("the table has no storage_descriptor")
		}
	}
	var out []string
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, fmt.Sprintf("%v:%v", attr(t, m, b, "name"), attr(t, m, b, "type")))
		}
	}
	return out
}

// TestTerraformAnalyticsExportMatchesTemplate checks the export storage against the template's WindowsTable
// (columns, partition keys, projection parameters) and AnalyticsWorkGroup, and that the pipeline's export
// function writes to this module's bucket.
func TestTerraformAnalyticsExportMatchesTemplate(t *testing.T) {
	m := loadModule(t, filepath.Join(terraformDir, "modules/analytics_export"))
	table := m.one(t, "resource", "aws_glue_catalog_table", "windows")
	input, _ := samResource(t, "WindowsTable")["TableInput"].(map[string]any)
	samCols := func(list any) []string {
		var out []string
		items, _ := list.([]any)
		for _, c := range items {
			col, _ := c.(map[string]any)
			out = append(out, fmt.Sprintf("%v:%v", col["Name"], col["Type"]))
		}
		return out
	}
	sd, _ := input["StorageDescriptor"].(map[string]any)
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"columns", glueColumns(t, m, table, false), samCols(sd["Columns"])},
		{"partition keys", glueColumns(t, m, table, true), samCols(input["PartitionKeys"])},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) == 0 || !slices.Equal(c.got, c.want) {
				t.Errorf("Terraform %v, template %v", c.got, c.want)
			}
		})
	}
	t.Run("parameters", func(t *testing.T) {
		got, _ := attr(t, m, table, "parameters").(map[string]any)
		want, _ := input["Parameters"].(map[string]any)
		if len(want) == 0 {
			t.Fatal("the template's table has no parameters")
		}
		for k, w := range want {
			if k == "storage.location.template" {
				continue
			}
			if g := got[k]; g != fmt.Sprint(w) {
				t.Errorf("%s = %v, template %v", k, g, w)
			}
		}
		if g := got["storage.location.template"]; g != "s3://${module.export_bucket.bucket}/${var.export_prefix}/dt=${dt}/hour=${hour}/" {
			t.Errorf("storage.location.template = %v", g)
		}
		if len(got) != len(want) {
			t.Errorf("%d parameters, template %d", len(got), len(want))
		}
	})
	t.Run("workgroup", func(t *testing.T) {
		wg := m.one(t, "resource", "aws_athena_workgroup", "analytics")
		samCfg, _ := samResource(t, "AnalyticsWorkGroup")["WorkGroupConfiguration"].(map[string]any)
		samEngine, _ := samCfg["EngineVersion"].(map[string]any)
		for _, c := range []struct {
			path []string
			want any
		}{
			{[]string{"state"}, "ENABLED"},
			{[]string{"configuration", "enforce_workgroup_configuration"}, true},
			{[]string{"configuration", "bytes_scanned_cutoff_per_query"}, float64(10737418240)},
			{[]string{"configuration", "engine_version", "selected_engine_version"}, samEngine["SelectedEngineVersion"]},
			{[]string{"configuration", "result_configuration", "output_location"}, "s3://${module.results_bucket.bucket}/results/"},
			{[]string{"configuration", "result_configuration", "encryption_configuration", "encryption_option"}, "SSE_S3"},
		} {
			if got := attr(t, m, wg, c.path...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
			}
		}
	})
	t.Run("pipeline", func(t *testing.T) {
		p := loadModule(t, filepath.Join(terraformDir, "modules/pipeline"))
		fns := p.one(t, "module", "functions")
		if got := attr(t, p, fns, "export_bucket_name"); got != "${module.analytics_export.export_bucket_name}" {
			t.Errorf("functions export_bucket_name = %v, want the analytics_export module's bucket", got)
		}
		exp := p.one(t, "module", "analytics_export")
		for _, c := range []struct{ attr, want string }{
			{"export_prefix", "${var.export_prefix}"},
			{"export_retention_days", "${var.export_retention_days}"},
			{"database_name", "${var.analytics_database_name}"},
		} {
			if got := attr(t, p, exp, c.attr); got != c.want {
				t.Errorf("analytics_export %s = %v, want %s", c.attr, got, c.want)
			}
		}
		if got, want := attr(t, p, fns, "export_prefix"), attr(t, p, exp, "export_prefix"); got != want {
			t.Errorf("export prefix: functions %v, analytics_export %v", got, want)
		}
	})
}

// TestTerraformDashboardMatchesTemplate checks that the alarms module's dashboard has the template's
// widgets: the same titles, places, sizes and statistics.
func TestTerraformDashboardMatchesTemplate(t *testing.T) {
	m := loadModule(t, filepath.Join(terraformDir, "modules/alarms"))
	dash := m.one(t, "resource", "aws_cloudwatch_dashboard", "this")
	body, _ := jsonencoded(t, m, dash.Body.Attributes["dashboard_body"].Expr).(map[string]any)
	if body["widgets"] != "${local.dashboard_widgets}" {
		t.Fatalf("dashboard_body widgets = %v, want local.dashboard_widgets", body["widgets"])
	}
	type widget struct {
		Title, Stat         string
		X, Y, Width, Height float64
	}
	var got []widget
	widgets, _ := render(t, m, m.local(t, "dashboard_widgets")).([]any)
	for _, w := range widgets {
		wm, _ := w.(map[string]any)
		p, _ := wm["properties"].(map[string]any)
		g := widget{Title: fmt.Sprint(p["title"]), Stat: fmt.Sprint(p["stat"])}
		g.X, _ = wm["x"].(float64)
		g.Y, _ = wm["y"].(float64)
		g.Width, _ = wm["width"].(float64)
		g.Height, _ = wm["height"].(float64)
		got = append(got, g)
	}
	// The template's body is JSON whose ${...} substitutions are all inside strings.
	src, _ := samResource(t, "Dashboard")["DashboardBody"].(string)
	var sam struct {
		Widgets []struct {
			X, Y, Width, Height float64
			Properties          struct{ Title, Stat string }
		}
	}
	if err := json.Unmarshal([]byte(src), &sam); err != nil {
		t.Fatalf("template's dashboard body: %v", err)
	}
	var want []widget
	for _, w := range sam.Widgets {
		want = append(want, widget{w.Properties.Title, w.Properties.Stat, w.X, w.Y, w.Width, w.Height})
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("Terraform widgets %+v, template %+v", got, want)
	}
}
