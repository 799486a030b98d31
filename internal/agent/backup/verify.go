package backup

import (
	"context"
	"errors"
	"fmt"

	"filippo.io/age"
)

// Verify checks a snapshot (an ID or "latest") and records the result on
// this host. It always re-reads the archive and manifest and compares their
// SHA-256 with the index. When identities are given it also runs a restore
// drill of the snapshot's whole chain into a scratch directory under
// StateDir, comparing every file's SHA-256 with the manifest.
//
// A failure marks the snapshot that failed (which may be a parent in the
// chain) as bad: Restore then refuses it and Backup starts a new full chain.
// A wrong key is not the snapshot's fault and marks nothing.
func (e *Engine) Verify(ctx context.Context, schedule, id string, identities []age.Identity) (Snapshot, error) {
	ixs, ixErr := e.readIndexes(ctx, schedule)
	chain, err := chainOf(ixs, schedule, id)
	if err != nil {
		return Snapshot{}, errors.Join(err, ixErr)
	}
	ix := chain[len(chain)-1]
	culprit := ix
	verr := e.checkDigests(ctx, ix)
	if verr == nil && len(identities) > 0 {
		verr = e.drill(ctx, chain, identities)
		var se *snapshotError
		if errors.As(verr, &se) {
			for _, c := range chain {
				if c.ID == se.id {
					culprit = c
				}
			}
		}
	}
	if verr != nil && (ctx.Err() != nil || errors.Is(verr, ErrWrongKey) || !errors.Is(verr, ErrCorrupt)) {
		// Not a verdict on the snapshot: cancelled, wrong key, or a local problem.
		return Snapshot{}, fmt.Errorf("verify snapshot %s/%s: %w", schedule, ix.ID, verr)
	}
	rec, err := e.readRecord(schedule, culprit.ID)
	if err != nil {
		return Snapshot{}, err
	}
	rec.VerifiedAt = e.now().UTC()
	rec.Verified, rec.Detail = VerifiedOK, ""
	if verr != nil {
		rec.Verified, rec.Detail = VerifiedFailed, verr.Error()
		e.logger().Error("snapshot verification failed", "schedule", schedule, "snapshot", culprit.ID, "err", verr)
	} else {
		e.logger().Info("snapshot verified", "schedule", schedule, "snapshot", ix.ID, "drill", len(identities) > 0)
	}
	if err := e.writeRecord(schedule, culprit.ID, rec); err != nil {
		return Snapshot{}, errors.Join(verr, err)
	}
	snap, err := e.snapshotOf(ix)
	if err != nil {
		return Snapshot{}, errors.Join(verr, err)
	}
	if verr != nil {
		return snap, fmt.Errorf("verify snapshot %s/%s: %w", schedule, culprit.ID, verr)
	}
	return snap, nil
}

func (e *Engine) drill(ctx context.Context, chain []index, identities []age.Identity) error {
	dir, err := openDirPath(e.scheduleStateDir(chain[0].Schedule), true, 0o700)
	if err != nil {
		return fmt.Errorf("open the state directory for the restore drill: %w", err)
	}
	defer dir.release()
	work, err := newWorkDir(dir, "verify-")
	if err != nil {
		return fmt.Errorf("create scratch directory for the restore drill: %w", err)
	}
	defer work.remove() // scratch data, and it holds plaintext
	_, _, err = e.applyChain(ctx, chain, identities, work, nil, nil)
	return err
}
