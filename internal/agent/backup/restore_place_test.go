package backup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
)

// inPlaceFixture backs up a tree and copies it to where an in-place
// restore into target finds it, as on a host restoring over live data.
type inPlaceFixture struct {
	e      *Engine
	id     *age.X25519Identity
	src    string // the backed-up tree
	target string // restore target; target+src is the live copy
}

func newInPlaceFixture(t *testing.T, files map[string]*string, modes map[string]os.FileMode) *inPlaceFixture {
	t.Helper()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := filepath.Join(t.TempDir(), "home", "u")
	writeTree(t, src, files)
	for rel, mode := range modes {
		must(t, os.Chmod(filepath.Join(src, rel), mode))
	}
	_, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	target := t.TempDir()
	live := filepath.Join(target, src)
	must(t, os.MkdirAll(filepath.Dir(live), 0o755))
	if out, err := exec.Command("cp", "-a", src, live).CombinedOutput(); err != nil {
		t.Fatalf("copy the live tree: %v\n%s", err, out)
	}
	return &inPlaceFixture{e: e, id: id, src: src, target: target}
}

func (f *inPlaceFixture) live(rel string) string { return filepath.Join(f.target, f.src, rel) }

func (f *inPlaceFixture) restore(include ...string) error {
	_, err := f.e.Restore(context.Background(), RestoreOptions{
		Schedule: "etc", Snapshot: "latest", Target: f.target, Overwrite: true,
		Include: include, Identities: []age.Identity{f.id},
	})
	return err
}

// victimFile is a root-only file outside the tree, with a fixed mtime.
func victimFile(t *testing.T) (string, os.FileInfo) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passwd")
	must(t, os.WriteFile(p, []byte("root:x:0:0::/root:/bin/sh\n"), 0o600))
	must(t, os.Chtimes(p, time.Unix(1e9, 0), time.Unix(1e9, 0)))
	fi, err := os.Stat(p)
	must(t, err)
	return p, fi
}

func assertUntouched(t *testing.T, p string, before os.FileInfo) {
	t.Helper()
	fi, err := os.Lstat(p)
	must(t, err)
	if fi.Mode() != before.Mode() || !fi.ModTime().Equal(before.ModTime()) || fi.Size() != before.Size() {
		t.Errorf("%s changed: %v %v %d bytes, was %v %v %d bytes", p, fi.Mode(), fi.ModTime(), fi.Size(), before.Mode(), before.ModTime(), before.Size())
	}
}

// TestRestore_inPlaceSymlinkSwappedBeforeMetadata is finding 1 of the
// security review, forced deterministically: a user swaps a directory of
// the target for a symlink to /etc/passwd after the restore merged into it
// and before it set the directory's mode. The mode goes to the directory
// the restore merged through, never to what the name points to now.
func TestRestore_inPlaceSymlinkSwappedBeforeMetadata(t *testing.T) {
	t.Parallel()
	f := newInPlaceFixture(t, map[string]*string{"d/f1": ptr("1"), "d/f2": ptr("2"), "z/f": ptr("z")}, map[string]os.FileMode{"d": 0o777})
	victim, before := victimFile(t)
	d := f.live("d")
	f.e.afterMove = func(rel string) {
		if strings.HasSuffix(rel, "/home/u/d") { // merged, metadata next
			must(t, os.Rename(d, d+".moved"))
			must(t, os.Symlink(victim, d))
		}
	}
	must(t, f.restore())
	assertUntouched(t, victim, before)
	if fi, err := os.Stat(d + ".moved"); err != nil || fi.Mode().Perm() != 0o777 {
		t.Errorf("the directory merged into has %v (%v), want the snapshot's 0777", fi.Mode(), err)
	}
}

// TestRestore_inPlaceParentSwappedMidMerge: a directory above the files
// being moved is swapped for a symlink to another directory while the
// merge is inside it; the remaining files still go into the directory it
// opened, none into the one the symlink names.
func TestRestore_inPlaceParentSwappedMidMerge(t *testing.T) {
	t.Parallel()
	files := map[string]*string{}
	for _, n := range []string{"1", "2", "3", "4", "5", "6"} {
		files["a/b/"+n] = ptr(n)
	}
	f := newInPlaceFixture(t, files, nil)
	elsewhere := t.TempDir()
	must(t, os.Mkdir(filepath.Join(elsewhere, "b"), 0o755))
	a := f.live("a")
	swapped := false
	f.e.afterMove = func(rel string) {
		if !swapped && strings.Contains(rel, "/home/u/a/b/") {
			swapped = true
			must(t, os.Rename(a, a+".moved"))
			must(t, os.Symlink(elsewhere, a))
		}
	}
	must(t, f.restore())
	if got, _ := os.ReadDir(filepath.Join(elsewhere, "b")); len(got) != 0 {
		t.Errorf("the restore wrote %d entries through the swapped-in symlink", len(got))
	}
	if got, _ := os.ReadDir(a + ".moved/b"); len(got) != len(files) {
		t.Errorf("the directory merged into has %d entries, want %d", len(got), len(files))
	}
}

