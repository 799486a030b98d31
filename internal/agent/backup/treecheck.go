package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// checkTree walks the final manifest: every entry must be there with the
// right type, and files with the right size. Files and symlinks got their
// owner, mode and mtime when written, so here these are only compared and
// fixed where they differ (an entry from the stash, or anything a chain
// left otherwise): one lstat per entry, through an open parent directory.
// Entries go in batches to a few goroutines, which overlap the system
// calls. Directories get their owners, modes and mtimes at the end,
// children before parents, since creating a child changes a directory's
// mtime; so do the parents of included paths, which the snapshot has but
// does not restore (in an existing target they keep their own). It returns
// the names of the directories it restored.
func (e *Engine) checkTree(ctx context.Context, last index, ids []age.Identity, top *dirRef, inc includeFilter) (RestoreResult, map[string]struct{}, error) {
	var res RestoreResult
	var dirs []*dirMeta
	restored := map[string]struct{}{}
	asRoot := os.Geteuid() == 0
	tc := newTreeCheckers(top, asRoot)
	batch := <-tc.free
	err := e.readManifest(ctx, last, ids, func(m *manifestEntry) error {
		name := string(m.Path)
		if m.Deleted {
			return nil
		}
		if !inc.match(name) {
			if m.Type == typeDir && inc.parent(name) {
				dirs = append(dirs, &dirMeta{name: name, uid: m.UID, gid: m.GID, mode: m.Mode, mtimeNS: m.MtimeNS, parentOnly: true})
			}
			return nil
		}
		switch m.Type {
		case typeDir:
			dirs = append(dirs, &dirMeta{name: name, uid: m.UID, gid: m.GID, mode: m.Mode, mtimeNS: m.MtimeNS})
			restored[name] = struct{}{}
		case typeSymlink:
			res.Files++
		default:
			res.Files++
			res.Bytes += m.Size
		}
		batch = append(batch, checkItem{m: *m})
		if len(batch) == checkBatch {
			if err := tc.queue(batch); err != nil {
				return err
			}
			batch = <-tc.free
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = tc.queue(batch)
	}
	if werr := tc.stop(); err == nil {
		err = werr
	}
	if err == nil {
		err = setDirMeta(top, dirs, asRoot)
	}
	if err != nil {
		return RestoreResult{}, nil, err
	}
	return res, restored, nil
}

const (
	checkBatch   = 256 // consecutive entries, which mostly share directories
	checkWorkers = 4
)

// typeModes maps a manifest entry's type to the type bits fileType gives.
var typeModes = map[string]fs.FileMode{typeFile: 0, typeDir: fs.ModeDir, typeSymlink: fs.ModeSymlink}

// checkItem is a manifest entry to check.
type checkItem struct {
	m manifestEntry
}

// dirMeta is a directory's metadata in the manifest. parentOnly marks the
// parent of an included path, which may not have been created.
type dirMeta struct {
	name       string
	uid, gid   int
	mode       uint32
	mtimeNS    int64
	parentOnly bool
}

// treeCheckers check entries on a few goroutines, each keeping its own
// directories open.
type treeCheckers struct {
	top    *dirRef
	asRoot bool
	jobs   chan []checkItem
	free   chan []checkItem
	procs  sync.WaitGroup

	firstError
}

func newTreeCheckers(top *dirRef, asRoot bool) *treeCheckers {
	w := &treeCheckers{top: top, asRoot: asRoot, jobs: make(chan []checkItem, checkWorkers), free: make(chan []checkItem, 2*checkWorkers+1)}
	for range 2 * checkWorkers {
		w.free <- make([]checkItem, 0, checkBatch)
	}
	for range checkWorkers {
		w.procs.Go(w.run)
	}
	return w
}

// queue hands a batch to the goroutines, or returns the first error one
// of them met.
func (w *treeCheckers) queue(batch []checkItem) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.jobs <- batch
	return nil
}

func (w *treeCheckers) run() {
	dirs := dirStack{top: w.top}
	defer dirs.reset()
	for batch := range w.jobs {
		for i := range batch {
			if w.failed() != nil {
				break
			}
			if err := w.check(&dirs, &batch[i]); err != nil {
				w.fail(err)
			}
		}
		w.free <- batch[:0]
	}
}

// stop waits for the queued batches and returns the first error.
func (w *treeCheckers) stop() error {
	close(w.jobs)
	w.procs.Wait()
	return w.failed()
}

func (w *treeCheckers) check(dirs *dirStack, it *checkItem) error {
	m := &it.m
	name := string(m.Path)
	dir, base := splitName(name)
	d, err := dirs.enter(dir, false)
	if err != nil {
		return fmt.Errorf("%w: the directory of %s is missing after restore: %w", ErrCorrupt, name, err)
	}
	var st unix.Stat_t
	if err := lstatAt(d.fd, base, &st); err != nil {
		return fmt.Errorf("%w: %s missing after restore: %w", ErrCorrupt, name, &fs.PathError{Op: "lstat", Path: name, Err: err})
	}
	if got := fileType(st.Mode); got != typeModes[m.Type] || (m.Type == typeFile && st.Size != m.Size) {
		return fmt.Errorf("%w: %s restored as %v (%d bytes), manifest says %s (%d bytes)", ErrCorrupt, name, got, st.Size, m.Type, m.Size)
	}
	if m.Type == typeDir {
		return nil // set by setDirMeta, after its children
	}
	chowned := false
	if w.asRoot && (int(st.Uid) != m.UID || int(st.Gid) != m.GID) {
		if err := ignoringEINTR(func() error { return unix.Fchownat(d.fd, base, m.UID, m.GID, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "lchown", Path: name, Err: err})
		}
		chowned = true
	}
	// Chmod after chown, which clears setuid and setgid; symlinks have no mode.
	if m.Type == typeFile && (chowned || st.Mode&0o7777 != m.Mode&0o7777) {
		if err := chmodNoFollow(d.fd, base, m.Mode&0o7777); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chmod", Path: name, Err: err})
		}
	}
	if st.Mtim.Nano() != m.MtimeNS {
		ts := mtimeSpec(m.MtimeNS)
		if err := ignoringEINTR(func() error { return unix.UtimesNanoAt(d.fd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: "chtimes", Path: name, Err: err})
		}
	}
	return nil
}

