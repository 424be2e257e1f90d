package schemac

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// suiteModule holds a copy of the official JSON-Schema-Test-Suite.
const suiteModule = "github.com/kaptinlin/jsonschema@v0.9.8"

// Where the reference itself departs from the suite's expectations in our configuration: format assertions
// are on (format.json expects annotations only), idn-email and idn-hostname are formats the reference does not
// know, and the suite's regular expressions are ECMA 262 where the reference uses Go's.
var referenceDepartsFrom = map[string]string{
	"format.json":           "formats are asserted",
	"idn-email.json":        "format unknown to the reference",
	"idn-hostname.json":     "format unknown to the reference",
	"ecmascript-regex.json": "Go regular expressions",
}

// suiteGroup is one group of a suite file.
type suiteGroup struct {
	Description string
	Schema      json.RawMessage
	Tests       []struct {
		Description string
		Data        json.RawMessage
		Valid       bool
	}
}

// TestSuite runs every draft 2020-12 file of the official test suite (tests, optional, optional/format): every
// case must agree with the reference configured as the registry configures it, and the reference must agree
// with the suite except where noted above. Groups that use unsupported keywords must fail to compile with an
// *UnsupportedError. For invalid cases, the error we select must be the reference's.
func TestSuite(t *testing.T) {
	groupsByFile, remotes := loadSuite(t)
	var total, passed, unsupportedCases, departures, ties, validCases, fastValid int
	for _, rel := range slices.Sorted(maps.Keys(groupsByFile)) {
		groups := groupsByFile[rel]
		var fileCases, filePassed, fileUnsupported int
		for _, g := range groups {
			const url = "http://testsuites.com/schema.json"
			schemaDoc := decode(t, g.Schema)
			docs := map[string]any{url: schemaDoc}
			c := NewCompiler()
			for u, d := range remotes {
				docs[u] = d
				if err := c.AddResource(u, d); err != nil {
					t.Fatalf("%s: add %s: %v", rel, u, err)
				}
			}
			if err := c.AddResource(url, schemaDoc); err != nil {
				t.Fatalf("%s / %s: %v", rel, g.Description, err)
			}
			ref, refErr := refCompiler(docs).Compile(url)
			s, err := c.Compile(url)
			fileCases += len(g.Tests)
			if err != nil {
				var ue *UnsupportedError
				switch {
				case errors.As(err, &ue):
					fileUnsupported += len(g.Tests)
					t.Logf("%s / %s: unsupported: %v", rel, g.Description, ue)
				case refErr != nil:
					t.Logf("%s / %s: the reference does not compile it either: %v", rel, g.Description, refErr)
				default:
					t.Errorf("%s / %s: compile: %v", rel, g.Description, err)
				}
				continue
			}
			if refErr != nil {
				t.Errorf("%s / %s: compiled what the reference rejects: %v", rel, g.Description, refErr)
				continue
			}
			for _, tc := range g.Tests {
				name := rel + " / " + g.Description + " / " + tc.Description
				refRes := ref.Validate(decode(t, tc.Data))
				if (refRes == nil) != tc.Valid {
					if _, ok := referenceDepartsFrom[filepath.Base(rel)]; !ok {
						t.Errorf("%s: the reference says valid=%v, the suite %v", name, refRes == nil, tc.Valid)
					}
					departures++
				}
				got := s.Validate(tc.Data)
				ok := checkCase(t, name, s, tc.Data, got, refRes)
				if refRes == nil {
					validCases++
					if s.fast(tc.Data) == rOK {
						fastValid++
					}
				}
				if ok == 2 {
					ties++
				}
				if ok > 0 {
					filePassed++
				}
			}
		}
		t.Logf("%-45s %4d cases, %4d agree, %3d in unsupported groups", rel, fileCases, filePassed, fileUnsupported)
		total += fileCases
		passed += filePassed
		unsupportedCases += fileUnsupported
	}
	t.Logf("%d files, %d cases: %d agree with the reference, %d in unsupported groups; %d cases where the reference departs from the suite; %d error selections decided by a tie the reference breaks in map order; the fast pass alone accepts %d of the %d valid cases",
		len(groupsByFile), total, passed, unsupportedCases, departures, ties, fastValid, validCases)
}

// checkCase compares our answer with the reference's, for both passes, and returns 0 on a mismatch, 1 on
// agreement and 2 on agreement up to a tie.
func checkCase(t *testing.T, name string, s *Schema, data []byte, got, ref error) int {
	t.Helper()
	if (got == nil) != (ref == nil) {
		t.Errorf("%s: got %v, the reference %v", name, got, ref)
		return 0
	}
	if s.fast(data) == rOK && ref != nil {
		t.Errorf("%s: the fast pass accepts what the reference rejects: %v", name, ref)
		return 0
	}
	switch s.fastMode(data, 1) {
	case rOK:
		if ref != nil {
			t.Errorf("%s: the fast pass (definite mode) accepts what the reference rejects: %v", name, ref)
			return 0
		}
	case rFail:
		if ref == nil {
			t.Errorf("%s: the fast pass (definite mode) rejects what the reference accepts", name)
			return 0
		}
	}
	if ref == nil {
		return 1
	}
	want, all := selectRef(ref)
	have := selectOurs(got)
	if have == want {
		return 1
	}
	if tieOK(have, all) {
		return 2
	}
	t.Errorf("%s: selected %+v, the reference %+v (all: %+v)", name, have, want, all)
	return 0
}

// loadSuite reads every draft 2020-12 suite file (by path relative to the draft's directory) and the remotes.
func loadSuite(t *testing.T) (map[string][]suiteGroup, map[string]any) {
	t.Helper()
	dir := filepath.Join(moduleDir(t, suiteModule), "testdata", "JSON-Schema-Test-Suite")
	base := filepath.Join(dir, "tests", "draft2020-12")
	remotes := map[string]any{}
	err := filepath.WalkDir(filepath.Join(dir, "remotes"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "remotes"), p)
		remotes["http://localhost:1234/"+filepath.ToSlash(rel)] = decode(t, b)
		return nil
	})
	if err != nil {
		t.Fatalf("reading remotes: %v", err)
	}
	var files []string
	for _, pat := range []string{"*.json", "optional/*.json", "optional/format/*.json"} {
		m, _ := filepath.Glob(filepath.Join(base, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatalf("no suite files under %s", base)
	}
	out := map[string][]suiteGroup{}
	for _, f := range files {
		rel, _ := filepath.Rel(base, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var groups []suiteGroup
		if err := json.Unmarshal(b, &groups); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		out[filepath.ToSlash(rel)] = groups
	}
	return out, remotes
}