// TestRestore_inPlaceKeepsParents is finding 2: a restore of one file in
// place, or of a subtree whose parents the snapshot does not hold, leaves
// the parent directories' owner, mode and mtime as they are.
func TestRestore_inPlaceKeepsParents(t *testing.T) {
	t.Parallel()
	f := newInPlaceFixture(t, map[string]*string{"etc/hostname": ptr("h1\n"), "etc/ssh/sshd_config": ptr("x")}, map[string]os.FileMode{"etc": 0o750})
	// The live parents differ from the snapshot: another owner and mode.
	stamp := time.Unix(1.5e9, 0)
	for _, p := range []string{f.live("etc"), f.live(""), filepath.Dir(f.live(""))} {
		must(t, os.Chown(p, 65534, 65534))
		must(t, os.Chmod(p, 0o755))
		must(t, os.Chtimes(p, stamp, stamp))
	}
	must(t, os.WriteFile(f.live("etc/hostname"), []byte("changed\n"), 0o644))
	must(t, f.restore(filepath.Join(f.src, "etc/hostname")))
	if got := string(readFile(t, f.live("etc/hostname"))); got != "h1\n" {
		t.Errorf("hostname restored as %q", got)
	}
	// etc's mtime moves with the file renamed into it; nothing else changes.
	for i, p := range []string{f.live("etc"), f.live(""), filepath.Dir(f.live(""))} {
		fi, err := os.Stat(p)
		must(t, err)
		st := statOf(t, fi)
		if fi.Mode().Perm() != 0o755 || st.Uid != 65534 || (i > 0 && !fi.ModTime().Equal(stamp)) {
			t.Errorf("%s is now %v uid %d mtime %v; a restore must not change a parent it did not restore", p, fi.Mode(), st.Uid, fi.ModTime())
		}
	}

	// Restoring the whole tree restores etc itself, but still not the
	// parents the snapshot lacks (home, and above).
	must(t, f.restore())
	if fi, err := os.Stat(f.live("etc")); err != nil || fi.Mode().Perm() != 0o750 || statOf(t, fi).Uid != 0 {
		t.Errorf("etc restored as %v (%v), want the snapshot's 0750 root", fi.Mode(), err)
	}
	fi, err := os.Stat(filepath.Dir(f.live("")))
	must(t, err)
	if fi.Mode().Perm() != 0o755 || statOf(t, fi).Uid != 65534 {
		t.Errorf("%s is now %v uid %d", filepath.Dir(f.live("")), fi.Mode(), statOf(t, fi).Uid)
	}

	// Into a new target, a parent gets the snapshot's own metadata.
	fresh := filepath.Join(t.TempDir(), "new")
	_, err = f.e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: fresh,
		Include: []string{filepath.Join(f.src, "etc/hostname")}, Identities: []age.Identity{f.id}})
	must(t, err)
	if fi, err := os.Stat(filepath.Join(fresh, f.src, "etc")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("etc in a new target is %v (%v), want the snapshot's 0750", fi.Mode(), err)
	}
}

// TestRestore_targetThroughSymlink: a target whose path has a symlink in
// it is refused, and nothing is written where the symlink points.
func TestRestore_targetThroughSymlink(t *testing.T) {
	t.Parallel()
	f := newInPlaceFixture(t, map[string]*string{"f": ptr("x")}, nil)
	elsewhere := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(elsewhere, link))
	for _, target := range []string{link, filepath.Join(link, "below")} {
		_, err := f.e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{f.id}})
		if err == nil || !strings.Contains(err.Error(), "is a symlink") {
			t.Errorf("restore into %s: %v, want a refusal naming the symlink", target, err)
		}
	}
	if got, _ := os.ReadDir(elsewhere); len(got) != 0 {
		t.Errorf("the restore wrote %v through the symlink", got)
	}
}

// TestRestore_conflictAppearsAfterCheck: a file that appears where the
// restore moves a new one, between its check and the move, is kept and
// the restore says so, without overwrite.
func TestRestore_conflictAppearsAfterCheck(t *testing.T) {
	t.Parallel()
	f := newInPlaceFixture(t, map[string]*string{"d/x": ptr("x"), "d/y": ptr("y")}, nil)
	must(t, os.Remove(f.live("d/x")))
	must(t, os.Remove(f.live("d/y")))
	f.e.afterMove = func(string) {
		for _, n := range []string{"x", "y"} { // whichever moves second meets it
			if fd, err := os.OpenFile(f.live("d/"+n), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
				_, _ = fd.WriteString("mine")
				_ = fd.Close()
			}
		}
	}
	_, err := f.e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: f.target, Identities: []age.Identity{f.id}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("restore: %v, want ErrExists", err)
	}
	if string(readFile(t, f.live("d/x"))) != "mine" && string(readFile(t, f.live("d/y"))) != "mine" {
		t.Error("the file that appeared after the check was replaced")
	}
}

func statOf(t *testing.T, fi os.FileInfo) *syscall.Stat_t {
	t.Helper()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("%s: no stat data", fi.Name())
	}
	return st
}

// TestRestore_sweepsWhatAKilledRestoreLeft: a restore killed with SIGKILL
// leaves its work directory (plaintext) beside the target; the next
// restore there removes it, but never one a running restore holds.
func TestRestore_sweepsWhatAKilledRestoreLeft(t *testing.T) {
	t.Parallel()
	f := newInPlaceFixture(t, map[string]*string{"f": ptr("secret")}, nil)
	parent := openTestDir(t, f.target)
	killed, err := newWorkDir(parent, ".steward-restore-")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(f.target, killed.name, "plain.txt"), []byte("plaintext"), 0o600))
	killed.dir.release() // the process died: its descriptors, and so its lock, are gone
	killed.tree.release()
	running, err := newWorkDir(parent, ".steward-restore-")
	must(t, err)
	defer running.remove()

	target := filepath.Join(f.target, "new")
	_, err = f.e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{f.id}})
	must(t, err)
	if _, err := os.Lstat(filepath.Join(f.target, killed.name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed restore's work directory is still there (%v)", err)
	}
	if _, err := os.Lstat(filepath.Join(f.target, running.name)); err != nil {
		t.Errorf("the running restore's work directory was swept: %v", err)
	}
}
