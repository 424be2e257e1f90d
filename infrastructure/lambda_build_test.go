package infrastructure

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMakeLambdaBuildsEveryHandler runs what `sam build` runs for the template's functions: `make lambda`
// (into a temporary LAMBDA_DIR), then each function's build-<LogicalId> target with its own ARTIFACTS_DIR.
// Every function's Handler must come out as a linux/arm64 executable bootstrap, the one the function's
// build target hands to SAM.
func TestMakeLambdaBuildsEveryHandler(t *testing.T) {
	makeCmd, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is not installed: %v (the README's test command is make test)", err)
	}
	st, err := Read(Template)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, makeCmd, append([]string{"-C", "..", "LAMBDA_DIR=" + out}, args...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %v: %v\n%s", args, err, b)
		}
	}
	start := time.Now()
	run("lambda")
	t.Logf("make lambda: %v", time.Since(start).Round(time.Millisecond))

	for _, fn := range st.Functions {
		t.Run(fn.LogicalID, func(t *testing.T) {
			built := filepath.Join(out, fn.Name, "bootstrap")
			f, err := elf.Open(built)
			if err != nil {
				t.Fatalf("make lambda did not build the %s handler as an executable: %v", fn.Name, err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC || f.Class != elf.ELFCLASS64 {
				t.Errorf("%s: %v %v %v, want a 64-bit arm64 executable for provided.al2023 on arm64", built, f.Class, f.Machine, f.Type)
			}
			if fi, err := os.Stat(built); err != nil || fi.Mode()&0o111 == 0 {
				t.Errorf("%s is not executable: %v %v", built, fi, err)
			}

			artifacts := t.TempDir()
			run("build-"+fn.LogicalID, "ARTIFACTS_DIR="+artifacts)
			got, err := os.ReadFile(filepath.Join(artifacts, "bootstrap"))
			if err != nil {
				t.Fatalf("build-%s left no bootstrap in ARTIFACTS_DIR: %v", fn.LogicalID, err)
			}
			want, err := os.ReadFile(built)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("build-%s's bootstrap (%d bytes) is not the one make lambda built for %s (%d bytes)", fn.LogicalID, len(got), fn.Name, len(want))
			}
		})
	}
}
