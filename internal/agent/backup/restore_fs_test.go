package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// TestRestore_chainChangesTypes restores an incremental in which paths
// changed type: each name is taken when the later snapshot stores it, by a
// directory (under a small file, which a writer creates, and under a large
// one, which the extractor creates), a file or a symlink.
func TestRestore_chainChangesTypes(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 10
	_, err := e.Backup(context.Background(), cfg)
	must(t, err)

	at := func(rel string) string { return filepath.Join(src, rel) }
	must(t, os.RemoveAll(at("ssh/keys")))
	must(t, os.WriteFile(at("ssh/keys"), []byte("a directory before"), 0o640))
	must(t, os.RemoveAll(at("a/b")))
	must(t, os.WriteFile(at("a/b"), bytes.Repeat([]byte("large, written in chunks "), 3*writeChunk/25), 0o600))
	must(t, os.Remove(at("hosts.hardlink"))) // hosts itself changes too: its link count
	must(t, os.Mkdir(at("hosts.hardlink"), 0o750))
	must(t, os.WriteFile(at("hosts.hardlink/inside"), []byte("a file before"), 0o644))
	must(t, os.Remove(at("link-abs")))
	must(t, os.WriteFile(at("link-abs"), []byte("a symlink before"), 0o644))
	must(t, os.Remove(at("bin/tool")))
	must(t, os.Symlink("../hosts", at("bin/tool")))
	must(t, os.RemoveAll(at("emptydir")))
	must(t, os.Symlink("ssh", at("emptydir")))

	inc, err := e.Backup(context.Background(), cfg)
	must(t, err)
	if inc.Kind != KindIncremental {
		t.Fatalf("second run is %s, want incremental", inc.Kind)
	}
	assertSameTree(t, src, filepath.Join(restoreTo(t, e, id, inc.ID), src))
}

// TestRestore_includeHardLinksInChain restores only y from a chain in
// which two files outside it, each hard-linked from y, change: each
// snapshot stores them again, and each copy kept for the links must get
// its own name.
func TestRestore_includeHardLinksInChain(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := filepath.Join(t.TempDir(), "data")
	must(t, os.MkdirAll(filepath.Join(src, "x"), 0o755))
	must(t, os.MkdirAll(filepath.Join(src, "y"), 0o755))
	for _, n := range []string{"a", "b"} {
		// x sorts first, so the archive stores x/n and links y/n to it.
		must(t, os.WriteFile(filepath.Join(src, "x", n), []byte("first "+n), 0o640))
		must(t, os.Link(filepath.Join(src, "x", n), filepath.Join(src, "y", n)))
	}
	cfg := testConfig(id, src)
	cfg.FullEveryRuns = 10
	_, err := e.Backup(context.Background(), cfg)
	must(t, err)
	for _, n := range []string{"a", "b"} {
		must(t, os.WriteFile(filepath.Join(src, "x", n), []byte("second "+n), 0o640))
	}
	inc, err := e.Backup(context.Background(), cfg)
	must(t, err)
	if inc.Kind != KindIncremental {
		t.Fatalf("second run is %s, want incremental", inc.Kind)
	}
	target := filepath.Join(t.TempDir(), "restored")
	_, err = e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: inc.ID, Target: target,
		Include: []string{filepath.Join(src, "y")}, Identities: []age.Identity{id}})
	must(t, err)
	assertSameTree(t, filepath.Join(src, "y"), filepath.Join(target, src, "y"))
	if _, err := os.Lstat(filepath.Join(target, src, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("x restored although not included")
	}
	if l := leftovers(t, filepath.Dir(target)); len(l) != 0 {
		t.Errorf("the restore left %q", l)
	}
}

