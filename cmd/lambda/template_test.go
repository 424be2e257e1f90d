package main

import (
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/infrastructure"
)

// TestTemplateFunctionsStart starts every function of infrastructure/template.yaml the way Lambda does: the
// bootstrap's settings are read from the function's environment in the template (references given the
// names or ARNs AWS would resolve them to) with _HANDLER set to its Handler, and the handler must build.
// A function added to the template without a handler in the bootstrap, or whose template environment lacks
// a setting the handler needs, fails here.
func TestTemplateFunctionsStart(t *testing.T) {
	t.Parallel()
	st, err := infrastructure.Read(infrastructure.Template)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Functions) == 0 {
		t.Fatal("the template has no functions")
	}
	for _, fn := range st.Functions {
		t.Run(fn.Name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{envHandler: fn.Name}
			for k, v := range fn.Environment {
				// !Ref of a state machine is its ARN; of a stream, table or bucket its name.
				if strings.HasSuffix(k, "_ARN") {
					v = "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-" + v
				}
				env[k] = v
			}
			s := loadSettings(func(k string) string { return env[k] })
			h, err := newHandler(t.Context(), s, testDeps(&recorder{}, &fakeProducer{}, nil, nil), discard())
			if err != nil {
				t.Fatalf("the %s function (%s) with the template's environment %v: %v", fn.LogicalID, fn.Name, fn.Environment, err)
			}
			if h == nil {
				t.Fatalf("the %s function: no handler", fn.LogicalID)
			}
		})
	}
}
