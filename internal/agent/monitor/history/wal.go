package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

// The write-ahead log holds the raw block being filled (the head), so a
// restart or power cut loses nothing that Append had returned from: every
// Append writes one record and fsyncs it before returning. Its layout:
//
//	header  32 bytes: magic "STWDHWAL", version u16, 0 u16, resolution s
//	        u32, block start unix s i64, slots u32, CRC of the 28 before
//	record  u32 payload length, u32 CRC of type and payload, u8 type, payload
//	  series   uvarint id, uvarint key length, key
//	  samples  uvarint slot, uvarint n, n × (uvarint id, u64 value bits)
//
// A power cut can only damage the record being written, the last one: a
// bad record that reaches the end of the file, or is followed by nothing but
// zeros, is a torn write and is cut off. A bad record followed by data is
// damage: the log is moved aside and rewritten from what was read before it.
// The log is replaced (temporary file, fsync, rename) when a new block
// starts, once the block before it is safely in its own file.
const (
	walName       = "wal"
	walMagic      = "STWDHWAL"
	walVersion    = 1
	walHeaderSize = 32
	walRecHeader  = 9

	recSeries  = 1
	recSamples = 2

	// maxWALRecord rejects a length field no writer could have produced.
	maxWALRecord = 64 << 20
)

// maxWALBytes bounds the log of one raw block of slots for n series: each
// sample in a record of its own at worst, plus every series' definition.
func maxWALBytes(n, slots int) int64 {
	perSample := int64(walRecHeader + 2*binary.MaxVarintLen32 + binary.MaxVarintLen32 + 8)
	perSeries := int64(walRecHeader + 2*binary.MaxVarintLen32 + MaxKeyBytes)
	return walHeaderSize + int64(n)*(int64(slots)*perSample+perSeries)
}

type walHeader struct {
	start int64 // unix seconds
	res   int64 // seconds
	slots int
}

func encodeWALHeader(h walHeader) []byte {
	b := make([]byte, 0, walHeaderSize)
	b = append(b, walMagic...)
	b = binary.LittleEndian.AppendUint16(b, walVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.res))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.start))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.slots))
	return binary.LittleEndian.AppendUint32(b, checksum(b))
}

func decodeWALHeader(b []byte) (walHeader, error) {
	switch {
	case len(b) < walHeaderSize:
		return walHeader{}, damaged("wal: %d bytes, shorter than its header", len(b))
	case string(b[:8]) != walMagic:
		return walHeader{}, damaged("wal: not a history log (bad magic)")
	case checksum(b[:28]) != binary.LittleEndian.Uint32(b[28:32]):
		return walHeader{}, damaged("wal: header checksum mismatch")
	case binary.LittleEndian.Uint16(b[8:10]) != walVersion:
		return walHeader{}, damaged("wal: format version %d, this agent reads %d", binary.LittleEndian.Uint16(b[8:10]), walVersion)
	}
	h := walHeader{
		res:   int64(binary.LittleEndian.Uint32(b[12:16])),
		start: int64(binary.LittleEndian.Uint64(b[16:24])),
		slots: int(binary.LittleEndian.Uint32(b[24:28])),
	}
	if h.res <= 0 || h.slots <= 0 || h.slots > 1<<20 {
		return walHeader{}, damaged("wal: header has resolution %d, slots %d", h.res, h.slots)
	}
	return h, nil
}

// walEncoder builds records into one buffer, reused between Appends.
type walEncoder struct{ b []byte }

func (e *walEncoder) reset() { e.b = e.b[:0] }

// begin starts a record and returns the offset of its header.
func (e *walEncoder) begin(typ byte) int {
	at := len(e.b)
	e.b = append(e.b, make([]byte, walRecHeader)...)
	e.b[at+8] = typ
	return at
}

func (e *walEncoder) end(at int) {
	payload := e.b[at+walRecHeader:]
	binary.LittleEndian.PutUint32(e.b[at:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(e.b[at+4:], checksum(e.b[at+8:]))
}

func (e *walEncoder) series(id uint32, key string) {
	at := e.begin(recSeries)
	e.b = binary.AppendUvarint(e.b, uint64(id))
	e.b = binary.AppendUvarint(e.b, uint64(len(key)))
	e.b = append(e.b, key...)
	e.end(at)
}

// samples starts a samples record; add entries with sample, close with end.
// n is patched in by end, so it is written as a fixed 5-byte uvarint.
func (e *walEncoder) samples(slot int) (at, nAt int) {
	at = e.begin(recSamples)
	e.b = binary.AppendUvarint(e.b, uint64(slot))
	nAt = len(e.b)
	e.b = append(e.b, 0x80, 0x80, 0x80, 0x80, 0)
	return at, nAt
}

func (e *walEncoder) sample(id uint32, v float64) {
	e.b = binary.AppendUvarint(e.b, uint64(id))
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v))
}

func (e *walEncoder) endSamples(at, nAt, n int) {
	for i := 0; i < 5; i++ {
		c := byte(n>>(7*i)) & 0x7f
		if i < 4 {
			c |= 0x80
		}
		e.b[nAt+i] = c
	}
	e.end(at)
}