// TestRestore_intoSetgidDirectory restores beside a target in a setgid
// directory, whose group every new file and directory would inherit.
func TestRestore_intoSetgidDirectory(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to restore owners")
	}
	e, _ := testEngine(t)
	id := testIdentity(t)
	src := richTree(t)
	_, err := e.Backup(context.Background(), testConfig(id, src))
	must(t, err)
	parent := t.TempDir()
	must(t, os.Chown(parent, 0, 4242))
	must(t, os.Chmod(parent, fs.ModeSetgid|0o775))
	target := filepath.Join(parent, "restored")
	_, err = e.Restore(context.Background(), RestoreOptions{Schedule: "etc", Snapshot: "latest", Target: target, Identities: []age.Identity{id}})
	must(t, err)
	assertSameTree(t, src, filepath.Join(target, src))
}

// TestDirStack_neverFollowsSymlinks checks that no directory is reached,
// created or emptied through a symlink, wherever it points.
func TestDirStack_neverFollowsSymlinks(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	must(t, os.Mkdir(filepath.Join(outside, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "sub", "keep"), []byte("not the restore's"), 0o644))
	dir := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	must(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
	must(t, os.Symlink("../escape", filepath.Join(dir, "real", "up")))
	must(t, os.Symlink(".", filepath.Join(dir, "self")))

	top := openTestDir(t, dir)
	s := dirStack{top: top}
	defer s.reset()
	for _, p := range []string{"escape", "escape/sub", "escape/new", "real/up", "real/up/sub", "real/up/new/deeper", "self/real"} {
		if _, err := s.enter(p, true); !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("enter %q: got %v, want a refusal to follow the symlink", p, err)
		}
		if d, err := s.lookup(p); err == nil {
			d.release()
			t.Errorf("lookup %q followed a symlink", p)
		}
	}
	if got, err := os.ReadDir(outside); err != nil || len(got) != 1 {
		t.Errorf("outside directory now holds %v (%v), want only sub", got, err)
	}

	// Removing a tree removes the symlinks in it, never what they point to.
	must(t, os.Symlink(filepath.Join(outside, "sub"), filepath.Join(dir, "real", "abs")))
	if err := removeAllAt(top.fd, "real"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "real")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("real not removed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "sub", "keep")); err != nil {
		t.Errorf("removing the restore's tree reached through a symlink: %v", err)
	}
}

// TestExtract_hostileArchive feeds the extractor entries that try to use
// a symlink from the same archive to write or link outside the restore
// directory, and checks that each fails and nothing outside changes.
func TestExtract_hostileArchive(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("host's secret"), 0o600))
	dir := t.TempDir()

	tests := []struct {
		name  string
		entry testEntry
	}{
		{"file below a symlink", testEntry{name: "d/out/evil", content: "written outside?"}},
		{"large file below a symlink", testEntry{name: "d/out/big", content: strings.Repeat("x", writeChunk+1)}},
		{"directory below a symlink", testEntry{name: "d/out/newdir", typ: tarDir}},
		{"symlink below a symlink", testEntry{name: "d/out/link", typ: tarSymlink, link: "/etc"}},
		{"hard link to a file below a symlink", testEntry{name: "d/stolen", typ: tarLink, link: "d/out/secret"}},
		{"hard link below a symlink", testEntry{name: "d/out/linked", typ: tarLink, link: "d/mine"}},
		{"hard link climbing out", testEntry{name: "d/up", typ: tarLink, link: "d/../../secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			must(t, os.Mkdir(sub, 0o700))
			x, err := newExtractor(openTestDir(t, sub), openTestDir(t, t.TempDir()), nil)
			must(t, err)
			defer x.close()
			for _, en := range []testEntry{
				{name: "d", typ: tarDir},
				{name: "d/out", typ: tarSymlink, link: outside},
				{name: "d/mine", content: "restored"},
			} {
				must(t, extractTestEntry(x, en))
			}
			err = extractTestEntry(x, tt.entry)
			if err == nil {
				err = x.drain()
			}
			if err == nil {
				t.Errorf("%s was restored", tt.entry.name)
			}
			got, err := os.ReadDir(outside)
			if err != nil || len(got) != 1 || got[0].Name() != "secret" {
				t.Errorf("outside directory now holds %v (%v)", got, err)
			}
			if _, err := os.Lstat(filepath.Join(sub, tt.entry.name)); err == nil && tt.entry.typ == tarLink {
				t.Errorf("hard link %s exists", tt.entry.name)
			}
		})
	}
}

