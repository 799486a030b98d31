//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWrite(t *testing.T) {
	// Not parallel: it sets the process umask.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)

	tests := []struct {
		name     string
		existing string // Content already at the path; "" means none.
		data     string
		mode     os.FileMode
	}{
		{name: "new file, mode wider than umask", data: `{"a":1}`, mode: 0o644},
		{name: "replace existing", existing: "old content that is longer", data: "new", mode: 0o600},
		{name: "empty content", existing: "x", data: "", mode: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "object.json")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, []byte(tt.data), tt.mode); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.data {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.mode {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.mode)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the target (temporary file left behind?)", len(entries))
			}
		})
	}
}

func TestWrite_missingDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "absent", "object.json")
	if err := Write(path, []byte("x"), 0o600); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}
