package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// Reading a snapshot back: decryption, decompression and the digests that
// prove archive and manifest are what the index records.

// checkDigests re-reads archive and manifest and compares their SHA-256
// and size with the index.
func (e *Engine) checkDigests(ctx context.Context, ix index) error {
	if err := e.checkObject(ctx, archiveObject(ix.Schedule, ix.ID), ix.ArchiveSHA256, ix.ArchiveBytes); err != nil {
		return err
	}
	return e.checkObject(ctx, manifestObject(ix.Schedule, ix.ID), ix.ManifestSHA256, ix.ManifestBytes)
}

// checkObject reads name and compares its SHA-256 and size with the
// index's, reading at most one byte more than the index says.
func (e *Engine) checkObject(ctx context.Context, name, sum string, size int64) error {
	rc, err := e.Dest.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(ctxReader{ctx, rc}, size+1))
	_ = rc.Close() // read-only
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum || n != size {
		return fmt.Errorf("%w: %s has sha256 %s (%d bytes), index says %s (%d bytes)", ErrCorrupt, name, got, n, sum, size)
	}
	return nil
}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	progress *progressCounter
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.progress != nil {
		h.progress.add(int64(n))
	}
	return n, err
}

// finish reads the plaintext and then the ciphertext to the end and
// compares the ciphertext's digest with want. The plaintext goes first: the
// decompressor reads ahead on a goroutine of its own, and is done with h
// only once it has returned io.EOF.
func (h *hashingReader) finish(plain io.Reader, name, want string, size int64) error {
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if _, err := io.Copy(io.Discard, h); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.h.Sum(nil)); got != want || h.n != size {
		return fmt.Errorf("%w: %s has sha256 %s (%d bytes), index says %s (%d bytes)", ErrCorrupt, name, got, h.n, want, size)
	}
	return nil
}

type progressCounter struct {
	fn          func(int64, int64)
	done, total int64
}

func (p *progressCounter) add(n int64) {
	p.done += n
	if p.fn != nil && n > 0 {
		p.fn(p.done, p.total)
	}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// maxWindow is the largest zstd window a restore accepts: twice what
// backups write, so that a hostile frame cannot make the decoder allocate
// hundreds of megabytes.
const maxWindow = 2 * archiveWindow

// openEncrypted opens an object for decrypting, hashing the ciphertext.
func (e *Engine) openEncrypted(ctx context.Context, name string, ids []age.Identity, p *progressCounter) (*hashingReader, io.Reader, func(), error) {
	rc, err := e.Dest.Open(ctx, name)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	hr := &hashingReader{r: ctxReader{ctx, rc}, h: sha256.New(), progress: p}
	plain, err := age.Decrypt(hr, ids...)
	if err != nil {
		_ = rc.Close()
		return nil, nil, nil, fmt.Errorf("decrypt %s: %w", name, err)
	}
	dec, err := zstd.NewReader(plain, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxWindow))
	if err != nil {
		_ = rc.Close()
		return nil, nil, nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	return hr, dec, func() { dec.Close(); _ = rc.Close() }, nil
}

// readManifest calls fn for every entry of ix's manifest and checks the
// manifest's digest and completeness.
func (e *Engine) readManifest(ctx context.Context, ix index, ids []age.Identity, fn func(*manifestEntry) error) error {
	name := manifestObject(ix.Schedule, ix.ID)
	// The index is authenticated, the manifest only by its digest there:
	// check it before decrypting or parsing anything in it.
	if err := e.checkObject(ctx, name, ix.ManifestSHA256, ix.ManifestBytes); err != nil {
		return err
	}
	hr, plain, closeFn, err := e.openEncrypted(ctx, name, ids, nil)
	if err != nil {
		return err
	}
	defer closeFn()
	mr := newManifestReader(plain)
	for {
		m, err := mr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := checkManifestEnds(mr, ix); err != nil {
		return err
	}
	return hr.finish(plain, name, ix.ManifestSHA256, ix.ManifestBytes)
}

func checkManifestEnds(mr *manifestReader, ix index) error {
	if mr.header == nil || mr.trailer == nil {
		return fmt.Errorf("%w: manifest of %s is truncated", ErrCorrupt, ix.ID)
	}
	if mr.header.ID != ix.ID || mr.archiveSHA256() != ix.ArchiveSHA256 {
		return fmt.Errorf("%w: manifest of %s belongs to snapshot %s", ErrCorrupt, ix.ID, mr.header.ID)
	}
	return nil
}
