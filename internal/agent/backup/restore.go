package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// Errors a restore or verification can end with; test them with errors.Is.
var (
	// ErrWrongKey means none of the given identities can decrypt the snapshot.
	ErrWrongKey = errors.New("none of the given identities can decrypt this snapshot (wrong key?)")
	// ErrCorrupt means an archive or manifest differs from what its index
	// records, or a restored file differs from its manifest entry.
	ErrCorrupt = errors.New("snapshot is corrupt or was modified")
	// ErrVerificationFailed means a snapshot in the chain failed verification
	// earlier and is refused.
	ErrVerificationFailed = errors.New("snapshot failed verification and is marked bad")
	// ErrExists means the restore would replace existing files and
	// RestoreOptions.Overwrite is false.
	ErrExists = errors.New("restore target already has this file (use overwrite)")
)

// RestoreOptions selects what to restore and where.
type RestoreOptions struct {
	Schedule string
	Snapshot string // an ID, or "latest"
	// Target is the directory that receives the tree: /etc/hosts is restored
	// as Target/etc/hosts.
	Target string
	// Include restricts the restore to these paths and everything below
	// them ("/etc/ssh"); empty means everything.
	Include   []string
	DryRun    bool
	Overwrite bool
	// Identities decrypt the snapshot; see also Engine.PassphraseIdentity.
	Identities []age.Identity
	// Progress, when set, is called as archive bytes are read.
	Progress func(doneBytes, totalBytes int64)
}

// RestoreResult counts what was (or, for a dry run, would be) restored:
// Files counts everything but directories, Bytes the regular files' sizes.
type RestoreResult struct {
	Files int
	Bytes int64
}

// Restore restores a snapshot, walking its chain from the full snapshot
// through each incremental. Everything is first restored and checked in a
// work directory beside Target that only this process can enter (every
// file's SHA-256 against the manifest, every archive's SHA-256 against the
// index); only then does it move into Target: by one rename when Target
// does not exist, or entry by entry into an existing directory. So a wrong
// key, a corrupt archive or a conflict leaves nothing partial under Target.
// No step follows a symlink or looks a path up twice (see restore_place.go).
func (e *Engine) Restore(ctx context.Context, opts RestoreOptions) (RestoreResult, error) {
	if opts.Target == "" {
		return RestoreResult{}, errors.New("restore: target directory is required")
	}
	target, err := filepath.Abs(opts.Target)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore target %s: %w", opts.Target, err)
	}
	chain, err := e.restorableChain(ctx, opts.Schedule, opts.Snapshot)
	if err != nil {
		return RestoreResult{}, err
	}
	if len(opts.Identities) == 0 {
		return RestoreResult{}, errors.New("restore: at least one identity is required to decrypt")
	}
	if !identitiesCanRead(chain, opts.Identities) {
		return RestoreResult{}, errNoIdentityFor(chain, opts.Identities)
	}
	inc := newIncludeFilter(opts.Include)
	if opts.DryRun {
		return e.dryRun(ctx, chain[len(chain)-1], opts, inc, target)
	}

	// The work directory goes beside the target, on its file system, or
	// inside it when the target is "/".
	parentPath, base := filepath.Dir(target), filepath.Base(target)
	if target == "/" {
		parentPath, base = "/", ""
	}
	parent, err := openDirPath(parentPath, true, 0o755)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore target %s: %w", target, err)
	}
	defer parent.release()
	work, err := newWorkDir(parent, ".steward-restore-")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore beside %s: %w", target, err)
	}
	defer work.remove() // empty of the tree after a successful move

	res, restored, err := e.applyChain(ctx, chain, opts.Identities, work, inc, opts.Progress)
	if err != nil {
		return RestoreResult{}, err
	}
	m := &merger{restored: restored, overwrite: opts.Overwrite, hook: e.afterMove}
	if err := m.place(work, parent, base); err != nil {
		return RestoreResult{}, fmt.Errorf("%w (target %s)", err, target)
	}
	e.logger().Info("snapshot restored", "schedule", opts.Schedule, "snapshot", chain[len(chain)-1].ID,
		"target", target, "files", res.Files, "bytes", res.Bytes)
	return res, nil
}

