package infrastructure

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	dockerfile "github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerInstruction is one instruction of a Dockerfile: its keyword in upper case, the rest of its (joined)
// lines and the line it starts on.
type dockerInstruction struct {
	Line int
	Cmd  string
	Args string
}

// dockerStage is a FROM and the instructions after it, up to the next FROM.
type dockerStage struct {
	Index        int
	Name         string
	Base         string
	Instructions []dockerInstruction
}

// parseDockerfile reads a Dockerfile with BuildKit's parser, the one `docker build` uses: parser directives,
// comments, escapes and line continuations are its. A warning of the parser (an empty continuation line, a
// deprecated form) is an error here.
func parseDockerfile(src string) ([]dockerInstruction, error) {
	res, err := dockerfile.Parse(strings.NewReader(src))
	if err != nil {
		return nil, err
	}
	if len(res.Warnings) > 0 {
		w := res.Warnings[0]
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		return nil, fmt.Errorf("line %d: %s", line, w.Short)
	}
	out := make([]dockerInstruction, 0, len(res.AST.Children))
	for _, n := range res.AST.Children {
		// Original is the instruction as written, its continuation lines joined.
		_, args, _ := strings.Cut(strings.TrimSpace(n.Original), " ")
		out = append(out, dockerInstruction{Line: n.StartLine, Cmd: strings.ToUpper(n.Value), Args: strings.TrimSpace(args)})
	}
	return out, nil
}

// dockerStages groups instructions by FROM; only ARG may come before the first FROM.
func dockerStages(ins []dockerInstruction) ([]dockerStage, error) {
	var stages []dockerStage
	for _, in := range ins {
		if in.Cmd != "FROM" {
			if len(stages) == 0 {
				if in.Cmd == "ARG" {
					continue
				}
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.Line, in.Cmd)
			}
			s := &stages[len(stages)-1]
			s.Instructions = append(s.Instructions, in)
			continue
		}
		words := dockerWords(in.Args)
		var rest []string
		for _, w := range words {
			if !strings.HasPrefix(w, "--") {
				rest = append(rest, w)
			}
		}
		st := dockerStage{Index: len(stages)}
		switch {
		case len(rest) == 1:
			st.Base = rest[0]
		case len(rest) == 3 && strings.EqualFold(rest[1], "AS"):
			st.Base, st.Name = rest[0], strings.ToLower(rest[2])
		default:
			return nil, fmt.Errorf("line %d: FROM %q is not `FROM [--flags] image [AS name]`", in.Line, in.Args)
		}
		stages = append(stages, st)
	}
	if len(stages) == 0 {
		return nil, errors.New("no FROM instruction")
	}
	return stages, nil
}

// dockerWords splits instruction arguments on white space.
func dockerWords(args string) []string { return strings.Fields(args) }

// dockerExec returns the arguments of an exec-form (JSON array) instruction, and false for the shell form.
func dockerExec(args string) ([]string, bool) {
	var v []string
	if !strings.HasPrefix(strings.TrimSpace(args), "[") || json.Unmarshal([]byte(args), &v) != nil {
		return nil, false
	}
	return v, true
}

// dockerCopy is a COPY or ADD: its --from stage (empty: the build context), sources and destination.
type dockerCopy struct {
	From    string
	Sources []string
	Dest    string
}

func parseDockerCopy(in dockerInstruction) (dockerCopy, error) {
	var c dockerCopy
	words := dockerWords(in.Args)
	i := 0
	for ; i < len(words) && strings.HasPrefix(words[i], "--"); i++ {
		if v, ok := strings.CutPrefix(words[i], "--from="); ok {
			c.From = strings.ToLower(v)
		}
	}
	rest := words[i:]
	if exec, ok := dockerExec(strings.Join(rest, " ")); ok {
		rest = exec
	}
	if len(rest) < 2 {
		return c, fmt.Errorf("line %d: %s needs a source and a destination", in.Line, in.Cmd)
	}
	c.Sources, c.Dest = rest[:len(rest)-1], rest[len(rest)-1]
	return c, nil
}

