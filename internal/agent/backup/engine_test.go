package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// testEngine returns an engine on fresh directories with a clock that
// advances one minute per call, so snapshot IDs and times are distinct.
func testEngine(t *testing.T) (*Engine, string) {
	t.Helper()
	destDir := t.TempDir()
	var mu sync.Mutex
	clock := time.Date(2026, 11, 26, 13, 30, 0, 0, time.UTC)
	e := &Engine{
		Dest:     Dir{Path: destDir},
		StateDir: t.TempDir(),
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Minute)
			return clock
		},
		scryptWorkFactor: 10,
	}
	return e, destDir
}

func testIdentity(t *testing.T) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testConfig(id *age.X25519Identity, paths ...string) Config {
	return Config{Name: "etc", Paths: paths, Recipients: []string{id.Recipient().String()}}
}

// writeTree creates files from a map of relative path to content; a value
// starting with "->" makes a symlink, a nil value a directory.
func writeTree(t *testing.T, root string, files map[string]*string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case content == nil:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(*content, "->"):
			if err := os.Symlink(strings.TrimPrefix(*content, "->"), p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(*content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func ptr(s string) *string { return &s }

// richTree builds a tree with every kind of entry the engine handles.
func richTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "data")
	writeTree(t, src, map[string]*string{
		"hosts":              ptr("127.0.0.1 localhost\n"),
		"empty":              ptr(""),
		"ssh/sshd_config":    ptr("PermitRootLogin no\n"),
		"ssh/keys/host_key":  ptr(strings.Repeat("secret key material\n", 5000)),
		"emptydir":           nil,
		"link-rel":           ptr("->hosts"),
		"link-abs":           ptr("->/nonexistent/target"),
		"link-dir":           ptr("->ssh"),
		"a/b/c/deep.txt":     ptr("deep"),
		"a-b":                ptr("sorts after a/ in byte order but before in walk order"),
		"bin/tool":           ptr("#!/bin/sh\necho hi\n"),
		"binary.dat":         ptr(string(bytes.Repeat([]byte{0, 1, 2, 255}, 70000))),
		"ssh/keys/other_key": ptr("other"),
	})
	must(t, os.Link(filepath.Join(src, "hosts"), filepath.Join(src, "hosts.hardlink")))
	must(t, os.Link(filepath.Join(src, "ssh/sshd_config"), filepath.Join(src, "a/b/sshd_config.link")))
	must(t, os.Chmod(filepath.Join(src, "ssh/keys/host_key"), 0o600))
	must(t, os.Chmod(filepath.Join(src, "bin/tool"), 0o4755))
	must(t, os.Chmod(filepath.Join(src, "ssh/keys"), 0o700))
	must(t, os.Chmod(filepath.Join(src, "emptydir"), 0o1777))
	must(t, os.Lchown(filepath.Join(src, "ssh/sshd_config"), 1234, 5678))
	must(t, os.Lchown(filepath.Join(src, "link-rel"), 4321, 8765))
	must(t, os.Chmod(filepath.Join(src, "bin/tool"), 0o4755)) // chown cleared nothing here, chmod is explicit
	// Distinct sub-second mtimes everywhere, directories last.
	i := 0
	var dirs []string
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		i++
		mt := time.Date(2020, 1, 2, 3, 4, 5, i*1000+123, time.UTC)
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return lutimes(p, mt)
		}
		return os.Chtimes(p, mt, mt)
	}))
	for j := len(dirs) - 1; j >= 0; j-- {
		mt := time.Date(2021, 1, 2, 3, 4, 5, j*1000+456, time.UTC)
		must(t, os.Chtimes(dirs[j], mt, mt))
	}
	return src
}

