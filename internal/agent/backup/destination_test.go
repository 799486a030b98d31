package backup

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// outsideDir is a directory outside the destination that must stay empty.
func outsideDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 0 {
			t.Errorf("something was written outside the destination, into %s: %v %v", dir, entries, err)
		}
	})
	return dir
}

// TestDir_plantedSymlinksAreNotFollowed: whoever may write a shared
// destination plants symlinks under the names the agent uses. A backup
// then fails or works, but writes nothing where the symlinks point.
func TestDir_plantedSymlinksAreNotFollowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		plant   func(t *testing.T, dest, outside string)
		wantErr string // "" when the backup succeeds despite the plant
	}{
		{"lock file", func(t *testing.T, dest, outside string) {
			must(t, os.Mkdir(filepath.Join(dest, "etc"), 0o700))
			must(t, os.Symlink(filepath.Join(outside, "nologin"), filepath.Join(dest, "etc", lockName)))
		}, "is a symbolic link, which the destination never follows"},
		{"schedule directory", func(t *testing.T, dest, outside string) {
			must(t, os.Symlink(outside, filepath.Join(dest, "etc")))
		}, "/etc is a symbolic link"},
		{"fifo as lock file", func(t *testing.T, dest, _ string) {
			must(t, os.Mkdir(filepath.Join(dest, "etc"), 0o700))
			must(t, syscall.Mkfifo(filepath.Join(dest, "etc", lockName), 0o600))
		}, "not a regular file"},
	}
	for _, tt := range tests {
		for _, shared := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "", true: " shared"}[shared], func(t *testing.T) {
				t.Parallel()
				e, dest := testEngine(t)
				e.Dest = Dir{Path: dest, Shared: shared}
				outside := outsideDir(t)
				tt.plant(t, dest, outside)
				id := testIdentity(t)
				_, err := e.Backup(context.Background(), testConfig(id, richTree(t)))
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("backup: %v, want an error saying %q", err, tt.wantErr)
				}
			})
		}
	}
}

// TestDir_plantedUploadNames: symlinks under the temporary name an upload
// tries first, under its final name and under an object's name are never
// followed: the upload takes the next name, the rename replaces the
// symlink, and opening the object fails.
//
// Not parallel: it replaces tempSuffix.
func TestDir_plantedUploadNames(t *testing.T) {
	next := 0
	saved := tempSuffix
	tempSuffix = func() string { next++; return string(rune('0' + next)) }
	t.Cleanup(func() { tempSuffix = saved })

	dest, outside := t.TempDir(), outsideDir(t)
	d := Dir{Path: dest, Shared: true}
	must(t, os.Mkdir(filepath.Join(dest, "etc"), 0o700))
	must(t, os.Symlink(filepath.Join(outside, "tmp"), filepath.Join(dest, "etc", tempPrefix+"obj-1")))
	must(t, os.Symlink(filepath.Join(outside, "final"), filepath.Join(dest, "etc", "obj")))

	up, err := d.Create(context.Background(), "etc/obj")
	must(t, err)
	if _, err := up.Write([]byte("content")); err != nil {
		t.Fatal(err)
	}
	must(t, up.Commit())
	if b, err := os.ReadFile(filepath.Join(dest, "etc", "obj")); err != nil || string(b) != "content" {
		t.Errorf("committed object: %q, %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(dest, "etc", tempPrefix+"obj-1")); err != nil || target != filepath.Join(outside, "tmp") {
		t.Errorf("the planted temporary name was touched: %q, %v", target, err)
	}

	secret := filepath.Join(t.TempDir(), "secret")
	must(t, os.WriteFile(secret, []byte("root only"), 0o600))
	must(t, os.Symlink(secret, filepath.Join(dest, "etc", "x.index.json")))
	if rc, err := d.Open(context.Background(), "etc/x.index.json"); err == nil {
		b, _ := io.ReadAll(rc)
		_ = rc.Close()
		t.Errorf("opened a symlink in the destination and read %q", b)
	}
	must(t, d.Remove(context.Background(), "etc/x.index.json"))
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("Remove reached the symlink's target: %v", err)
	}
}

