package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// publish renames archive and manifest into place, then writes the index:
// only then does the snapshot exist.
func (r *snapshotRun) publish(key []byte) (Snapshot, error) {
	ix := index{
		Version: indexVersion, ID: r.id, Schedule: r.cfg.Name, Time: r.now.UTC(), Kind: r.kind, Parent: r.parent,
		Files: r.trailer.Files, SourceBytes: r.trailer.SourceBytes,
		TotalFiles: r.trailer.TotalFiles, TotalBytes: r.trailer.TotalBytes, Partial: r.trailer.Partial,
		ArchiveBytes: r.archHash.n, ArchiveSHA256: r.archHash.sum(),
		ManifestBytes: r.manHash.n, ManifestSHA256: r.manHash.sum(), Recipients: r.recipients,
	}
	body, err := ix.seal(key)
	if err != nil {
		return Snapshot{}, err
	}
	// Published only if what the destination holds is what was written.
	if err := r.archHash.rb.check(archiveObject(r.cfg.Name, r.id), ix.ArchiveBytes); err != nil {
		return Snapshot{}, err
	}
	if err := r.manHash.rb.check(manifestObject(r.cfg.Name, r.id), ix.ManifestBytes); err != nil {
		return Snapshot{}, err
	}
	if err := r.archive.Commit(); err != nil {
		return Snapshot{}, fmt.Errorf("publish archive: %w", err)
	}
	if err := r.manifest.Commit(); err != nil {
		r.removePublished()
		return Snapshot{}, fmt.Errorf("publish manifest: %w", err)
	}
	up, err := r.e.Dest.Create(r.ctx, indexObject(r.cfg.Name, r.id))
	if err == nil {
		if _, err = up.Write(body); err == nil {
			err = up.Commit()
		}
		if err != nil {
			_ = up.Abort()
		}
	}
	if err != nil {
		r.removePublished()
		return Snapshot{}, fmt.Errorf("publish index %s: %w", indexObject(r.cfg.Name, r.id), err)
	}

	// The snapshot exists. Local bookkeeping failures from here on are
	// reported but do not unpublish it.
	r.e.changeIndexes(r.cfg.Name, func(ixs []index) []index { return append(ixs, ix) })
	var errs []error
	cache := r.e.manifestCacheFile(r.cfg.Name, r.id)
	if err := r.cacheFile.Close(); err != nil {
		errs = append(errs, err)
	} else if err := os.Rename(r.cacheFile.Name(), cache); err != nil {
		errs = append(errs, fmt.Errorf("keep manifest for the next incremental: %w", err))
	}
	r.cacheFile = nil
	rec := localRecord{Notes: r.trailer.Notes, Verified: VerifiedOK, VerifiedAt: r.e.now().UTC()}
	if err := r.e.writeRecord(r.cfg.Name, r.id, rec); err != nil {
		errs = append(errs, err)
	}
	// Only the newest manifest is needed to build the next incremental.
	old, _ := filepath.Glob(filepath.Join(r.e.scheduleStateDir(r.cfg.Name), "*.manifest.jsonl.zst"))
	for _, f := range old {
		if f != cache {
			_ = os.Remove(f) // a stale cache only costs disk space
		}
	}
	snap, err := r.e.snapshotOf(ix)
	if err != nil {
		errs = append(errs, err)
	}
	snap.Notes = r.trailer.Notes
	r.e.logger().Info("snapshot published", "schedule", r.cfg.Name, "snapshot", r.id, "kind", r.kind,
		"parent", r.parent, "files", ix.Files, "bytes", ix.ArchiveBytes, "partial", ix.Partial)
	return snap, errors.Join(errs...)
}

// removePublished undoes renamed-but-unindexed objects after a failure, so a
// later run need not sweep them.
func (r *snapshotRun) removePublished() {
	for _, name := range []string{archiveObject(r.cfg.Name, r.id), manifestObject(r.cfg.Name, r.id)} {
		_ = r.e.Dest.Remove(r.ctx, name) // without an index these are not a snapshot; sweep retries
	}
}