func lutimes(p string, mt time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// entryInfo is what a user would compare between two trees.
type entryInfo struct {
	Type    fs.FileMode
	Mode    fs.FileMode
	MtimeNS int64
	UID     uint32
	GID     uint32
	Content string // SHA-256 for files, target for symlinks
	LinkTo  string // first path sharing the inode, for hard links
}

func describeTree(t *testing.T, root string) map[string]entryInfo {
	t.Helper()
	out := map[string]entryInfo{}
	inodes := map[uint64]string{}
	must(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("no stat for %s", p)
		}
		e := entryInfo{Type: fi.Mode().Type(), Mode: fi.Mode() &^ fs.ModeType, MtimeNS: fi.ModTime().UnixNano(), UID: st.Uid, GID: st.Gid}
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			e.Content = fmt.Sprintf("%x", sha256.Sum256(b))
			if first, ok := inodes[st.Ino]; ok {
				e.LinkTo = first
			} else if st.Nlink > 1 {
				inodes[st.Ino] = rel
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Content, _ = os.Readlink(p)
		}
		out[rel] = e
		return nil
	}))
	return out
}

func assertSameTree(t *testing.T, want, got string) {
	t.Helper()
	w, g := describeTree(t, want), describeTree(t, got)
	for rel, we := range w {
		ge, ok := g[rel]
		if !ok {
			t.Errorf("%q missing from restored tree", rel)
			continue
		}
		if we != ge {
			t.Errorf("%q differs:\n want %+v\n  got %+v", rel, we, ge)
		}
	}
	for rel := range g {
		if _, ok := w[rel]; !ok {
			t.Errorf("%q restored but not in the source", rel)
		}
	}
}

func restoreTo(t *testing.T, e *Engine, id *age.X25519Identity, snapshot string) string {
	t.Helper()
	target := filepath.Join(t.TempDir(), "restored")
	if _, err := e.Restore(context.Background(), RestoreOptions{
		Schedule: "etc", Snapshot: snapshot, Target: target, Identities: []age.Identity{id},
	}); err != nil {
		t.Fatalf("restore %s: %v", snapshot, err)
	}
	return target
}

func TestBackup_fullRestoreIsIdentical(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	snap, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	if snap.Kind != KindFull || snap.Partial || snap.Files == 0 || snap.Bytes == 0 || len(snap.ArchiveSHA256) != 64 {
		t.Fatalf("unexpected snapshot %+v", snap)
	}
	if !idRE.MatchString(snap.ID) {
		t.Fatalf("snapshot id %q is not time-sortable", snap.ID)
	}
	var progressed int64
	target := filepath.Join(t.TempDir(), "restored")
	res, err := e.Restore(context.Background(), RestoreOptions{
		Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{id},
		Progress: func(done, total int64) {
			if done > total {
				t.Errorf("progress %d > total %d", done, total)
			}
			progressed = done
		},
	})
	must(t, err)
	if progressed != snap.Bytes {
		t.Errorf("progress ended at %d, archive has %d bytes", progressed, snap.Bytes)
	}
	if res.Files != snap.TotalFiles-countDirs(t, src) {
		t.Errorf("restored %d files, snapshot has %d entries of which %d directories", res.Files, snap.TotalFiles, countDirs(t, src))
	}
	assertSameTree(t, src, filepath.Join(target, src))

	// A second restore into the same place refuses, then overwrites when asked.
	_, err = e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: snap.ID, Target: target, Identities: []age.Identity{id}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("restore over existing files: got %v, want ErrExists", err)
	}
	must(t, os.WriteFile(filepath.Join(target, src, "hosts"), []byte("changed"), 0o644))
	_, err = e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: snap.ID, Target: target, Overwrite: true, Identities: []age.Identity{id}})
	must(t, err)
	assertSameTree(t, src, filepath.Join(target, src))
}

func countDirs(t *testing.T, root string) int {
	n := 0
	for _, e := range describeTree(t, root) {
		if e.Type == fs.ModeDir {
			n++
		}
	}
	return n
}

