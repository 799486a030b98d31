package backup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
)

// TestArchive_stockTools checks the emergency path documented in doc.go:
// the age library stands in for the age CLI, then zstd -d | tar -x.
func TestArchive_stockTools(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"zstd", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	must(t, os.WriteFile(filepath.Join(src, "\xff\xfe not utf-8 $(x)"), []byte("hostile"), 0o644))
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)

	f, err := os.Open(filepath.Join(destDir, archiveObject("etc", snap.ID)))
	must(t, err)
	defer func() { _ = f.Close() }()
	plain, err := age.Decrypt(f, id)
	must(t, err)
	target := t.TempDir()
	cmd := exec.Command("sh", "-c", `zstd -d | tar -xpf - --numeric-owner -C "$1"`, "sh", target)
	cmd.Stdin = plain
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("zstd -d | tar -x: %v\n%s", err, out)
	}
	// tar sets directory mtimes itself; compare everything.
	assertSameTree(t, src, filepath.Join(target, src))
}