// restorableChain finds the chain of id and refuses it when any member
// failed verification.
func (e *Engine) restorableChain(ctx context.Context, schedule, id string) ([]index, error) {
	ixs, ixErr := e.readIndexes(ctx, schedule)
	if ixs == nil && ixErr != nil {
		return nil, ixErr
	}
	chain, err := chainOf(ixs, schedule, id)
	if err != nil {
		return nil, errors.Join(err, ixErr)
	}
	for _, ix := range chain {
		rec, err := e.readRecord(schedule, ix.ID)
		if err != nil {
			return nil, err
		}
		if rec.Verified == VerifiedFailed {
			return nil, fmt.Errorf("snapshot %s/%s: %w (%s at %s); restore an older snapshot",
				schedule, ix.ID, ErrVerificationFailed, rec.Detail, rec.VerifiedAt.Format(time.RFC3339))
		}
	}
	return chain, nil
}

type includeFilter []string

func newIncludeFilter(paths []string) includeFilter {
	var f includeFilter
	for _, p := range paths {
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" {
			return nil // the root includes everything
		}
		f = append(f, p)
	}
	return f
}

// parent reports whether name is a directory above an included path.
func (f includeFilter) parent(name string) bool {
	for _, p := range f {
		if strings.HasPrefix(p, name+"/") {
			return true
		}
	}
	return false
}

