//go:build unix

package audit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAppend_neverWritesElsewhere: whatever a user who can write to the
// log's parent directory puts at the log's names, root's append never
// lands in another file.
func TestAppend_neverWritesElsewhere(t *testing.T) {
	t.Parallel()
	const precious = "root:x:0:0:root:/root:/bin/bash\n"
	cases := []struct {
		name    string
		plant   func(t *testing.T, dir, victim string) // dir is the log's directory, missing on entry
		wantErr string
	}{
		{name: "symlink at the log", wantErr: "symbolic link", plant: func(t *testing.T, dir, victim string) {
			mkdir(t, dir)
			symlink(t, victim, filepath.Join(dir, "audit.log"))
		}},
		{name: "dangling symlink at the log", wantErr: "symbolic link", plant: func(t *testing.T, dir, victim string) {
			mkdir(t, dir)
			symlink(t, victim+".new", filepath.Join(dir, "audit.log"))
		}},
		{name: "symlink at the directory", wantErr: "symbolic link", plant: func(t *testing.T, dir, victim string) {
			// The victim's directory holds a file named like the log.
			if err := os.WriteFile(filepath.Join(filepath.Dir(victim), "audit.log"), []byte(precious), 0o644); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Dir(victim), dir)
		}},
		{name: "hard link at the log", wantErr: "hard links", plant: func(t *testing.T, dir, victim string) {
			mkdir(t, dir)
			if err := os.Link(victim, filepath.Join(dir, "audit.log")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "fifo at the log", wantErr: "not a regular file", plant: func(t *testing.T, dir, _ string) {
			mkdir(t, dir)
			if err := syscall.Mkfifo(filepath.Join(dir, "audit.log"), 0o666); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			victim := filepath.Join(root, "etc", "passwd")
			mkdir(t, filepath.Dir(victim))
			if err := os.WriteFile(victim, []byte(precious), 0o644); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, "var", "log", "steward")
			mkdir(t, filepath.Dir(dir))
			tc.plant(t, dir, victim)
			done := make(chan error, 1)
			go func() {
				done <- Append(filepath.Join(dir, "audit.log"), Entry{Object: "x", Action: "create", Result: "ok"})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Append blocked on what was planted at the log's path")
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Append = %v, want an error containing %q", err, tc.wantErr)
			}
			for _, p := range []string{victim, filepath.Join(filepath.Dir(victim), "audit.log")} {
				if b, err := os.ReadFile(p); err == nil && string(b) != precious {
					t.Errorf("%s was written through: %q", p, b)
				}
			}
			if _, err := os.Lstat(victim + ".new"); err == nil {
				t.Errorf("a file was created through the dangling symlink")
			}
		})
	}
}

// TestAppend_ownsItsDirectory: an existing log directory that others may
// write to (group-writable, or made by another user in a group-writable
// /var/log) becomes the agent's own 0700 directory.
func TestAppend_ownsItsDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "var", "log", "steward")
	mkdir(t, dir)
	if err := os.Chmod(dir, 0o2775); err != nil {
		t.Fatal(err)
	}
	// As root (how the agent runs, and the tests on the fleet machine), the
	// directory is also given to another user, as that user could make it.
	other := os.Geteuid() == 0
	if other {
		if err := os.Chown(dir, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "audit.log")
	if err := Append(path, Entry{Object: "x", Action: "create", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no stat of %s", dir)
	}
	if fi.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSetuid|os.ModeSticky) != 0o700 {
		t.Errorf("directory mode = %v, want 0700", fi.Mode())
	}
	if int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
		t.Errorf("directory owned by %d:%d, want the agent's %d:%d (changed from another user: %v)", st.Uid, st.Gid, os.Geteuid(), os.Getegid(), other)
	}
	if n, err := Verify(path); n != 1 || err != nil {
		t.Errorf("Verify = %d, %v; want 1, nil", n, err)
	}
}

// TestAppend_refusesLogOfAnotherUser: a log someone else created (and may
// still hold open) is not taken over as the record of root's changes.
func TestAppend_refusesLogOfAnotherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the log to another user")
	}
	dir := filepath.Join(t.TempDir(), "steward")
	mkdir(t, dir)
	path := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := Append(path, Entry{Object: "x", Action: "create", Result: "ok"})
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("Append to a log of uid 65534 = %v, want a refusal naming the owner", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the refused log was written: %v, %v", fi, err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
