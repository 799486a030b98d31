package backup

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"filippo.io/age"
)

// faultyDest fails or cancels once more than limit bytes have been written
// to uploads in total.
type faultyDest struct {
	Destination
	mu      sync.Mutex
	written int64
	limit   int64
	err     error  // returned by Write past the limit
	cancel  func() // called once past the limit
	corrupt bool   // past the limit, store one byte flipped and report success
}

func (d *faultyDest) Create(ctx context.Context, name string) (Upload, error) {
	u, err := d.Destination.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultyUpload{Upload: u, d: d}, nil
}

type faultyUpload struct {
	Upload
	d *faultyDest
}

func (u *faultyUpload) Write(p []byte) (int, error) {
	u.d.mu.Lock()
	over := u.d.written+int64(len(p)) > u.d.limit
	u.d.written += int64(len(p))
	u.d.mu.Unlock()
	if over {
		if u.d.cancel != nil {
			u.d.cancel()
		}
		if u.d.err != nil {
			return 0, u.d.err
		}
		if u.d.corrupt {
			u.d.corrupt = false
			bad := append([]byte(nil), p...)
			bad[len(bad)/2] ^= 0x01
			if _, err := u.Upload.Write(bad); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return u.Upload.Write(p)
}

// leftovers lists temporary files in the destination and restore siblings.
func leftovers(t *testing.T, dirs ...string) []string {
	t.Helper()
	var found []string
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && (strings.HasPrefix(d.Name(), tempPrefix) || strings.HasPrefix(d.Name(), ".steward-")) {
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}

// assertRestoreLeftNothing checks that a failed restore into target
// created neither target nor a temporary directory beside it.
func assertRestoreLeftNothing(t *testing.T, target string) {
	t.Helper()
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed restore left %s", target)
	}
	if l := leftovers(t, filepath.Dir(target)); len(l) != 0 {
		t.Errorf("a failed restore left %q", l)
	}
}

func TestBackup_destinationFull(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	good, err := e.Backup(context.Background(), cfg)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(src, "big"), randomBytes(t, 1<<20), 0o644))

	for _, limit := range []int64{0, 100, 20 << 10, good.Bytes} {
		e.Dest = &faultyDest{Destination: Dir{Path: destDir}, limit: limit, err: syscall.ENOSPC}
		_, err = e.Backup(context.Background(), cfg)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("limit %d: got %v, want ENOSPC", limit, err)
		}
	}
	e.Dest = Dir{Path: destDir}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if len(snaps) != 1 || snaps[0].ID != good.ID {
		t.Fatalf("after failed runs the catalog is %+v, want only %s", snaps, good.ID)
	}
	if l := leftovers(t, destDir, e.StateDir); len(l) != 0 {
		t.Errorf("failed runs left temporary files: %q", l)
	}
	entries, _ := os.ReadDir(filepath.Join(destDir, "etc"))
	if len(entries) != 4 { // lock, archive, manifest, index
		t.Errorf("destination holds %d entries, want 4", len(entries))
	}
	target := restoreTo(t, e, id, good.ID)
	if _, err := os.Lstat(filepath.Join(target, src, "hosts")); err != nil {
		t.Errorf("old snapshot no longer restores: %v", err)
	}
}

// A destination that silently stores something else than it was given
// (bad RAM, a buggy NFS server) gets no snapshot published: the archive
// is read back before it counts.
func TestBackup_destinationCorruptsWrite(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	dest := &faultyDest{Destination: e.Dest, limit: 2000, corrupt: true}
	e.Dest = dest
	_, err := e.Backup(context.Background(), testConfig(id, src))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "reads back") {
		t.Fatalf("backup to a corrupting destination: got %v, want a read-back ErrCorrupt", err)
	}
	if dest.corrupt {
		t.Fatal("the destination never corrupted a write: the test proves nothing")
	}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if len(snaps) != 0 {
		t.Fatalf("a snapshot that read back wrong was published: %+v", snaps)
	}
	if l := leftovers(t, destDir); len(l) != 0 {
		t.Errorf("the failed backup left %q", l)
	}
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	if snap.Verified != VerifiedOK || snap.Kind != KindFull {
		t.Fatalf("next backup: %+v", snap)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, "latest"), src))
}