func (f includeFilter) match(name string) bool {
	if len(f) == 0 {
		return true
	}
	for _, p := range f {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

func (e *Engine) dryRun(ctx context.Context, last index, opts RestoreOptions, inc includeFilter, target string) (RestoreResult, error) {
	var res RestoreResult
	err := e.readManifest(ctx, last, opts.Identities, func(m *manifestEntry) error {
		if m.Deleted || !inc.match(string(m.Path)) {
			return nil
		}
		if m.Type != typeDir {
			res.Files++
			if m.Type == typeFile {
				res.Bytes += m.Size
			}
			if !opts.Overwrite {
				if _, err := os.Lstat(filepath.Join(target, string(m.Path))); err == nil {
					return fmt.Errorf("restore %s: %w", filepath.Join(target, string(m.Path)), ErrExists)
				}
			}
		}
		return nil
	})
	return res, err
}

// snapshotError names the snapshot in the chain that failed.
type snapshotError struct {
	id  string
	err error
}

func (s *snapshotError) Error() string { return "snapshot " + s.id + ": " + s.err.Error() }
func (s *snapshotError) Unwrap() error { return s.err }

// applyChain restores chain into the tree of work and checks it. It
// returns the names of the directories it restored (see checkTree).
func (e *Engine) applyChain(ctx context.Context, chain []index, ids []age.Identity, work *workDir, inc includeFilter, progress func(int64, int64)) (RestoreResult, map[string]struct{}, error) {
	p := &progressCounter{fn: progress}
	for _, ix := range chain {
		p.total += ix.ArchiveBytes
	}
	x, err := newExtractor(work.tree, work.dir, inc)
	if err != nil {
		return RestoreResult{}, nil, err
	}
	defer x.close()
	for _, ix := range chain {
		if err := e.applySnapshot(ctx, ix, ids, x, p); err != nil {
			err = e.classify(ctx, ix, err)
			if errors.Is(err, ErrWrongKey) {
				err = &snapshotError{ix.ID, errNoIdentityFor(chain, ids)}
			}
			return RestoreResult{}, nil, err
		}
	}
	last := chain[len(chain)-1]
	res, restored, err := e.checkTree(ctx, last, ids, work.tree, inc)
	if err != nil {
		return RestoreResult{}, nil, e.classify(ctx, last, err)
	}
	return res, restored, nil
}

// classify turns a failure while reading a snapshot into a clear error:
// wrong key or corruption, decided by re-checking the archive's digest.
func (e *Engine) classify(ctx context.Context, ix index, err error) error {
	if ctx.Err() != nil || errors.Is(err, ErrCorrupt) {
		return &snapshotError{ix.ID, err}
	}
	var noMatch *age.NoIdentityMatchError
	digestErr := e.checkDigests(ctx, ix)
	switch {
	case digestErr != nil:
		return &snapshotError{ix.ID, digestErr}
	case errors.As(err, &noMatch):
		return &snapshotError{ix.ID, fmt.Errorf("%w: %w", ErrWrongKey, err)}
	}
	var pathErr *fs.PathError
	var linkErr *os.LinkError
	if errors.As(err, &pathErr) || errors.As(err, &linkErr) {
		return &snapshotError{ix.ID, err} // a local file system problem, not the snapshot's
	}
	return &snapshotError{ix.ID, fmt.Errorf("%w: %w", ErrCorrupt, err)}
}

// applySnapshot extracts one archive into root, reading its manifest in
// step: the i-th archive entry is the i-th stored manifest entry, and the
// deletions between them are applied as they come.
func (e *Engine) applySnapshot(ctx context.Context, ix index, ids []age.Identity, x *extractor, p *progressCounter) error {
	mName := manifestObject(ix.Schedule, ix.ID)
	if err := e.checkObject(ctx, mName, ix.ManifestSHA256, ix.ManifestBytes); err != nil {
		return err // as in readManifest
	}
	mHash, mPlain, mClose, err := e.openEncrypted(ctx, mName, ids, nil)
	if err != nil {
		return err
	}
	defer mClose()
	mr := newManifestReader(mPlain)

	aName := archiveObject(ix.Schedule, ix.ID)
	aHash, aPlain, aClose, err := e.openEncrypted(ctx, aName, ids, p)
	if err != nil {
		return err
	}
	defer aClose()
	tr := newTarReader(aPlain)

	nextStored := func() (*manifestEntry, error) {
		for {
			m, err := mr.next()
			if err != nil {
				return nil, err
			}
			if m.Deleted {
				if err := x.drain(); err != nil {
					return nil, err
				}
				if err := x.removeDeleted(string(m.Path)); err != nil {
					return nil, err
				}
				continue
			}
			if m.Stored {
				return m, nil
			}
		}
	}
	for {
		hdr, err := tr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive %s: %w", aName, err)
		}
		m, err := nextStored()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: archive %s has entries its manifest lacks", ErrCorrupt, aName)
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(hdr.name, "/")
		if name != string(m.Path) {
			return fmt.Errorf("%w: archive %s entry %q does not match manifest entry %q", ErrCorrupt, aName, name, m.Path)
		}
		if !insideTree(name) {
			return fmt.Errorf("%w: archive %s entry %q is not a relative path", ErrCorrupt, aName, name)
		}
		if hdr.typeflag == tarReg && hdr.size != m.Size {
			// Checked before a byte is written: a hostile size would fill the disk.
			return fmt.Errorf("%w: archive %s entry %q has %d bytes, manifest says %d", ErrCorrupt, aName, name, hdr.size, m.Size)
		}
		if err := x.extract(tr, hdr, m); err != nil {
			return err
		}
	}
	if m, err := nextStored(); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: archive %s lacks manifest entry %q", ErrCorrupt, aName, m.Path)
	}
	if err := x.drain(); err != nil {
		return err
	}
	if err := checkManifestEnds(mr, ix); err != nil {
		return err
	}
	if err := aHash.finish(aPlain, aName, ix.ArchiveSHA256, ix.ArchiveBytes); err != nil {
		return err
	}
	return mHash.finish(mPlain, mName, ix.ManifestSHA256, ix.ManifestBytes)
}