// TestExtract_sameNameTwice checks that a later entry of a name replaces
// an earlier one, whatever their types.
func TestExtract_sameNameTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x, err := newExtractor(openTestDir(t, dir), openTestDir(t, t.TempDir()), nil)
	must(t, err)
	defer x.close()
	for _, en := range []testEntry{
		{name: "f", content: "first"},
		{name: "f", content: "second"},
		{name: "d", typ: tarDir},
		{name: "d/child", content: "gone with d"},
		{name: "d", content: "a file now"},
		{name: "l", typ: tarSymlink, link: "f"},
		{name: "l", content: "no longer a link"},
		{name: "big", content: "small first"},
		{name: "big", content: strings.Repeat("b", writeChunk+1)},
		{name: "h", content: "to be replaced by a link"},
		{name: "h", typ: tarLink, link: "f"},
	} {
		must(t, extractTestEntry(x, en))
	}
	must(t, x.drain())
	for name, want := range map[string]string{
		"f": "second", "d": "a file now", "l": "no longer a link", "big": strings.Repeat("b", writeChunk+1), "h": "second",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s holds %.20q (%v), want %.20q", name, got, err, want)
		}
	}
}

// testEntry is an archive entry for the extractor; a regular file unless
// typ says otherwise.
type testEntry struct {
	name, content, link string
	typ                 byte
}

func openTestDir(t *testing.T, dir string) *dirRef {
	t.Helper()
	fd, err := openDirAt(unix.AT_FDCWD, dir)
	must(t, err)
	top := newDirRef(fd)
	t.Cleanup(top.release)
	return top
}

// extractTestEntry passes one entry through a tar stream to x, with the
// manifest entry a backup would write for it.
func extractTestEntry(x *extractor, en testEntry) error {
	typ := en.typ
	if typ == 0 {
		typ = tarReg
	}
	hdr := &tarHeader{typeflag: typ, name: en.name, linkname: en.link, mode: 0o644, size: int64(len(en.content))}
	m := &manifestEntry{Path: rawPath(en.name), Type: typeFile, Mode: 0o644, UID: os.Geteuid(), GID: os.Getegid()}
	switch typ {
	case tarDir:
		m.Type, m.Mode, hdr.mode = typeDir, 0o755, 0o755
	case tarSymlink:
		m.Type = typeSymlink
	case tarReg:
		sum := sha256.Sum256([]byte(en.content))
		m.SHA256, m.Size = hex.EncodeToString(sum[:]), hdr.size
	default:
		hdr.size = 0
	}
	var b bytes.Buffer
	tw := newTarWriter(&b)
	if err := tw.writeHeader(hdr); err != nil {
		return err
	}
	if typ == tarReg {
		if _, err := io.WriteString(tw, en.content); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	tr := newTarReader(&b)
	hdr, err := tr.next()
	if err != nil {
		return err
	}
	if !insideTree(en.name) {
		return errors.New("not inside the tree")
	}
	return x.extract(tr, hdr, m)
}

func TestDirStack_match(t *testing.T) {
	t.Parallel()
	s := dirStack{levels: []dirLevel{{name: "etc"}, {name: "ssh"}, {name: "keys"}}}
	tests := []struct {
		dir  string
		n    int
		rest string
	}{
		{"", 0, ""},
		{"etc", 1, ""},
		{"etc/ssh/keys", 3, ""},
		{"etc/ssh/keys/old", 3, "old"},
		{"etc/ssh/keys.d", 2, "keys.d"},
		{"etc/sshd", 1, "sshd"},
		{"etc-old/ssh", 0, "etc-old/ssh"},
		{"etc/ss", 1, "ss"},
		{"var", 0, "var"},
	}
	for _, tt := range tests {
		if n, rest := s.match(tt.dir); n != tt.n || rest != tt.rest {
			t.Errorf("match(%q) = %d, %q; want %d, %q", tt.dir, n, rest, tt.n, tt.rest)
		}
	}
}