func TestBackup_incremental(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 10
	full, err := e.Backup(context.Background(), cfg)
	must(t, err)
	before := filepath.Join(t.TempDir(), "before")
	must(t, os.CopyFS(before, os.DirFS(src))) // only for the content check of the old snapshot

	// Modify, add, delete (a file and a directory), and change a symlink.
	must(t, os.WriteFile(filepath.Join(src, "ssh/sshd_config"), []byte("PermitRootLogin prohibit-password\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "new-file"), []byte("new"), 0o640))
	must(t, os.Remove(filepath.Join(src, "empty")))
	must(t, os.RemoveAll(filepath.Join(src, "a/b/c")))
	must(t, os.Remove(filepath.Join(src, "link-rel")))
	must(t, os.Symlink("binary.dat", filepath.Join(src, "link-rel")))

	inc, err := e.Backup(context.Background(), cfg)
	must(t, err)
	if inc.Kind != KindIncremental || inc.Parent != full.ID {
		t.Fatalf("second run: kind %s parent %s, want incremental of %s", inc.Kind, inc.Parent, full.ID)
	}
	if inc.Files >= full.Files {
		t.Errorf("incremental stored %d entries, full stored %d", inc.Files, full.Files)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, inc.ID), src))

	// The full snapshot still restores the old content.
	old := restoreTo(t, e, id, full.ID)
	for _, rel := range []string{"ssh/sshd_config", "empty", "a/b/c/deep.txt"} {
		want, _ := os.ReadFile(filepath.Join(before, rel))
		got, err := os.ReadFile(filepath.Join(old, src, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("old snapshot %s: got %q, %v; want %q", rel, got, err, want)
		}
	}

	// A no-change run stores nothing and reads no file.
	var mu sync.Mutex
	opened := 0
	e.beforeOpen = func(_ string, dir bool) error {
		if !dir {
			mu.Lock()
			opened++
			mu.Unlock()
		}
		return nil
	}
	same, err := e.Backup(context.Background(), cfg)
	must(t, err)
	if same.Kind != KindIncremental || same.Files != 0 || same.SourceBytes != 0 || opened != 0 {
		t.Errorf("no-change run: kind %s, stored %d files / %d bytes, opened %d files; want incremental, 0, 0, 0",
			same.Kind, same.Files, same.SourceBytes, opened)
	}
	if same.TotalFiles != inc.TotalFiles {
		t.Errorf("no-change run describes %d entries, previous %d", same.TotalFiles, inc.TotalFiles)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, "latest"), src))
}

func TestBackup_fullEvery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		runs  int
		age   time.Duration
		kinds string
	}{
		{"always full", 1, 0, "FFFF"},
		{"no rules means full", 0, 0, "FFFF"},
		{"every third run", 3, 0, "FIIFII"},
		// The test clock advances a minute per call, and a backup reads it
		// twice (its time, then its read-back's): backups are 2 minutes apart.
		{"by age only", 0, 270 * time.Second, "FIIFII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, _ := testEngine(t)
			id := testIdentity(t)
			src := richTree(t)
			cfg := testConfig(id, src)
			cfg.FullEveryRuns, cfg.FullEveryAge = tt.runs, tt.age
			var got string
			for range len(tt.kinds) {
				s, err := e.Backup(context.Background(), cfg)
				must(t, err)
				got += strings.ToUpper(s.Kind[:1])
			}
			if got != tt.kinds {
				t.Errorf("kinds %s, want %s", got, tt.kinds)
			}
		})
	}
}

func TestBackup_excludeAndDumps(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	cfg.Exclude = []string{"*.dat", filepath.Join(src, "ssh/keys")}
	cfg.Dumps = []Dump{{Name: "db.sql", Command: []string{"printf", "CREATE TABLE t();\\n"}}}
	_, err := e.Backup(context.Background(), cfg)
	must(t, err)
	target := restoreTo(t, e, id, "latest")
	for _, gone := range []string{"binary.dat", "ssh/keys"} {
		if _, err := os.Lstat(filepath.Join(target, src, gone)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("excluded %s was restored (%v)", gone, err)
		}
	}
	got, err := os.ReadFile(filepath.Join(target, "dumps/db.sql"))
	if err != nil || string(got) != "CREATE TABLE t();\n" {
		t.Errorf("dump restored as %q, %v", got, err)
	}

	// A failing dump fails the run and publishes nothing.
	cfg.Dumps = []Dump{{Name: "broken", Command: []string{"sh", "-c", "echo boom >&2; exit 3"}}}
	if _, err := e.Backup(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing dump: got %v, want an error with its stderr", err)
	}
	snaps, err := e.List(context.Background(), "etc")
	must(t, err)
	if len(snaps) != 1 {
		t.Errorf("after a failed dump %d snapshots are listed, want 1", len(snaps))
	}
}

