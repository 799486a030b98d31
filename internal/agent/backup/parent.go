package backup

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
)

// The parent of an incremental: its manifest is read in step with the walk,
// so an unchanged file is recognised without being opened.

func (r *snapshotRun) openParent() error {
	f, err := os.Open(r.e.manifestCacheFile(r.cfg.Name, r.parent))
	if err != nil {
		return fmt.Errorf("open parent manifest: %w", err)
	}
	r.prevFile = f
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("open parent manifest %s: %w", f.Name(), err)
	}
	r.prevDec = dec
	r.prev = newManifestReader(dec)
	return r.advanceParent()
}

// advanceParent moves to the parent's next file system entry.
func (r *snapshotRun) advanceParent() error {
	for {
		e, err := r.prev.next()
		if errors.Is(err, io.EOF) {
			r.prevCur = nil
			return nil
		}
		if err != nil {
			return fmt.Errorf("parent manifest %s: %w", r.parent, err)
		}
		if e.Deleted || e.Dump {
			continue
		}
		r.prevCur = e
		return nil
	}
}

// matchParent returns the parent's entry for name, recording every parent
// entry that sorts before it as deleted.
func (r *snapshotRun) matchParent(name string) (*manifestEntry, error) {
	if err := r.skipDeleted(name); err != nil {
		return nil, err
	}
	if r.prevCur != nil && string(r.prevCur.Path) == name {
		m := r.prevCur
		return m, r.advanceParent()
	}
	return nil, nil
}

// skipDeleted records every parent entry that sorts before name as deleted.
// The walk is past them, so they are gone whatever becomes of name.
func (r *snapshotRun) skipDeleted(name string) error {
	for r.prevCur != nil && walkLess(string(r.prevCur.Path), name) {
		if err := r.deletePrev(); err != nil {
			return err
		}
	}
	return nil
}

// finishParent records the parent's entries the walk never reached as
// deleted.
func (r *snapshotRun) finishParent() error {
	for r.prevCur != nil {
		if err := r.deletePrev(); err != nil {
			return err
		}
	}
	return nil
}

// deletePrev records the parent's current entry as deleted and moves on.
func (r *snapshotRun) deletePrev() error {
	if err := r.writeEntry(&manifestEntry{Path: r.prevCur.Path, Deleted: true}); err != nil {
		return err
	}
	r.trailer.Deleted++
	return r.advanceParent()
}
