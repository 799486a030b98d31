package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// Writing a snapshot: the dumps, the archive and the manifest, each
// compressed and encrypted as it is written.

// archiveEncoders keeps the archive's zstd encoder (megabytes of buffers
// per worker) for the next run, so a daemon running schedule after schedule
// does not grow its heap with discarded encoders.
var archiveEncoders sync.Pool

// archiveWindow is the zstd window: 4 MiB halves the encoder's memory
// against the level's default of 8 MiB at no measured cost in speed, and is
// still twice what zstd -3 uses.
const archiveWindow = 4 << 20

func archiveEncoder(w io.Writer) (*zstd.Encoder, error) {
	if enc, ok := archiveEncoders.Get().(*zstd.Encoder); ok {
		enc.Reset(w)
		return enc, nil
	}
	// No frame checksum: the archive's SHA-256 and every file's SHA-256
	// already cover the content, and xxhash would cost another pass.
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		zstd.WithWindowSize(archiveWindow), zstd.WithEncoderCRC(false))
}

// spoolDumps runs every dump command before anything is uploaded, so a
// failing dump costs nothing. Output goes to a file: tar needs each size up
// front and the output may be larger than memory.
func (r *snapshotRun) spoolDumps() error {
	for _, d := range r.cfg.Dumps {
		f, err := r.stateTemp("dump-*")
		if err != nil {
			return err
		}
		r.dumpSpools = append(r.dumpSpools, f)
		var stderr tailBuffer
		cmd := CommandContext(r.ctx, d.Command[0], d.Command[1:]...)
		cmd.Stdout = f
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			if msg := strings.TrimSpace(stderr.String()); msg != "" {
				return fmt.Errorf("dump %s (%s): %w: %s", d.Name, d.Command[0], err, msg)
			}
			return fmt.Errorf("dump %s (%s): %w", d.Name, d.Command[0], err)
		}
	}
	return nil
}

func (r *snapshotRun) openArchive(recipients []age.Recipient) error {
	up, err := r.e.Dest.Create(r.ctx, archiveObject(r.cfg.Name, r.id))
	if err != nil {
		return fmt.Errorf("create archive %s: %w", archiveObject(r.cfg.Name, r.id), err)
	}
	r.archive = up
	r.archHash = &hashCounter{w: up, h: sha256.New(), rb: startReadBack(up)}
	r.ageW, err = age.Encrypt(r.archHash, recipients...)
	if err != nil {
		return fmt.Errorf("encrypt archive: %w", err)
	}
	if r.zw, err = archiveEncoder(r.ageW); err != nil {
		return fmt.Errorf("compress archive: %w", err)
	}
	r.aw = newAsyncWriter(r.zw, 1<<20, 4)
	r.tw = newTarWriter(r.aw)
	return r.openManifest(recipients)
}

// openManifest starts the manifest, both in the destination (encrypted) and
// in the local cache that the next incremental reads, and writes its header.
func (r *snapshotRun) openManifest(recipients []age.Recipient) error {
	up, err := r.e.Dest.Create(r.ctx, manifestObject(r.cfg.Name, r.id))
	if err != nil {
		return fmt.Errorf("create manifest %s: %w", manifestObject(r.cfg.Name, r.id), err)
	}
	r.manifest = up
	r.manHash = &hashCounter{w: up, h: sha256.New(), rb: startReadBack(up)}
	if r.manAge, err = age.Encrypt(r.manHash, recipients...); err != nil {
		return fmt.Errorf("encrypt manifest: %w", err)
	}
	if r.cacheFile, err = r.stateTemp("manifest-*"); err != nil {
		return err
	}
	// Concurrency 2 compresses on a second goroutine while the walk goes on.
	r.manZ, err = zstd.NewWriter(&cacheTee{w: r.manAge, cache: r.cacheFile},
		zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(2), zstd.WithWindowSize(1<<20),
		zstd.WithEncoderCRC(false)) // covered by the manifest's SHA-256, as the archive's
	if err != nil {
		return fmt.Errorf("compress manifest: %w", err)
	}
	r.manBuf = make([]byte, 0, 2*manifestFlush)
	hdr := manifestHeader{Version: manifestVersion, ID: r.id, Schedule: r.cfg.Name, Time: r.now.UTC(), Kind: r.kind, Parent: r.parent}
	return r.writeRecord(manifestRecord{Header: &hdr})
}

// manifestFlush is how many bytes of entries are gathered before they are
// handed to the compressor.
const manifestFlush = 64 << 10

func (r *snapshotRun) writeEntry(m *manifestEntry) error {
	r.manBuf = appendEntry(r.manBuf, m)
	if len(r.manBuf) >= manifestFlush {
		return r.flushManifest()
	}
	return nil
}

