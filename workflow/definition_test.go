package workflow_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow"
)

// TestDefinitionPassesASLValidator checks the deployed definition with the npm asl-validator pinned in
// tools/npm (make test installs it). Under make test (SDP_REQUIRE_NPM_TOOLS=1) a missing validator fails the
// test; plain go test skips it with the command that installs it.
func TestDefinitionPassesASLValidator(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "tools", "npm", "node_modules", ".bin", "asl-validator"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("SDP_REQUIRE_NPM_TOOLS") != "" {
			t.Fatalf("asl-validator is not installed at %s: run `bash tools/install.sh` (make test does)", bin)
		}
		t.Skipf("asl-validator is not installed (%v): run `bash tools/install.sh`, or make test", err)
	}
	// The validator checks the file as deployed, with its ${...} substitution variables, and with them
	// replaced by function ARNs as CloudFormation would.
	def, err := workflow.Substitute(workflow.Definition(), map[string]string{
		workflow.VarEnrichFunction:    "arn:aws:lambda:us-east-1:123456789012:function:sdp-EnrichFunction-1A2B3C",
		workflow.VarPersistFunction:   "arn:aws:lambda:us-east-1:123456789012:function:sdp-PersistFunction-1A2B3C",
		workflow.VarAnalyticsFunction: "arn:aws:lambda:us-east-1:123456789012:function:sdp-AnalyticsFunction-1A2B3C",
	})
	if err != nil {
		t.Fatal(err)
	}
	substituted := filepath.Join(t.TempDir(), "definition.json")
	if err := os.WriteFile(substituted, def, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"definition.asl.json", substituted} {
		out, err := exec.Command(bin, "--json-path", path).CombinedOutput()
		if err != nil {
			t.Errorf("asl-validator %s: %v\n%s", path, err, out)
		} else if !strings.Contains(string(out), "is valid") {
			t.Errorf("asl-validator %s said: %s", path, out)
		}
	}

	// The validator is a real check: a definition with a transition to a missing state fails it.
	broken := strings.Replace(string(def), `"Next": "Analytics"`, `"Next": "Nowhere"`, 1)
	bad := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(bad, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--json-path", bad).CombinedOutput(); err == nil {
		t.Errorf("asl-validator accepted a definition with a Next to a missing state:\n%s", out)
	}
}

// TestSubstitute checks the definition substitution variables: each is replaced, and a missing one is an
// error that names it.
func TestSubstitute(t *testing.T) {
	def := []byte(`{"a":"${One}","b":"${Two}-${One}","c":"$${notavar"}`)
	got, err := workflow.Substitute(def, map[string]string{"One": "1", "Two": "2"})
	if err != nil || string(got) != `{"a":"1","b":"2-1","c":"$${notavar"}` {
		t.Errorf("Substitute = %s, %v", got, err)
	}
	if _, err := workflow.Substitute(def, map[string]string{"One": "1"}); !errors.Is(err, workflow.ErrSubstitution) ||
		!strings.Contains(err.Error(), "Two") {
		t.Errorf("Substitute without Two = %v; want ErrSubstitution naming Two", err)
	}
	if _, err := workflow.Substitute(workflow.Definition(), nil); err == nil {
		t.Error("the definition has no substitution variables; want the function ARNs")
	}
}

// TestEnrichReference checks the reference look-ups of the enrich function and their cache: a warm function
// asks the reference data once per key, hits and misses alike.
func TestEnrichReference(t *testing.T) {
	ref := &countingReference{data: workflow.StaticReference{
		workflow.TableCurrency: {"EUR": {"usd_rate": 1.5}},
		workflow.TableCountry:  {"DE": {"name": "Germany", "region": "EMEA"}},
		workflow.TableDevice:   {"d-1": {"site": "plant-7"}},
	}}
	e := workflow.NewEnricher(workflow.WithReference(ref, 0))
	var batch event.Batch
	if err := jsonUnmarshal(batchOf(t,
		cloudEvent("p1", "purchase", "s", `{"order_id":"o","currency":"EUR","amount":10,"items":[]}`),
		cloudEvent("p2", "purchase", "s", `{"order_id":"o","currency":"EUR","amount":20,"items":[]}`),
		cloudEvent("p3", "purchase", "s", `{"order_id":"o","currency":"XXX","amount":20,"items":[]}`),
		cloudEvent("p4", "purchase", "s", `{"order_id":"o","currency":"XXX","amount":20,"items":[]}`),
		cloudEvent("v1", "page_view", "s", `{"url":"https://a.example/","session_id":"s","country":"DE"}`),
		cloudEvent("r1", "sensor_reading", "s", `{"device_id":"d-1","metric":"co2","value":1,"unit":"ppm"}`),
	), &batch); err != nil {
		t.Fatal(err)
	}
	out, err := e.Handle(context.Background(), batch)
	if err != nil || len(out.Curated) != 6 || len(out.Failed) != 0 {
		t.Fatalf("Handle = %d curated, %v failed, %v", len(out.Curated), out.Failed, err)
	}
	byID := map[string]map[string]any{}
	for _, c := range out.Curated {
		byID[c.ID] = c.Enriched
	}
	if byID["p1"]["amount_usd"] != 15.0 || byID["p2"]["amount_usd"] != 30.0 {
		t.Errorf("amount_usd = %v, %v; want 15, 30", byID["p1"]["amount_usd"], byID["p2"]["amount_usd"])
	}
	if _, ok := byID["p3"]["amount_usd"]; ok {
		t.Errorf("an unknown currency got a USD amount: %v", byID["p3"])
	}
	if c, _ := byID["v1"]["country"].(map[string]any); c["region"] != "EMEA" {
		t.Errorf("page view country = %v; want the reference entry", byID["v1"]["country"])
	}
	if d, _ := byID["r1"]["device"].(map[string]any); d["site"] != "plant-7" {
		t.Errorf("sensor device = %v; want the reference entry", byID["r1"]["device"])
	}
	// EUR, XXX, DE and d-1: one look-up each, the repeated keys from the cache.
	if ref.calls != 4 {
		t.Errorf("reference look-ups = %d; want 4 (one per key)", ref.calls)
	}

	// A reference that cannot answer fails the call, so that the Enrich state retries it.
	failing := workflow.NewEnricher(workflow.WithReference(&countingReference{err: errors.New("table unavailable")}, 0))
	if _, err := failing.Handle(context.Background(), batch); err == nil || !strings.Contains(err.Error(), "table unavailable") {
		t.Errorf("Handle with a failing reference = %v; want its error", err)
	}
}

// countingReference counts look-ups.
type countingReference struct {
	data  workflow.StaticReference
	err   error
	calls int
}

func (r *countingReference) Lookup(ctx context.Context, table, key string) (map[string]any, error) {
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	return r.data.Lookup(ctx, table, key)
}

// TestDefaultReference checks the built-in reference data loads.
func TestDefaultReference(t *testing.T) {
	r := workflow.DefaultReference()
	if e, _ := r.Lookup(context.Background(), workflow.TableCurrency, "USD"); e["usd_rate"] != 1.0 {
		t.Errorf("USD = %v", e)
	}
	if _, err := workflow.ParseReference([]byte(`{"currency": [1]}`)); err == nil {
		t.Error("ParseReference accepted a table that is not an object")
	}
}