func TestBackup_cancelledMidStream(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	must(t, os.WriteFile(filepath.Join(src, "big"), randomBytes(t, 1<<20), 0o644))
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 5

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.Dest = &faultyDest{Destination: Dir{Path: destDir}, limit: 4 << 10, cancel: cancel}
	if _, err := e.Backup(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: got %v, want context.Canceled", err)
	}
	e.Dest = Dir{Path: destDir}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if len(snaps) != 0 {
		t.Fatalf("a cancelled run is listed: %+v", snaps)
	}
	if l := leftovers(t, destDir, e.StateDir); len(l) != 0 {
		t.Errorf("cancelled run left temporary files: %q", l)
	}

	// A kill -9 cannot clean up: simulate what it leaves (a temporary upload
	// and an archive renamed before its index was written). The next run
	// sweeps both and works.
	must(t, os.WriteFile(filepath.Join(destDir, "etc", tempPrefix+"x.tar.zst.age-123"), []byte("junk"), 0o600))
	orphan := filepath.Join(destDir, "etc", "20261126T000000Z-abcdef"+archiveSuffix)
	must(t, os.WriteFile(orphan, []byte("junk"), 0o600))
	snap, err := e.Backup(context.Background(), cfg)
	must(t, err)
	if l := leftovers(t, destDir); len(l) != 0 {
		t.Errorf("the next run did not sweep %q", l)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("orphan archive without index survived the next run")
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, snap.ID), src))
}

func TestBackup_unreadableFile(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	secret := filepath.Join(src, "ssh/keys/host_key")
	// Tests run as root, where chmod 000 does not stop reads, so the open is
	// failed through the engine's hook with the error a non-root reader gets.
	e.beforeOpen = func(name string, _ bool) error {
		if name == secret {
			return &fs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
		}
		return nil
	}
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	if !snap.Partial || len(snap.Notes) != 1 || !strings.Contains(snap.Notes[0], secret) || !strings.Contains(snap.Notes[0], "permission denied") {
		t.Fatalf("snapshot partial=%v notes=%q, want partial with a note naming %s", snap.Partial, snap.Notes, secret)
	}
	listed, err := e.List(context.Background(), "etc")
	must(t, err)
	if !listed[0].Partial || len(listed[0].Notes) != 1 {
		t.Errorf("listed snapshot partial=%v notes=%q", listed[0].Partial, listed[0].Notes)
	}
	target := restoreTo(t, e, id, snap.ID)
	if _, err := os.Lstat(filepath.Join(target, secret)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unreadable file restored: %v", err)
	}
	keys, err := os.Stat(filepath.Dir(secret))
	must(t, err)
	must(t, os.Remove(secret))
	must(t, os.Chtimes(filepath.Dir(secret), keys.ModTime(), keys.ModTime()))
	assertSameTree(t, src, filepath.Join(target, src))
}

func TestBackup_unreadableFileWithoutRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("as root chmod 000 does not make a file unreadable; TestBackup_unreadableFile covers the path via a hook")
	}
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "ok"), []byte("ok"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "locked"), []byte("no"), 0o000))
	must(t, os.Mkdir(filepath.Join(src, "lockeddir"), 0o000))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(src, "lockeddir"), 0o755) })
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	if !snap.Partial || len(snap.Notes) != 2 {
		t.Fatalf("partial=%v notes=%q, want two notes", snap.Partial, snap.Notes)
	}
}

func flipByte(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	must(t, err)
	b[len(b)/2] ^= 0x01
	must(t, os.WriteFile(file, b, 0o600))
}

