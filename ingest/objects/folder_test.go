package objects_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/ingest/objects"
	"github.com/serverless-data-platform/sdp/ingest/objects/objectstest"
)

// TestFolderContract runs the port's contract suite on a folder.
func TestFolderContract(t *testing.T) {
	t.Parallel()
	objectstest.Run(t, func(t *testing.T) objects.Store { return objects.NewFolder(t.TempDir()) })
}

// TestFolderEscapes checks that nothing outside the folder is reached, through a symbolic link either, and
// that temporary files stay out of listings.
func TestFolderEscapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".x"+objects.TempMarker+"1"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := objects.NewFolder(dir)
	tests := []struct {
		name string
		do   func() error
	}{
		{"stat through a link", func() error { _, err := f.Stat(ctx, "link/secret"); return err }},
		{"open through a link", func() error { _, err := f.Open(ctx, "link/secret"); return err }},
		{"put through a link", func() error { _, err := f.Put(ctx, "link/new", strings.NewReader("x")); return err }},
		{"temporary name", func() error { _, err := f.Stat(ctx, ".x"+objects.TempMarker+"1"); return err }},
	}
	for _, tt := range tests {
		if err := tt.do(); err == nil {
			t.Errorf("%s succeeded", tt.name)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was written outside the folder: %v", err)
	}
	for o, err := range f.List(ctx, "") {
		t.Errorf("List yielded %+v, %v; want nothing (links are not followed, temporary files hidden)", o, err)
	}
	if _, err := objects.NewFolder(filepath.Join(dir, "missing")).Stat(ctx, "k"); !errors.Is(err, objects.ErrNotFound) {
		t.Errorf("Stat in a missing folder = %v, want ErrNotFound", err)
	}
}