// walReplay is what reading a log gave.
type walReplay struct {
	header  walHeader
	records int
	// good is the length of the valid prefix; torn is set when bytes after
	// it were a torn last write, damage when they were something else.
	good   int64
	torn   int64
	damage error
}

// walVisitor receives a log's records in order.
type walVisitor interface {
	walSeries(id uint32, key string) error
	walSample(slot int, id uint32, v float64) error
}

// replayWAL reads a whole log whose header decodeWALHeader accepted. Damage
// after the header is reported in the result; everything before it is
// delivered.
func replayWAL(data []byte, v walVisitor) walReplay {
	h, _ := decodeWALHeader(data)
	r := walReplay{header: h, good: walHeaderSize}
	pos := walHeaderSize
	for pos < len(data) {
		rest := data[pos:]
		n, bad := int64(0), error(nil)
		if len(rest) < walRecHeader {
			bad = errors.New("short record header")
		} else {
			n = int64(binary.LittleEndian.Uint32(rest))
			switch {
			case n > maxWALRecord:
				bad = fmt.Errorf("record length %d", n)
			case int64(len(rest)) < walRecHeader+n:
				bad = errors.New("record runs past the end")
			case checksum(rest[8:walRecHeader+n]) != binary.LittleEndian.Uint32(rest[4:]):
				bad = errors.New("record checksum mismatch")
			default:
				bad = applyWALRecord(rest[8], rest[walRecHeader:walRecHeader+n], h.slots, v)
			}
		}
		if bad != nil {
			end := int64(pos) + walRecHeader + n
			if allZero(rest) || (n <= maxWALRecord && end >= int64(len(data))) {
				r.torn = int64(len(rest))
			} else {
				r.damage = damaged("wal: offset %d: %v, %d bytes after it", pos, bad, len(rest))
			}
			return r
		}
		pos += walRecHeader + int(n)
		r.records++
		r.good = int64(pos)
	}
	return r
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func applyWALRecord(typ byte, p []byte, slots int, v walVisitor) error {
	uv := func() (uint64, error) {
		x, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, errors.New("bad varint")
		}
		p = p[n:]
		return x, nil
	}
	switch typ {
	case recSeries:
		id, err := uv()
		if err != nil {
			return err
		}
		kl, err := uv()
		if err != nil || kl > MaxKeyBytes || uint64(len(p)) != kl {
			return errors.New("bad series record")
		}
		return v.walSeries(uint32(id), string(p))
	case recSamples:
		slot, err := uv()
		if err != nil || slot >= uint64(slots) {
			return errors.New("bad samples record")
		}
		n, err := uv()
		if err != nil {
			return err
		}
		for i := uint64(0); i < n; i++ {
			id, err := uv()
			if err != nil || len(p) < 8 {
				return errors.New("bad sample")
			}
			val := math.Float64frombits(binary.LittleEndian.Uint64(p))
			p = p[8:]
			if err := v.walSample(int(slot), uint32(id), val); err != nil {
				return err
			}
		}
		if len(p) != 0 {
			return errors.New("samples record longer than its samples")
		}
		return nil
	}
	return fmt.Errorf("unknown record type %d", typ)
}

// walFile is the open log the store appends to.
type walFile struct {
	fsys   fileSystem
	dir    string
	f      file
	size   int64
	noSync bool
}

// append writes records and syncs them. On failure the file is cut back to
// where it was, so a partial write leaves no torn record before later ones.
func (w *walFile) append(b []byte) error {
	n, err := w.f.WriteAt(b, w.size)
	if err == nil && !w.noSync {
		err = w.f.Sync()
	}
	if err != nil {
		if n > 0 {
			_ = w.f.Truncate(w.size) // best effort; the caller rewrites the log anyway
		}
		return fmt.Errorf("append to history log: %w", err)
	}
	w.size += int64(len(b))
	return nil
}

func (w *walFile) close() error {
	if w == nil || w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// writeWAL replaces the log with data (a header and records): temporary
// file, fsync, rename, directory fsync. It returns the new log, open for
// appending.
func writeWAL(fsys fileSystem, dir string, data []byte, noSync bool) (*walFile, error) {
	path := filepath.Join(dir, walName)
	tmp := filepath.Join(dir, tempPrefix+walName)
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create history log: %w", err)
	}
	fail := func(err error) (*walFile, error) {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		return fail(fmt.Errorf("write history log: %w", err))
	}
	if !noSync {
		if err := f.Sync(); err != nil {
			return fail(fmt.Errorf("sync history log: %w", err))
		}
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("rename history log: %w", err))
	}
	if !noSync {
		if err := fsys.SyncDir(dir); err != nil {
			return fail(fmt.Errorf("write history log: %w", err))
		}
	}
	return &walFile{fsys: fsys, dir: dir, f: f, size: int64(len(data)), noSync: noSync}, nil
}

// readAll reads a file the store owns in full.
func readAll(fsys fileSystem, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf.Bytes(), nil
}