func TestVerify_flippedByte(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	older, err := e.Backup(context.Background(), cfg)
	must(t, err)
	newer, err := e.Backup(context.Background(), cfg)
	must(t, err)
	ctx := context.Background()

	v, err := e.Verify(ctx, "etc", older.ID, []age.Identity{id})
	must(t, err)
	if v.Verified != VerifiedOK || v.VerifiedAt.IsZero() {
		t.Errorf("good snapshot verified as %q at %v", v.Verified, v.VerifiedAt)
	}

	flipByte(t, filepath.Join(destDir, archiveObject("etc", newer.ID)))

	// Restore before any verification still notices and leaves nothing.
	target := filepath.Join(t.TempDir(), "restored")
	_, err = e.Restore(ctx, RestoreOptions{Schedule: "etc", Snapshot: newer.ID, Target: target, Identities: []age.Identity{id}})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("restore of corrupt snapshot: got %v, want ErrCorrupt", err)
	}
	assertRestoreLeftNothing(t, target)

	if _, err := e.Verify(ctx, "etc", newer.ID, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify of flipped archive: got %v, want ErrCorrupt", err)
	}
	snaps, err := e.List(ctx, "etc")
	must(t, err)
	if snaps[1].Verified != VerifiedFailed || snaps[0].Verified != VerifiedOK {
		t.Errorf("catalog after verify: %q, %q; want ok, failed", snaps[0].Verified, snaps[1].Verified)
	}
	_, err = e.Restore(ctx, RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{id}})
	if !errors.Is(err, ErrVerificationFailed) {
		t.Fatalf("restore of a snapshot marked bad: got %v, want ErrVerificationFailed", err)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, older.ID), src))

	// The next backup does not build on the bad snapshot.
	cfg.FullEveryRuns = 10
	next, err := e.Backup(ctx, cfg)
	must(t, err)
	if next.Kind != KindFull {
		t.Errorf("after a failed verification the next snapshot is %s of %s, want full", next.Kind, next.Parent)
	}
}

func TestVerify_drillFindsBadParent(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 5
	full, err := e.Backup(context.Background(), cfg)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(src, "hosts"), []byte("changed"), 0o644))
	inc, err := e.Backup(context.Background(), cfg)
	must(t, err)
	flipByte(t, filepath.Join(destDir, archiveObject("etc", full.ID)))
	// Checking only the incremental's digest passes; the drill walks the chain.
	if _, err := e.Verify(context.Background(), "etc", inc.ID, nil); err != nil {
		t.Fatalf("digest check of the intact incremental: %v", err)
	}
	if _, err := e.Verify(context.Background(), "etc", inc.ID, []age.Identity{id}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("drill over a corrupt parent: got %v, want ErrCorrupt", err)
	}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if snaps[0].Verified != VerifiedFailed {
		t.Errorf("the corrupt full snapshot is %q, want failed", snaps[0].Verified)
	}
}

func TestRestore_wrongIdentity(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	_, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	target := filepath.Join(t.TempDir(), "restored")
	_, err = e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{testIdentity(t)}})
	if !errors.Is(err, ErrWrongKey) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("restore with a wrong key: got %v, want ErrWrongKey", err)
	}
	assertRestoreLeftNothing(t, target)
	// A wrong key is not the snapshot's fault.
	if _, err := e.Verify(context.Background(), "etc", "latest", []age.Identity{testIdentity(t)}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("verify with a wrong key: got %v", err)
	}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if snaps[0].Verified != VerifiedOK { // as the backup's read-back left it
		t.Errorf("a wrong key marked the snapshot %q", snaps[0].Verified)
	}
}