// setDirMeta sets the directories' owners, modes and mtimes where they
// differ from the manifest, children before parents (the manifest in
// reverse walk order), each through its own descriptor. A directory is
// opened through its parent, which is changed only after it, so a mode
// without search permission is set last. A parent of included paths that
// none of them needed was never made, and is skipped.
func setDirMeta(top *dirRef, dirs []*dirMeta, asRoot bool) error {
	s := dirStack{top: top}
	defer s.reset()
	for i := len(dirs) - 1; i >= 0; i-- {
		m := dirs[i]
		d, err := s.enter(m.name, false)
		if m.parentOnly && errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		var st unix.Stat_t
		op, err := "stat", unix.Fstat(d.fd, &st)
		chowned := false
		if err == nil && asRoot && (int(st.Uid) != m.uid || int(st.Gid) != m.gid) {
			op, err, chowned = "chown", unix.Fchown(d.fd, m.uid, m.gid), true
		}
		if err == nil && (chowned || st.Mode&0o7777 != m.mode&0o7777) {
			op, err = "chmod", unix.Fchmod(d.fd, m.mode&0o7777)
		}
		if err == nil && st.Mtim.Nano() != m.mtimeNS {
			ts := mtimeSpec(m.mtimeNS)
			op, err = "chtimes", futimens(d.fd, &ts)
		}
		if err != nil {
			return fmt.Errorf("restore: %w", &fs.PathError{Op: op, Path: m.name, Err: err})
		}
	}
	return nil
}
