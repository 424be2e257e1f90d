package bulk

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestErrorSink checks that error lines kept in memory and those spilled to a temporary file read back
// whole and in order, and that the file is removed.
func TestErrorSink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		wantSpill bool
	}{
		{"in memory", 1 << 20, false},
		{"spilled to a file", 100, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newErrorSink(tc.limit)
			for i := range 50 {
				s.add(ErrorLine{Line: i + 1, Index: i, Reason: "r", Raw: "{\"x\":1}"})
			}
			if (s.file != nil) != tc.wantSpill {
				t.Errorf("spilled = %v, want %v", s.file != nil, tc.wantSpill)
			}
			r, err := s.reader()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) != 50 || lines[0] != `{"line":1,"index":0,"reason":"r","raw":"{\"x\":1}"}` ||
				!strings.HasPrefix(lines[49], `{"line":50,"index":49,`) {
				t.Errorf("read back %d lines, first %q", len(lines), lines[0])
			}
			var name string
			if s.file != nil {
				name = s.file.Name()
			}
			s.close()
			if name != "" {
				if _, err := os.Stat(name); !os.IsNotExist(err) {
					t.Errorf("the temporary file %s is still there: %v", name, err)
				}
			}
		})
	}
}
