package logs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPositions_saveLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), stateFile)
	want := map[string]position{
		"journal":         {Cursor: "s=1;i=2", known: true},
		"file:/var/log/a": {Dev: 1, Inode: 2, Offset: 300, Head: "abc", known: true},
		"file:/var/log/b": {known: true}, // Not there yet: read from the start once it is.
	}
	if err := savePositions(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (a journald cursor names the machine and its boot)", fi.Mode().Perm())
	}
	got, err := loadPositions(path, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(position{})); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("state directory holds %d files, want only %s (no temporary file left)", len(entries), stateFile)
	}
}

// A state file that cannot be read (cut short by a full disk, edited by
// hand) is moved aside; the forwarder starts over instead of not at all.
func TestPositions_unreadable(t *testing.T) {
	t.Parallel()
	for _, content := range []string{`{"version":1,"sources":{"journal":{"cursor":`, "garbage", `{"version":7,"sources":{}}`} {
		dir := t.TempDir()
		path := filepath.Join(dir, stateFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := loadPositions(path, testLogger())
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		if len(got) != 0 {
			t.Errorf("%q: positions %v, want none", content, got)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), stateFile+".corrupt-") {
			t.Errorf("%q: directory holds %v, want the file moved aside", content, entries)
		}
	}
}
