package agent

import (
	"os"
	"path/filepath"
	"testing"
)

const testMachineID = "0123456789abcdef0123456789abcdef"

// newTestHost lays out a minimal host tree in a temporary directory: a
// machine-id, a /proc/uptime and an empty state directory.
func newTestHost(t *testing.T) Paths {
	t.Helper()
	p := PathsUnder(t.TempDir())
	for path, content := range map[string]string{
		p.MachineID: testMachineID + "\n",
		p.Uptime:    "3600.25 7000.50\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(p.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}
