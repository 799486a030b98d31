package collect

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFilesystem_stuckMount stands in a statfs that hangs, as on a hard
// NFS mount whose server is gone: the mount is reported as a device error
// within the statfs timeout, the other mounts are unaffected, it is not
// asked again while the first statfs hangs, and it comes back once that
// returns.
func TestFilesystem_stuckMount(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t)
	fc := newFilesystemCollector(cfg.ProcRoot, cfg.RootFS)
	fc.statfsTimeout = 100 * time.Millisecond
	release := make(chan struct{})
	var nfsCalls atomic.Int32
	fc.statfsFn = func(path string, st *unix.Statfs_t) error {
		if strings.HasSuffix(path, filepath.FromSlash("/mnt/nfs")) {
			nfsCalls.Add(1)
			<-release
		}
		return unix.Statfs(cfg.RootFS, st)
	}
	set := mustSet(t, fc)

	start := time.Now()
	fams := gather(t, set)
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("collection took %s with a stuck mount", elapsed)
	}
	if !statusOf(t, set, "filesystem").OK {
		t.Errorf("a stuck mount failed the whole collector: %+v", set.Status())
	}
	if value(t, fams, "node_filesystem_device_error", "mountpoint", "/mnt/nfs") != 1 || len(series(fams, "node_filesystem_size_bytes", "mountpoint", "/mnt/nfs")) != 0 {
		t.Error("stuck mount not reported as a device error")
	}
	if value(t, fams, "node_filesystem_size_bytes", "mountpoint", "/") <= 0 {
		t.Error("/ lost next to a stuck mount")
	}

	gather(t, set)
	if n := nfsCalls.Load(); n != 1 {
		t.Errorf("stuck mount asked %d times", n)
	}

	close(release)
	deadline := time.Now().Add(3 * time.Second)
	for {
		fams = gather(t, set)
		if value(t, fams, "node_filesystem_device_error", "mountpoint", "/mnt/nfs") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mount never came back after its statfs returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if value(t, fams, "node_filesystem_size_bytes", "mountpoint", "/mnt/nfs") <= 0 {
		t.Error("recovered mount has no size")
	}
}
