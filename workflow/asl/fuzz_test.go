package asl_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// FuzzParse checks that Parse never panics on any definition, and that it either returns a machine or an
// error that wraps ErrInvalidDefinition, never both nor neither. It is seeded with the project's workflow and
// every definition of the documentation cases.
func FuzzParse(f *testing.F) {
	workflow, err := os.ReadFile(filepath.Join("..", "definition.asl.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(workflow)
	files, err := filepath.Glob(filepath.Join("testdata", "docs", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no documentation cases: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var cases []struct {
			Definition json.RawMessage `json:"definition"`
		}
		if err := json.Unmarshal(data, &cases); err != nil {
			f.Fatalf("%s: %v", file, err)
		}
		for _, c := range cases {
			f.Add([]byte(c.Definition))
		}
	}
	f.Add([]byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, def []byte) {
		m, err := asl.Parse(def)
		switch {
		case err != nil && m != nil:
			t.Fatalf("Parse returned both a machine and %v", err)
		case err == nil && m == nil:
			t.Fatal("Parse returned neither a machine nor an error")
		case err != nil && !errors.Is(err, asl.ErrInvalidDefinition):
			t.Fatalf("Parse error %v does not wrap ErrInvalidDefinition", err)
		}
	})
}
