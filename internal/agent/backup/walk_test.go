package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// archivePlain returns the decrypted, decompressed tar stream of a snapshot.
func archivePlain(t *testing.T, destDir string, id *age.X25519Identity, snap string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(destDir, archiveObject("etc", snap)))
	must(t, err)
	defer func() { _ = f.Close() }()
	dec, err := age.Decrypt(f, id)
	must(t, err)
	zr, err := zstd.NewReader(dec)
	must(t, err)
	defer zr.Close()
	b, err := io.ReadAll(zr)
	must(t, err)
	return b
}

// TestBackup_swappedEntriesAreNotFollowed races the walk deterministically:
// between the walk seeing an entry and opening it, the entry's owner swaps
// it for a symlink to a root-only file or directory outside the tree (or a
// FIFO). The snapshot must hold none of what the symlinks point to, and the
// run must neither hang nor fail.
func TestBackup_swappedEntriesAreNotFollowed(t *testing.T) {
	t.Parallel()
	secret := []byte("root-only secret " + rand.Text())
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret.txt"), secret, 0o600))
	must(t, os.Mkdir(filepath.Join(outside, "inner"), 0o700))
	must(t, os.WriteFile(filepath.Join(outside, "inner", "deep.txt"), secret, 0o600))

	toSymlink := func(target string) func(string) error {
		return func(p string) error {
			if err := os.RemoveAll(p); err != nil {
				return err
			}
			return os.Symlink(target, p)
		}
	}
	tests := []struct {
		name string
		// entry is swapped by swap when the walk is about to open it (as a
		// directory if dir); with changedFirst it was in the parent snapshot
		// and changed since, so the walk lstats it before opening it.
		entry        string
		dir          bool
		changedFirst bool
		swap         func(p string) error
	}{
		{name: "new file to symlink", entry: "flip", swap: toSymlink(filepath.Join(outside, "secret.txt"))},
		{name: "changed file to symlink", entry: "flip", changedFirst: true, swap: toSymlink(filepath.Join(outside, "secret.txt"))},
		{name: "directory to symlink", entry: "d", dir: true, swap: toSymlink(outside)},
		{name: "changed directory to symlink", entry: "d", dir: true, changedFirst: true, swap: toSymlink(outside)},
		{name: "file to fifo", entry: "flip", swap: func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return syscall.Mkfifo(p, 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, destDir := testEngine(t)
			id := testIdentity(t)
			src := filepath.Join(t.TempDir(), "home")
			writeTree(t, src, map[string]*string{"flip": ptr("the user's own file\n"), "d/own.txt": ptr("own\n"), "z": ptr("after\n")})
			cfg := testConfig(id, src)
			cfg.FullEveryRuns = 100
			if tt.changedFirst {
				_, err := e.Backup(context.Background(), cfg)
				must(t, err)
				must(t, os.WriteFile(filepath.Join(src, "flip"), []byte("changed, and longer than before\n"), 0o644))
				must(t, os.WriteFile(filepath.Join(src, "d/new.txt"), []byte("new\n"), 0o644))
			}
			victim := filepath.Join(src, tt.entry)
			swapped := false
			e.beforeOpen = func(abs string, dir bool) error {
				if abs == victim && dir == tt.dir && !swapped {
					swapped = true
					return tt.swap(abs)
				}
				return nil
			}
			snap, err := e.Backup(context.Background(), cfg)
			must(t, err)
			if !swapped {
				t.Fatalf("the walk never opened %s", victim)
			}
			if tt.changedFirst && snap.Kind != KindIncremental {
				t.Fatalf("second run is %s, want incremental", snap.Kind)
			}
			if plain := archivePlain(t, destDir, id, snap.ID); bytes.Contains(plain, secret) {
				t.Fatalf("the archive holds the root-only secret reached through the swapped %s", tt.entry)
			}
			if !strings.Contains(strings.Join(snap.Notes, "\n"), victim+": changed type during the backup") {
				t.Errorf("notes %q do not say %s changed type", snap.Notes, victim)
			}
			restored := filepath.Join(restoreTo(t, e, id, snap.ID), src)
			for _, rel := range []string{"flip", "d/own.txt", "d/secret.txt", "d/inner/deep.txt"} {
				if b, err := os.ReadFile(filepath.Join(restored, rel)); err == nil && bytes.Contains(b, secret) {
					t.Errorf("restored %s holds the secret", rel)
				}
			}
			// What was not swapped is backed up as usual.
			if b, err := os.ReadFile(filepath.Join(restored, "z")); err != nil || string(b) != "after\n" {
				t.Errorf("restored z: %q, %v", b, err)
			}
		})
	}
}

// TestBackup_symlinkInConfiguredPath: a directory of a configured path that
// is a symlink is refused with an error naming it, since whoever owns the
// directory it sits in could point it anywhere; a symlink as the last
// component is backed up as a symlink.
func TestBackup_symlinkInConfiguredPath(t *testing.T) {
	t.Parallel()
	secret := []byte("root-only secret " + rand.Text())
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret.txt"), secret, 0o600))
	home := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(home, "proj")))

	e, destDir := testEngine(t)
	id := testIdentity(t)
	_, err := e.Backup(context.Background(), testConfig(id, filepath.Join(home, "proj", "secret.txt")))
	want := filepath.Join(home, "proj") + " is a symbolic link"
	if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrSymlinkInPath) {
		t.Fatalf("backup of a path through a symlink: %v, want an error saying %q", err, want)
	}

	snap, err := e.Backup(context.Background(), testConfig(id, filepath.Join(home, "proj")))
	must(t, err)
	if plain := archivePlain(t, destDir, id, snap.ID); bytes.Contains(plain, secret) {
		t.Fatal("a configured path that is a symlink was followed")
	}
	got, err := os.Readlink(filepath.Join(restoreTo(t, e, id, snap.ID), home, "proj"))
	if err != nil || got != outside {
		t.Errorf("restored %s/proj: link to %q (%v), want %q", home, got, err, outside)
	}
}

// TestReadDirAt_matchesOSReadDir: the walk's directory reader sees the same
// names and types, in the same order, as os.ReadDir.
func TestReadDirAt_matchesOSReadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 300 { // several getdents calls with a small buffer
		name := fmt.Sprintf("f%03d-%s", (i*7919)%300, strings.Repeat("x", i%40))
		must(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(t, os.Symlink("sub", filepath.Join(dir, "link")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "\xff not utf-8"), nil, 0o644))

	fd, err := openDirAt(unix.AT_FDCWD, dir)
	must(t, err)
	defer closeFD(fd)
	got, err := readDirAt(fd, make([]byte, 1024))
	must(t, err)
	want, err := os.ReadDir(dir)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("readDirAt found %d entries, os.ReadDir %d", len(got), len(want))
	}
	dtypes := map[uint8]os.FileMode{unix.DT_REG: 0, unix.DT_DIR: os.ModeDir, unix.DT_LNK: os.ModeSymlink, unix.DT_FIFO: os.ModeNamedPipe}
	for i, w := range want {
		if got[i].name != w.Name() || dtypes[got[i].typ] != w.Type() {
			t.Errorf("entry %d: %q type %d, want %q %v", i, got[i].name, got[i].typ, w.Name(), w.Type())
		}
	}
}
