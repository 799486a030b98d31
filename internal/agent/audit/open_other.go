//go:build !unix

package audit

import (
	"fmt"
	"os"
	"path/filepath"
)

// openLog opens the log for appending. The agent runs on Linux, where the
// log is opened without following symlinks (open_unix.go); this only keeps
// the package building elsewhere.
func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	return os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
}
