//go:build !unix

package audit

import "os"

// lockFile does nothing where flock(2) does not exist; the agent runs on
// Linux, and this only keeps the package building elsewhere.
func lockFile(*os.File) error { return nil }