func TestRestore_include(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	_, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	target := filepath.Join(t.TempDir(), "restored")
	dry, err := e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target,
		Include: []string{filepath.Join(src, "ssh")}, DryRun: true, Identities: []age.Identity{id}})
	must(t, err)
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dry run created the target")
	}
	res, err := e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target,
		Include: []string{filepath.Join(src, "ssh")}, Identities: []age.Identity{id}})
	must(t, err)
	if res != dry || res.Files != 3 {
		t.Errorf("restore %+v, dry run %+v, want 3 files", res, dry)
	}
	assertSameTree(t, filepath.Join(src, "ssh"), filepath.Join(target, src, "ssh"))
	if _, err := os.Lstat(filepath.Join(target, src, "hosts")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("hosts restored although not included")
	}
}

func TestBackup_passphraseRestoreKey(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	pass := filepath.Join(t.TempDir(), "pass")
	must(t, os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600))
	cfg := testConfig(id, src)
	cfg.PassphraseFile = pass
	_, err := e.Backup(context.Background(), cfg)
	must(t, err)

	// A fresh engine (a rebuilt host) with only the destination and the passphrase.
	fresh := &Engine{Dest: e.Dest, StateDir: t.TempDir()}
	restoreID, err := fresh.PassphraseIdentity(context.Background(), "etc", pass)
	must(t, err)
	// The fresh host has no index key; it reuses the old one, as documented.
	key, err := os.ReadFile(filepath.Join(e.StateDir, indexKeyFile))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(fresh.StateDir, indexKeyFile), key, 0o600))
	target := filepath.Join(t.TempDir(), "restored")
	_, err = fresh.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{restoreID}})
	must(t, err)
	assertSameTree(t, src, filepath.Join(target, src))

	must(t, os.WriteFile(pass, []byte("wrong"), 0o600))
	if _, err := fresh.PassphraseIdentity(context.Background(), "etc", pass); err == nil {
		t.Error("a wrong passphrase opened the restore key")
	}
}

func TestWalkOrder_matchesWalkDir(t *testing.T) {
	t.Parallel()
	src := richTree(t)
	var visited []string
	must(t, filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		visited = append(visited, p)
		return err
	}))
	for i := 1; i < len(visited); i++ {
		if !walkLess(visited[i-1], visited[i]) {
			t.Errorf("walkLess(%q, %q) = false, but WalkDir visits them in that order", visited[i-1], visited[i])
		}
	}
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "a", 0}, {"a", "a/b", -1}, {"a/b", "a-b", -1}, {"a-b", "a/b", 1}, {"a/z", "ab", -1}, {"b", "a/z", 1},
	}
	for _, tt := range tests {
		if got := walkCompare(tt.a, tt.b); got != tt.want {
			t.Errorf("walkCompare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestConfig_validate(t *testing.T) {
	t.Parallel()
	id := testIdentity(t)
	dir := t.TempDir()
	ok := Config{Name: "etc", Paths: []string{dir}, Recipients: []string{id.Recipient().String()}}
	tests := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"bad name", func(c *Config) { c.Name = "Etc/x" }, "schedule name"},
		{"no recipient", func(c *Config) { c.Recipients = nil }, "recipient"},
		{"bad recipient", func(c *Config) { c.Recipients = []string{"age1nope"} }, "recipient"},
		{"relative path", func(c *Config) { c.Paths = []string{"etc"} }, "not absolute"},
		{"dotdot", func(c *Config) { c.Paths = []string{dir + "/../x"} }, `contains ".."`},
		{"missing path", func(c *Config) { c.Paths = []string{dir + "/missing"} }, "no such file"},
		{"bad glob", func(c *Config) { c.Exclude = []string{"["} }, "exclude pattern"},
		{"dump name", func(c *Config) { c.Dumps = []Dump{{Name: "../x", Command: []string{"true"}}} }, "dump name"},
		{"dump command", func(c *Config) { c.Dumps = []Dump{{Name: "x"}} }, "empty command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tt.edit(&c)
			_, _, err := c.validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validate: got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	if got := foldRoots([]string{"/var/lib", "/etc/ssh", "/etc", "/var/lib/x", "/etc-old"}); strings.Join(got, " ") != "/etc /etc-old /var/lib" {
		t.Errorf("foldRoots = %q", got)
	}
}

// readAll is a small helper for fault tests.
func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	must(t, err)
	return b
}