// checkDockerfile checks a Dockerfile whose build context is root: at least two stages; every COPY --from
// names an earlier stage; every COPY or ADD source from the context exists under root; ENTRYPOINT is sam in
// exec form; the last CMD validates a template the final stage copies in.
func checkDockerfile(src, root string) []error {
	var errs []error
	ins, err := parseDockerfile(src)
	if err != nil {
		return []error{err}
	}
	stages, err := dockerStages(ins)
	if err != nil {
		return []error{err}
	}
	if len(stages) < 2 {
		errs = append(errs, fmt.Errorf("%d stage(s), want a build stage and a final stage", len(stages)))
	}
	seen := map[string]bool{}
	for _, st := range stages {
		for _, in := range st.Instructions {
			if in.Cmd != "COPY" && in.Cmd != "ADD" {
				continue
			}
			c, err := parseDockerCopy(in)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if c.From != "" {
				if n, err := strconv.Atoi(c.From); err == nil {
					if n < 0 || n >= st.Index {
						errs = append(errs, fmt.Errorf("line %d: --from=%s is not an earlier stage", in.Line, c.From))
					}
				} else if !seen[c.From] {
					errs = append(errs, fmt.Errorf("line %d: --from=%s names no earlier stage", in.Line, c.From))
				}
				continue
			}
			for _, s := range c.Sources {
				if in.Cmd == "ADD" && (strings.Contains(s, "://") || strings.HasPrefix(s, "git@")) {
					continue
				}
				clean := filepath.Clean(filepath.FromSlash(s))
				if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
					errs = append(errs, fmt.Errorf("line %d: source %q is outside the build context", in.Line, s))
					continue
				}
				matches, err := filepath.Glob(filepath.Join(root, clean))
				if err != nil || len(matches) == 0 {
					errs = append(errs, fmt.Errorf("line %d: source %q is not in the build context", in.Line, s))
				}
			}
		}
		if st.Name != "" {
			seen[st.Name] = true
		}
	}
	final := stages[len(stages)-1]
	var entry, cmd *dockerInstruction
	for i, in := range final.Instructions {
		switch in.Cmd {
		case "ENTRYPOINT":
			entry = &final.Instructions[i]
		case "CMD":
			cmd = &final.Instructions[i]
		}
	}
	if entry == nil {
		errs = append(errs, errors.New("the final stage has no ENTRYPOINT"))
	} else if exec, ok := dockerExec(entry.Args); !ok || len(exec) != 1 || filepath.Base(exec[0]) != "sam" {
		errs = append(errs, fmt.Errorf("line %d: ENTRYPOINT %s, want [\"sam\"] (exec form, so CMD is its arguments)", entry.Line, entry.Args))
	}
	if cmd == nil {
		return append(errs, errors.New("the final stage has no CMD"))
	}
	args, ok := dockerExec(cmd.Args)
	if !ok || len(args) == 0 || args[0] != "validate" {
		return append(errs, fmt.Errorf("line %d: CMD %s does not run `sam validate`", cmd.Line, cmd.Args))
	}
	template := ""
	for i, a := range args {
		if (a == "--template-file" || a == "--template" || a == "-t") && i+1 < len(args) {
			template = args[i+1]
		}
	}
	if !strings.HasSuffix(template, "infrastructure/template.yaml") {
		return append(errs, fmt.Errorf("line %d: CMD validates %q, want the SAM template infrastructure/template.yaml", cmd.Line, template))
	}
	copied := false
	for _, in := range final.Instructions {
		if in.Cmd != "COPY" {
			continue
		}
		if c, err := parseDockerCopy(in); err == nil && c.From == "" && c.Dest == template &&
			reflect.DeepEqual(c.Sources, []string{"infrastructure/template.yaml"}) {
			copied = true
		}
	}
	if !copied {
		errs = append(errs, fmt.Errorf("the final stage does not copy infrastructure/template.yaml to %s, which CMD validates", template))
	}
	return errs
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []dockerInstruction
		wantErr bool
	}{
		{
			name: "directive, comments and blank lines",
			src:  "# syntax=docker/dockerfile:1\n\n# a comment\nFROM scratch\n",
			want: []dockerInstruction{{Line: 4, Cmd: "FROM", Args: "scratch"}},
		},
		{
			name: "continuation with a comment line inside",
			src:  "from alpine AS base\nRUN a \\\n  # skipped\n  && b\nCMD [\"x\"]",
			want: []dockerInstruction{
				{Line: 1, Cmd: "FROM", Args: "alpine AS base"},
				{Line: 2, Cmd: "RUN", Args: "a   && b"},
				{Line: 5, Cmd: "CMD", Args: `["x"]`},
			},
		},
		{
			name: "heredoc",
			src:  "FROM alpine\nCOPY <<EOF /etc/motd\nhello\nEOF\nRUN true\n",
			want: []dockerInstruction{
				{Line: 1, Cmd: "FROM", Args: "alpine"},
				{Line: 2, Cmd: "COPY", Args: "<<EOF /etc/motd"},
				{Line: 5, Cmd: "RUN", Args: "true"},
			},
		},
		{
			name:    "empty continuation line (a parser warning)",
			src:     "FROM alpine\nRUN a \\\n\n  && b\n",
			wantErr: true,
		},
		{
			name:    "unterminated heredoc",
			src:     "FROM alpine\nCOPY <<EOF /x\nhi\n",
			wantErr: true,
		},
		{
			name:    "invalid escape directive",
			src:     "# escape=x\nFROM alpine\n",
			wantErr: true,
		},
		{
			name:    "no instructions",
			src:     "# only a comment\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDockerfile(tt.src)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDockerStages(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    [][2]string // name, base of each stage
		wantErr bool
	}{
		{"ARG before FROM, platform flag, AS", "ARG V=1\nFROM --platform=$BUILDPLATFORM golang:${V} AS Build\nFROM scratch\n",
			[][2]string{{"build", "golang:${V}"}, {"", "scratch"}}, false},
		{"instruction before FROM", "RUN true\nFROM scratch\n", nil, true},
		{"no FROM", "ARG V=1\n", nil, true},
		{"malformed FROM", "FROM a b\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ins, err := parseDockerfile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			stages, err := dockerStages(ins)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			var got [][2]string
			for _, s := range stages {
				got = append(got, [2]string{s.Name, s.Base})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stages %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckDockerfile(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"go.mod", "cmd/lambda/main.go", "infrastructure/template.yaml"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const (
		build    = "FROM golang:1.26 AS build\nCOPY go.mod ./\nCOPY cmd/lambda ./cmd/lambda\nRUN make lambda\n"
		final    = "FROM python:3.12-slim\nCOPY --from=build /src/bin/lambda /opt/sdp/lambda\nCOPY infrastructure/template.yaml /src/infrastructure/template.yaml\n"
		entry    = "ENTRYPOINT [\"sam\"]\n"
		validate = "CMD [\"validate\", \"--lint\", \"--template-file\", \"/src/infrastructure/template.yaml\"]\n"
	)
	tests := []struct {
		name string
		root string
		src  string
		want []string // a substring of each expected error, in order
	}{
		{"good", root, build + final + entry + validate, nil},
		{"the repository's Dockerfile", "..", "", nil},
		{"one stage", root, "FROM python:3.12-slim\nCOPY infrastructure/template.yaml /src/infrastructure/template.yaml\n" + entry + validate,
			[]string{"1 stage(s)"}},
		{"copy from a later stage", root, "FROM golang:1.26 AS first\nCOPY --from=build /x /x\n" + build + final + entry + validate,
			[]string{"--from=build names no earlier stage"}},
		{"copy from a stage index not earlier", root, build + "FROM scratch\nCOPY --from=1 /x /x\n" + final + entry + validate,
			[]string{"--from=1 is not an earlier stage"}},
		{"missing source", root, build + "COPY stream ./stream\n" + final + entry + validate,
			[]string{`source "stream" is not in the build context`}},
		{"source outside the context", root, build + "COPY ../secrets /s\nADD https://example.com/x /x\n" + final + entry + validate,
			[]string{`source "../secrets" is outside`}},
		{"JSON-form COPY with a missing source", root, build + "COPY [\"go.mod\", \"go.sum\", \"./\"]\n" + final + entry + validate,
			[]string{`source "go.sum" is not in the build context`}},
		{"shell-form entrypoint", root, build + final + "ENTRYPOINT sam\n" + validate,
			[]string{"want [\"sam\"]"}},
		{"entrypoint is not sam", root, build + final + "ENTRYPOINT [\"bash\"]\n" + validate,
			[]string{"want [\"sam\"]"}},
		{"no entrypoint", root, build + final + validate,
			[]string{"no ENTRYPOINT"}},
		{"CMD does not validate", root, build + final + entry + "CMD [\"build\"]\n",
			[]string{"does not run `sam validate`"}},
		{"CMD validates another file", root, build + final + entry + "CMD [\"validate\", \"-t\", \"/src/other.yaml\"]\n",
			[]string{"want the SAM template"}},
		{"template not copied where CMD looks", root, build + "FROM python:3.12-slim\n" + entry + validate,
			[]string{"does not copy infrastructure/template.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if src == "" {
				b, err := os.ReadFile("Dockerfile")
				if err != nil {
					t.Fatal(err)
				}
				src = string(b)
			}
			errs := checkDockerfile(src, tt.root)
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %v, want %d matching %q", errs, len(tt.want), tt.want)
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e, tt.want[i])
				}
			}
		})
	}
}