// writeRecord writes a header or trailer line.
func (r *snapshotRun) writeRecord(rec manifestRecord) error {
	buf := bytes.NewBuffer(r.manBuf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	r.manBuf = buf.Bytes()
	return r.flushManifest()
}

func (r *snapshotRun) flushManifest() error {
	if _, err := r.manZ.Write(r.manBuf); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	r.manBuf = r.manBuf[:0]
	return nil
}

// cacheTee passes the compressed manifest to the encrypted upload and to
// the local cache.
type cacheTee struct {
	w     io.Writer
	cache *os.File
}

func (t *cacheTee) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		return n, err
	}
	if _, err := t.cache.Write(p); err != nil {
		return n, fmt.Errorf("write manifest cache: %w", err)
	}
	return n, nil
}

func (r *snapshotRun) writeDumps() error {
	for i, d := range r.cfg.Dumps {
		f := r.dumpSpools[i]
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		name := "dumps/" + d.Name
		hdr := &tarHeader{typeflag: tarReg, name: name, size: size, mode: 0o600, mtimeNS: r.now.UnixNano()}
		if err := r.tw.writeHeader(hdr); err != nil {
			return fmt.Errorf("write archive: %w", err)
		}
		sum, err := r.copyContent(f, f.Name(), size)
		if err != nil {
			return fmt.Errorf("dump %s: %w", d.Name, err)
		}
		r.trailer.Files++
		r.trailer.SourceBytes += size
		r.trailer.TotalFiles++
		r.trailer.TotalBytes += size
		if err := r.writeEntry(&manifestEntry{
			Path: rawPath(name), Type: typeFile, Size: size, Mode: 0o600, MtimeNS: r.now.UnixNano(),
			SHA256: sum, Stored: true, Dump: true,
		}); err != nil {
			return err
		}
	}
	return nil
}

// copyContent writes exactly size bytes from f to the archive and returns
// their SHA-256. A file that shrinks or fails mid-read is padded with zeros
// so the archive stays well formed; the snapshot is then marked partial.
func (r *snapshotRun) copyContent(f io.Reader, name string, size int64) (string, error) {
	r.hash.Reset()
	var n int64
	var readErr error
	for n < size && readErr == nil {
		if err := r.ctx.Err(); err != nil {
			return "", err
		}
		k, err := f.Read(r.buf[:min(int64(len(r.buf)), size-n)])
		if k > 0 {
			if _, werr := r.tw.Write(r.buf[:k]); werr != nil {
				return "", unwrapWrite(werr)
			}
			r.hash.Write(r.buf[:k])
			n += int64(k)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		readErr = err
	}
	if n < size {
		if readErr != nil {
			r.partialNote("%s: read failed after %d of %d bytes, rest stored as zeros: %v", name, n, size, readErr)
		} else {
			r.partialNote("%s: shrank while being read (%d of %d bytes), rest stored as zeros", name, n, size)
		}
		clear(r.buf)
		for n < size {
			k := min(int64(len(r.buf)), size-n)
			if _, err := r.tw.Write(r.buf[:k]); err != nil {
				return "", unwrapWrite(err)
			}
			r.hash.Write(r.buf[:k])
			n += k
		}
	}
	return hex.EncodeToString(r.hash.Sum(nil)), nil
}

func (r *snapshotRun) closeArchive() error {
	if err := r.tw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	if err := r.aw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	r.archDone = true
	if err := r.zw.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	archiveEncoders.Put(r.zw)
	if err := r.ageW.Close(); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	return nil
}

// closeManifest writes the trailer, which carries the archive's digest, and
// finishes the upload and the local cache.
func (r *snapshotRun) closeManifest() error {
	r.trailer.ArchiveSHA256, r.trailer.ArchiveBytes = r.archHash.sum(), r.archHash.n
	if err := r.writeRecord(manifestRecord{Trailer: &r.trailer}); err != nil {
		return err
	}
	if err := r.manZ.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	if err := r.manAge.Close(); err != nil {
		return fmt.Errorf("write manifest: %w", unwrapWrite(err))
	}
	if err := r.cacheFile.Sync(); err != nil {
		return fmt.Errorf("write manifest cache: %w", err)
	}
	return nil
}

// hashCounter hashes and counts what passes through to w, and tells rb
// what w has accepted. Write errors are wrapped in writeError so they can
// be told apart from read errors.
type hashCounter struct {
	w  io.Writer
	h  hash.Hash
	n  int64
	rb *readBack
}

func (c *hashCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	c.rb.wrote(p[:n])
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// writeError marks a failure of the destination, as opposed to the source.
type writeError struct{ err error }

func (w *writeError) Error() string { return w.err.Error() }

func (w *writeError) Unwrap() error { return w.err }

func unwrapWrite(err error) error {
	var werr *writeError
	if errors.As(err, &werr) {
		return werr.err
	}
	return err
}

// tailBuffer keeps the last 1 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 1024 {
		t.b = t.b[len(t.b)-1024:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.b, []byte("?"))) }
