package schemac

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// requireTools reports whether tests must fail, rather than skip, when what they need is missing.
func requireTools() bool { return os.Getenv("SDP_REQUIRE_NPM_TOOLS") == "1" }

// moduleDir downloads a module with the go command and returns its directory.
func moduleDir(t *testing.T, mod string) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
	var info struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err == nil && info.Dir == "" {
		err = errors.New(info.Error)
	}
	if err != nil {
		if requireTools() {
			t.Fatalf("go mod download %s: %v", mod, err)
		}
		t.Skipf("go mod download %s: %v (set SDP_REQUIRE_NPM_TOOLS=1 to fail instead)", mod, err)
	}
	return info.Dir
}

// decode decodes JSON as the reference does.
func decode(t testing.TB, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// mapLoader serves added documents to the reference compiler.
type mapLoader map[string]any

// Load implements jsonschema.URLLoader.
func (m mapLoader) Load(url string) (any, error) {
	if v, ok := m[url]; ok {
		return v, nil
	}
	return nil, errors.New("not found: " + url)
}

// refCompiler returns the reference compiler configured as the event registry configures it.
func refCompiler(docs map[string]any) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(mapLoader(docs))
	return c
}

// refSelection is the registry's selection on the reference's error: the location (before the required
// append), the keyword, the first missing property and the message.
type refSelection struct {
	loc     string
	keyword string
	missing string
	message string
}

// selectRef picks the error from a reference validation error as the event registry does.
func selectRef(err error) (refSelection, []refSelection) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return refSelection{keyword: "not a validation error: " + err.Error()}, nil
	}
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(leaves, func(i, j int) bool {
		a, b := leaves[i].InstanceLocation, leaves[j].InstanceLocation
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return strings.Join(a, "/") < strings.Join(b, "/")
	})
	// The registry renders messages in English.
	english := message.NewPrinter(language.English)
	conv := func(l *jsonschema.ValidationError) refSelection {
		s := refSelection{loc: strings.Join(l.InstanceLocation, "/"), keyword: "schema"}
		if kp := l.ErrorKind.KeywordPath(); len(kp) > 0 {
			s.keyword = kp[len(kp)-1]
		}
		if req, ok := l.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
			s.missing = req.Missing[0]
		}
		// The reference lists the names additionalProperties rejects in Go map order; ours are sorted.
		if ap, ok := l.ErrorKind.(*kind.AdditionalProperties); ok {
			slices.Sort(ap.Properties)
		}
		s.message = l.ErrorKind.LocalizedString(english)
		return s
	}
	var all []refSelection
	for _, l := range leaves {
		all = append(all, conv(l))
	}
	return all[0], all
}

// selectOurs renders our error like refSelection.
func selectOurs(err error) refSelection {
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return refSelection{keyword: "not a validation error: " + err.Error()}
	}
	return refSelection{loc: strings.Join(ve.InstanceLocation, "/"), keyword: ve.Keyword, missing: ve.Missing,
		message: ve.Message}
}

// sameRank reports whether a and b sort equal in the registry's selection.
func sameRank(a, b refSelection) bool {
	return a.loc == b.loc
}

// tieOK reports whether ours is one of the reference's leaves ranked first (the reference breaks such ties in
// the order it iterates Go maps).
func tieOK(ours refSelection, all []refSelection) bool {
	return slices.ContainsFunc(all, func(s refSelection) bool { return sameRank(s, all[0]) && s == ours })
}

// validateRef validates data with a reference schema as the registry does.
func validateRef(t testing.TB, ref any, data []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return ref.(*jsonschema.Schema).Validate(v)
}
