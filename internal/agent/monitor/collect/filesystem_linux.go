package collect

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// statfsTimeout is how long one statfs may take before its mount counts
// as stuck (a hard NFS mount whose server is gone). A stuck mount is
// reported with node_filesystem_device_error and not asked again until
// that statfs returns, so it costs one goroutine, not one per collection.
const statfsTimeout = time.Second

func fsDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("node_filesystem_"+name, help, []string{"device", "mountpoint", "fstype"}, nil)
}

var (
	fsSizeDesc      = fsDesc("size_bytes", "Filesystem size in bytes.")
	fsFreeDesc      = fsDesc("free_bytes", "Filesystem free space in bytes.")
	fsAvailDesc     = fsDesc("avail_bytes", "Filesystem space available to non-root users in bytes.")
	fsFilesDesc     = fsDesc("files", "Filesystem total file nodes.")
	fsFilesFreeDesc = fsDesc("files_free", "Filesystem total free file nodes.")
	fsReadOnlyDesc  = fsDesc("readonly", "Filesystem read-only status.")
	fsErrorDesc     = fsDesc("device_error", "Whether an error occurred while getting statistics for the given device.")
)

// filesystemCollector exports node_exporter's filesystem metrics for the
// mounts of PID 1 (the host's, not the agent's own namespace).
type filesystemCollector struct {
	procRoot, rootFS string
	file             fileReader

	// statfsFn and statfsTimeout are unix.Statfs and its timeout; tests
	// replace them with a statfs that hangs.
	statfsFn      func(path string, st *unix.Statfs_t) error
	statfsTimeout time.Duration

	mu    sync.Mutex
	stuck map[string]bool // mount points whose statfs has not returned
}

func newFilesystemCollector(procRoot, rootFS string) *filesystemCollector {
	return &filesystemCollector{procRoot: procRoot, rootFS: rootFS, statfsFn: unix.Statfs, statfsTimeout: statfsTimeout, stuck: map[string]bool{}}
}

func (*filesystemCollector) Name() string { return "filesystem" }

func (c *filesystemCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(filepath.Join(c.procRoot, "1", "mountinfo"))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		// hidepid, or a proc root without PID 1: the agent's own view.
		b, err = c.file.read(filepath.Join(c.procRoot, "self", "mountinfo"))
	}
	if err != nil {
		return err
	}
	mounts, err := parseMountinfo(b)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		lv := []string{m.Device, m.MountPoint, m.FSType}
		ro := 0.0
		if m.ReadOnly {
			ro = 1
		}
		ch <- constMetric(fsReadOnlyDesc, prometheus.GaugeValue, ro, lv...)
		st, ok := c.statfs(ctx, m.MountPoint)
		if !ok {
			ch <- constMetric(fsErrorDesc, prometheus.GaugeValue, 1, lv...)
			continue
		}
		ch <- constMetric(fsErrorDesc, prometheus.GaugeValue, 0, lv...)
		bsize := float64(st.Bsize)
		ch <- constMetric(fsSizeDesc, prometheus.GaugeValue, float64(st.Blocks)*bsize, lv...)
		ch <- constMetric(fsFreeDesc, prometheus.GaugeValue, float64(st.Bfree)*bsize, lv...)
		ch <- constMetric(fsAvailDesc, prometheus.GaugeValue, float64(st.Bavail)*bsize, lv...)
		ch <- constMetric(fsFilesDesc, prometheus.GaugeValue, float64(st.Files), lv...)
		ch <- constMetric(fsFilesFreeDesc, prometheus.GaugeValue, float64(st.Ffree), lv...)
	}
	return nil
}

// statfs stats the mount point under the root file system, giving up
// after statfsTimeout; false means an error or a stuck mount.
func (c *filesystemCollector) statfs(ctx context.Context, mountPoint string) (unix.Statfs_t, bool) {
	c.mu.Lock()
	if c.stuck[mountPoint] {
		c.mu.Unlock()
		return unix.Statfs_t{}, false
	}
	c.stuck[mountPoint] = true // until the statfs below returns
	c.mu.Unlock()

	type answer struct {
		st  unix.Statfs_t
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		a.err = c.statfsFn(filepath.Join(c.rootFS, mountPoint), &a.st)
		c.mu.Lock()
		delete(c.stuck, mountPoint)
		c.mu.Unlock()
		done <- a
	}()
	t := time.NewTimer(c.statfsTimeout)
	defer t.Stop()
	select {
	case a := <-done:
		return a.st, a.err == nil
	case <-t.C:
	case <-ctx.Done():
	}
	return unix.Statfs_t{}, false
}