// dockerModulePackages returns the directories (slash-separated, relative to root) of the module's packages
// that the package in dir imports, directly or not, itself included; test files are not read.
func dockerModulePackages(root, module, dir string) ([]string, error) {
	seen := map[string]bool{}
	var visit func(rel string) error
	visit = func(rel string) error {
		if seen[rel] {
			return nil
		}
		seen[rel] = true
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(root, filepath.FromSlash(rel), e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if sub, ok := strings.CutPrefix(p, module+"/"); ok {
					if err := visit(sub); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := visit(dir); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// TestDockerfileBuildsTheBootstrap checks the build stage against the code: it copies go.mod, go.sum and the
// Makefile, runs `make lambda`, and copies every package of the module that cmd/lambda imports; the final
// stage copies the build stage's bin/lambda.
func TestDockerfileBuildsTheBootstrap(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(b))
	if err != nil {
		t.Fatal(err)
	}
	stages, err := dockerStages(ins)
	if err != nil {
		t.Fatal(err)
	}
	modBytes, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module := ""
	for _, line := range strings.Split(string(modBytes), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			module = strings.TrimSpace(m)
		}
	}
	pkgs, err := dockerModulePackages("..", module, "cmd/lambda")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("cmd/lambda imports only %v of the module: the import walk is broken", pkgs)
	}

	var buildStage *dockerStage
	for i, st := range stages {
		for _, in := range st.Instructions {
			if in.Cmd == "RUN" && strings.Contains(in.Args, "make lambda") {
				buildStage = &stages[i]
			}
		}
	}
	if buildStage == nil {
		t.Fatal("no stage runs `make lambda`")
	}
	if buildStage.Name == "" {
		t.Fatal("the stage that runs `make lambda` has no name for COPY --from")
	}
	var sources []string
	for _, in := range buildStage.Instructions {
		if in.Cmd == "COPY" {
			c, err := parseDockerCopy(in)
			if err != nil {
				t.Fatal(err)
			}
			if c.From == "" {
				for _, s := range c.Sources {
					sources = append(sources, strings.TrimSuffix(filepath.ToSlash(filepath.Clean(s)), "/"))
				}
			}
		}
	}
	covered := func(rel string) bool {
		for _, s := range sources {
			if s == "." || rel == s || strings.HasPrefix(rel, s+"/") {
				return true
			}
		}
		return false
	}
	for _, want := range append([]string{"go.mod", "go.sum", "Makefile"}, pkgs...) {
		t.Run(want, func(t *testing.T) {
			if !covered(want) {
				t.Errorf("the build stage does not copy %s (copies %v)", want, sources)
			}
		})
	}

	final := stages[len(stages)-1]
	found := false
	for _, in := range final.Instructions {
		if in.Cmd != "COPY" {
			continue
		}
		if c, err := parseDockerCopy(in); err == nil && c.From == buildStage.Name {
			for _, s := range c.Sources {
				if strings.HasSuffix(s, "/bin/lambda") || s == "bin/lambda" {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("the final stage does not copy bin/lambda (the output of `make lambda`) from stage %q", buildStage.Name)
	}
}