// TestDir_refusesDestinationOthersCanChange: unless the destination is
// shared, every directory from / down to it must be one only root can
// change; the error names the directory, its owner and mode, and the
// setting that allows it.
func TestDir_refusesDestinationOthersCanChange(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give directories to another user")
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, base string) (dest, culprit string)
		wantErr string
	}{
		{"destination owned by a user", func(t *testing.T, base string) (string, string) {
			dest := filepath.Join(base, "dest")
			must(t, os.Mkdir(dest, 0o755))
			must(t, os.Chown(dest, 1001, 1001))
			return dest, dest
		}, "is owned by another user (owner uid 1001"},
		{"parent owned by a user", func(t *testing.T, base string) (string, string) {
			home := filepath.Join(base, "home")
			must(t, os.Mkdir(home, 0o755))
			must(t, os.Chown(home, 1001, 1001))
			must(t, os.Mkdir(filepath.Join(home, "backups"), 0o700)) // root's, in the user's directory
			return filepath.Join(home, "backups"), home
		}, "is owned by another user (owner uid 1001"},
		{"group-writable destination", func(t *testing.T, base string) (string, string) {
			dest := filepath.Join(base, "dest")
			must(t, os.Mkdir(dest, 0o755))
			must(t, os.Chmod(dest, 0o775))
			return dest, dest
		}, "is writable by its group (owner uid 0"},
		{"sticky world-writable destination", func(t *testing.T, base string) (string, string) {
			dest := filepath.Join(base, "dest")
			must(t, os.Mkdir(dest, 0o755))
			must(t, os.Chmod(dest, 0o1777))
			return dest, dest
		}, "is writable by others (owner uid 0"},
		{"schedule directory owned by a user", func(t *testing.T, base string) (string, string) {
			dest := filepath.Join(base, "dest")
			must(t, os.MkdirAll(filepath.Join(dest, "etc"), 0o700))
			must(t, os.Chown(filepath.Join(dest, "etc"), 1001, 1001))
			return dest, filepath.Join(dest, "etc")
		}, "is owned by another user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dest, culprit := tt.setup(t, t.TempDir())
			e, _ := testEngine(t)
			id := testIdentity(t)
			src := richTree(t)
			e.Dest = Dir{Path: dest}
			_, err := e.Backup(context.Background(), testConfig(id, src))
			want := culprit + " " + tt.wantErr
			if err == nil || !errors.Is(err, ErrUnsafeDestination) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "destination_shared = true") {
				t.Fatalf("backup to %s: %v\nwant an error naming %q and destination_shared", dest, err, want)
			}
			if entries, _ := os.ReadDir(dest); len(entries) > 1 || (len(entries) == 1 && entries[0].Name() != "etc") {
				t.Errorf("the refused destination got %v", entries)
			}
			if culprit != filepath.Join(dest, "etc") {
				if err := (Dir{Path: dest}).Check(); !errors.Is(err, ErrUnsafeDestination) {
					t.Errorf("Check: %v, want the refusal", err)
				}
			}
			// Shared, the same destination is used, and nothing escapes it.
			e.Dest = Dir{Path: dest, Shared: true}
			must(t, (Dir{Path: dest, Shared: true}).Check())
			snap, err := e.Backup(context.Background(), testConfig(id, src))
			must(t, err)
			assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, snap.ID), src))
		})
	}
}

// TestDir_symlinkInDestinationPath: a destination reached through a
// symlink is refused, shared or not, naming the symlink; Check says so
// before anything is written, and accepts a path not created yet.
func TestDir_symlinkInDestinationPath(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	realDir := filepath.Join(base, "real")
	must(t, os.Mkdir(realDir, 0o700))
	must(t, os.Symlink(realDir, filepath.Join(base, "link")))
	for _, shared := range []bool{false, true} {
		d := Dir{Path: filepath.Join(base, "link", "backups"), Shared: shared}
		want := filepath.Join(base, "link") + " is a symbolic link"
		if err := d.Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check of %s (shared %v): %v, want %q", d.Path, shared, err, want)
		}
		if _, err := d.Lock(context.Background(), "etc"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Lock in %s (shared %v): %v, want %q", d.Path, shared, err, want)
		}
	}
	if entries, _ := os.ReadDir(realDir); len(entries) != 0 {
		t.Errorf("written through the symlink: %v", entries)
	}
	if err := (Dir{Path: filepath.Join(base, "not", "yet")}).Check(); err != nil {
		t.Errorf("Check of a destination still to be created: %v", err)
	}
	if _, err := (Dir{Path: filepath.Join(base, "missing")}).List(context.Background(), "etc/"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing destination: %v", err)
	}
}
