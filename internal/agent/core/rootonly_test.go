package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the files")
	}
	dir := t.TempDir() // under /tmp: sticky, so fine
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RootOnly(prog); err != nil {
		t.Fatalf("a root-owned program in a root-owned directory: %v", err)
	}
	if err := RootOnly("/bin/sh"); err != nil {
		t.Errorf("/bin/sh: %v", err)
	}
	if err := os.Chmod(prog, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := RootOnly(prog); err == nil || !strings.Contains(err.Error(), "only root may") {
		t.Errorf("a world-writable program: %v", err)
	}
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 1001, 1001); err != nil {
		t.Fatal(err)
	}
	if err := RootOnly(prog); err == nil || !strings.Contains(err.Error(), "its directory "+dir) {
		t.Errorf("a program in a directory uid 1001 owns: %v", err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(prog, link); err != nil {
		t.Fatal(err)
	}
	if err := RootOnly(link); err == nil {
		t.Error("a link to a program in a user's directory passed")
	}
}