func TestRestore_hostileNames(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := filepath.Join(t.TempDir(), "data")
	names := []string{
		`it's "quoted"`, "new\nline", "$(touch pwned)", "`id`", "\xff\xfe not utf-8", "tab\there",
		" leading space", "-rf", "back\\slash", "semi;colon&amp", "dir with \x01 control/child",
		strings.Repeat("long", 60), // 240 bytes: needs PAX
		"\xe2\x80\xae right-to-left",
	}
	for i, n := range names {
		p := filepath.Join(src, n)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(n+string(rune('a'+i))), 0o644))
	}
	must(t, os.Symlink("\xff\xfe not utf-8", filepath.Join(src, "link to \xff")))
	deep := src
	for range 30 {
		deep = filepath.Join(deep, "deep-directory-name")
	}
	must(t, os.MkdirAll(deep, 0o755))
	must(t, os.WriteFile(filepath.Join(deep, "f"), []byte("deep"), 0o644))

	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	if snap.Partial {
		t.Fatalf("hostile names made the snapshot partial: %q", snap.Notes)
	}
	target := restoreTo(t, e, id, "latest")
	assertSameTree(t, src, filepath.Join(target, src))
	if _, err := os.Stat("pwned"); err == nil {
		t.Error("a file name was executed")
	}
}

func TestList_tamperedIndex(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	first, err := e.Backup(context.Background(), cfg)
	must(t, err)
	second, err := e.Backup(context.Background(), cfg)
	must(t, err)
	ctx := context.Background()

	// An edited index is reported, not skipped silently.
	ixFile := filepath.Join(destDir, indexObject("etc", second.ID))
	orig, err := os.ReadFile(ixFile)
	must(t, err)
	edited := strings.Replace(string(orig), `"kind": "full"`, `"kind": "incremental"`, 1)
	if edited == string(orig) {
		t.Fatal("test did not edit the index")
	}
	must(t, os.WriteFile(ixFile, []byte(edited), 0o600))
	snaps, err := e.List(ctx, "etc")
	if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), second.ID) {
		t.Fatalf("list with an edited index: got %v, want ErrTampered naming %s", err, second.ID)
	}
	if len(snaps) != 1 || snaps[0].ID != first.ID {
		t.Errorf("list returned %+v, want only the authentic %s", snaps, first.ID)
	}
	_, err = e.Restore(ctx, RestoreOptions{Schedule: "etc", Snapshot: second.ID, Target: filepath.Join(t.TempDir(), "r"), Identities: []age.Identity{id}})
	if !errors.Is(err, ErrTampered) {
		t.Errorf("restore of a snapshot with an edited index: got %v", err)
	}

	// An index copied under another name is caught too.
	must(t, os.WriteFile(ixFile, readFile(t, filepath.Join(destDir, indexObject("etc", first.ID))), 0o600))
	if _, err := e.List(ctx, "etc"); !errors.Is(err, ErrTampered) {
		t.Errorf("list with a renamed index: got %v, want ErrTampered", err)
	}
	must(t, os.WriteFile(ixFile, orig, 0o600))

	// A swapped archive (a valid archive of another snapshot) fails verification.
	must(t, os.WriteFile(filepath.Join(destDir, archiveObject("etc", second.ID)), readFile(t, filepath.Join(destDir, archiveObject("etc", first.ID))), 0o600))
	if _, err := e.Verify(ctx, "etc", second.ID, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("verify of a swapped archive: got %v, want ErrCorrupt", err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	must(t, err)
	return b
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	f, err := os.Open(name)
	must(t, err)
	defer func() { _ = f.Close() }()
	return readAll(t, f)
}

func TestRemove(t *testing.T) {
	t.Parallel()
	e, destDir := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	a, err := e.Backup(context.Background(), cfg)
	must(t, err)
	b, err := e.Backup(context.Background(), cfg)
	must(t, err)
	must(t, e.Remove(context.Background(), "etc", []string{a.ID}))
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if len(snaps) != 1 || snaps[0].ID != b.ID {
		t.Fatalf("after remove: %+v", snaps)
	}
	matches, _ := filepath.Glob(filepath.Join(destDir, "etc", a.ID+"*"))
	if len(matches) != 0 {
		t.Errorf("remove left %q", matches)
	}
	if err := e.Remove(context.Background(), "etc", []string{"../../x"}); err == nil {
		t.Error("remove accepted a path as id")
	}
}
