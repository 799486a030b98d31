package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A block file holds one tier's chunks for one span of time, for every
// series that had data in it. It is written once (temporary file, fsync,
// rename, directory fsync) and never changed, so a reader sees it whole or
// not at all. Every byte is under a checksum (CRC-32C), so damage is found
// when the file is opened (header, table) or read (chunks):
//
//	header  48 bytes: magic "STWDHBLK", version u16, tier u8, columns u8,
//	        resolution s u32, start unix s i64, slots u32, series u32,
//	        table offset u64, table length u32, CRC of the 44 bytes before
//	chunks  one per series
//	table   per series, sorted by key: uvarint key length, key, uvarint
//	        chunk offset, uvarint chunk length, u32 chunk CRC, uvarint
//	        filled cells; then the CRC of the table
//
// The file ends exactly where the table does, so truncation is found too.
// Integers are little endian.
const (
	blockMagic      = "STWDHBLK"
	blockVersion    = 1
	blockHeaderSize = 48
	blockExt        = ".blk"
	// maxTableEntryOverhead is a table entry's size beside its key: four
	// uvarints and a CRC.
	maxTableEntryOverhead = 4*binary.MaxVarintLen64 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// errDamaged marks an error as damage to a file (moved aside), as opposed
// to a failure to read it (retried later).
var errDamaged = errors.New("damaged")

func damaged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errDamaged, fmt.Sprintf(format, a...))
}

// blockMeta is what the store remembers of a block between queries.
type blockMeta struct {
	name     string // file name in the store's directory
	tier     int
	start    int64 // unix seconds
	res      int64 // seconds per slot
	slots    int
	nseries  int
	tableOff int64
	tableLen int64
	// mem holds the whole file while it cannot be written (disk full) and
	// for the newest raw block, which recent-window queries read most.
	mem     []byte
	entries []tableEntry // parsed table, kept with mem
	onDisk  bool
}

func (b *blockMeta) end() int64  { return b.start + b.res*int64(b.slots) }
func (b *blockMeta) size() int64 { return b.tableOff + b.tableLen }

// tableEntry locates one series' chunk in a block.
type tableEntry struct {
	key    string
	off    int64
	length int64
	crc    uint32
	cells  int
}

func blockName(tier int, start int64) string {
	return tierNames[tier] + "-" + strconv.FormatInt(start, 10) + blockExt
}

// parseBlockName returns the tier and start a block file name gives, ok
// false for a name the store did not make.
func parseBlockName(name string) (tier int, start int64, ok bool) {
	base, found := strings.CutSuffix(name, blockExt)
	if !found {
		return 0, 0, false
	}
	tn, ts, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	for i, n := range tierNames {
		if n == tn {
			start, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || strconv.FormatInt(start, 10) != ts {
				return 0, 0, false
			}
			return i, start, true
		}
	}
	return 0, 0, false
}

// blockBuilder writes a block: header placeholder, chunks as they come,
// then the table, and finally the real header at offset 0.
type blockBuilder struct {
	meta    blockMeta
	cols    int
	w       io.Writer
	off     int64
	entries []tableEntry
}

func newBlockBuilder(w io.Writer, tier, cols int, start time.Time, res time.Duration, slots int) (*blockBuilder, error) {
	b := &blockBuilder{w: w, cols: cols, off: blockHeaderSize, meta: blockMeta{
		name: blockName(tier, start.Unix()), tier: tier, start: start.Unix(),
		res: int64(res / time.Second), slots: slots,
	}}
	if _, err := w.Write(make([]byte, blockHeaderSize)); err != nil {
		return nil, err
	}
	return b, nil
}

// add writes one series' chunk; keys must come in increasing order.
func (b *blockBuilder) add(key string, chunk []byte, cells int) error {
	if _, err := b.w.Write(chunk); err != nil {
		return err
	}
	b.entries = append(b.entries, tableEntry{key: key, off: b.off, length: int64(len(chunk)), crc: checksum(chunk), cells: cells})
	b.off += int64(len(chunk))
	return nil
}

// finish writes the table and returns the header to put at offset 0.
func (b *blockBuilder) finish() ([]byte, error) {
	var t []byte
	for _, e := range b.entries {
		t = binary.AppendUvarint(t, uint64(len(e.key)))
		t = append(t, e.key...)
		t = binary.AppendUvarint(t, uint64(e.off))
		t = binary.AppendUvarint(t, uint64(e.length))
		t = binary.LittleEndian.AppendUint32(t, e.crc)
		t = binary.AppendUvarint(t, uint64(e.cells))
	}
	t = binary.LittleEndian.AppendUint32(t, checksum(t))
	if _, err := b.w.Write(t); err != nil {
		return nil, err
	}
	b.meta.nseries = len(b.entries)
	b.meta.tableOff = b.off
	b.meta.tableLen = int64(len(t))
	return encodeBlockHeader(&b.meta, b.cols), nil
}

func encodeBlockHeader(m *blockMeta, cols int) []byte {
	h := make([]byte, 0, blockHeaderSize)
	h = append(h, blockMagic...)
	h = binary.LittleEndian.AppendUint16(h, blockVersion)
	h = append(h, byte(m.tier), byte(cols))
	h = binary.LittleEndian.AppendUint32(h, uint32(m.res))
	h = binary.LittleEndian.AppendUint64(h, uint64(m.start))
	h = binary.LittleEndian.AppendUint32(h, uint32(m.slots))
	h = binary.LittleEndian.AppendUint32(h, uint32(m.nseries))
	h = binary.LittleEndian.AppendUint64(h, uint64(m.tableOff))
	h = binary.LittleEndian.AppendUint32(h, uint32(m.tableLen))
	return binary.LittleEndian.AppendUint32(h, checksum(h))
}

// decodeBlockHeader checks a header against the file it came from.
func decodeBlockHeader(h []byte, name string, size int64) (blockMeta, error) {
	if len(h) < blockHeaderSize {
		return blockMeta{}, damaged("%s: %d bytes, shorter than a header", name, size)
	}
	if string(h[:8]) != blockMagic {
		return blockMeta{}, damaged("%s: not a history block (bad magic)", name)
	}
	if checksum(h[:44]) != binary.LittleEndian.Uint32(h[44:48]) {
		return blockMeta{}, damaged("%s: header checksum mismatch", name)
	}
	if v := binary.LittleEndian.Uint16(h[8:10]); v != blockVersion {
		return blockMeta{}, damaged("%s: format version %d, this agent reads %d", name, v, blockVersion)
	}
	m := blockMeta{
		name:     name,
		tier:     int(h[10]),
		res:      int64(binary.LittleEndian.Uint32(h[12:16])),
		start:    int64(binary.LittleEndian.Uint64(h[16:24])),
		slots:    int(binary.LittleEndian.Uint32(h[24:28])),
		nseries:  int(binary.LittleEndian.Uint32(h[28:32])),
		tableOff: int64(binary.LittleEndian.Uint64(h[32:40])),
		tableLen: int64(binary.LittleEndian.Uint32(h[40:44])),
	}
	wantTier, wantStart, ok := parseBlockName(name)
	switch {
	case !ok || m.tier != wantTier || m.start != wantStart:
		return blockMeta{}, damaged("%s: header says tier %d start %d", name, m.tier, m.start)
	case int(h[11]) != tierCols(m.tier) || m.res <= 0 || m.slots <= 0:
		return blockMeta{}, damaged("%s: header has columns %d, resolution %d, slots %d", name, h[11], m.res, m.slots)
	case m.tableOff < blockHeaderSize || m.tableLen < 4 || m.size() != size:
		return blockMeta{}, damaged("%s: %d bytes, header says %d (truncated or extended)", name, size, m.size())
	}
	return m, nil
}

func tierCols(tier int) int {
	if tier == tierRaw {
		return 1
	}
	return rollupCols
}

// parseTable checks and decodes a block's table. Keys are substrings of one
// string, so a table of n series costs one allocation for the keys.
func parseTable(m *blockMeta, t []byte) ([]tableEntry, error) {
	if int64(len(t)) != m.tableLen || len(t) < 4 {
		return nil, damaged("%s: short table", m.name)
	}
	body := t[:len(t)-4]
	if checksum(body) != binary.LittleEndian.Uint32(t[len(t)-4:]) {
		return nil, damaged("%s: table checksum mismatch", m.name)
	}
	s := string(body)
	entries := make([]tableEntry, 0, m.nseries)
	pos := 0
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(body[pos:])
		if n <= 0 {
			return 0, false
		}
		pos += n
		return v, true
	}
	for pos < len(body) {
		kl, ok := uvarint()
		if !ok || kl > MaxKeyBytes || pos+int(kl) > len(body) {
			return nil, damaged("%s: bad table entry %d", m.name, len(entries))
		}
		e := tableEntry{key: s[pos : pos+int(kl)]}
		pos += int(kl)
		off, ok1 := uvarint()
		length, ok2 := uvarint()
		if !ok1 || !ok2 || pos+4 > len(body) {
			return nil, damaged("%s: bad table entry %d", m.name, len(entries))
		}
		e.crc = binary.LittleEndian.Uint32(body[pos:])
		pos += 4
		cells, ok3 := uvarint()
		e.off, e.length, e.cells = int64(off), int64(length), int(cells)
		if !ok3 || e.off < blockHeaderSize || e.off+e.length > m.tableOff {
			return nil, damaged("%s: table entry %d points outside the chunks", m.name, len(entries))
		}
		if n := len(entries); n > 0 && entries[n-1].key >= e.key {
			return nil, damaged("%s: table out of order", m.name)
		}
		entries = append(entries, e)
	}
	if len(entries) != m.nseries {
		return nil, damaged("%s: table has %d series, header says %d", m.name, len(entries), m.nseries)
	}
	return entries, nil
}

// blockReader reads one block for one query or roll-up.
type blockReader struct {
	meta    *blockMeta
	f       file // nil when the block is in memory
	entries []tableEntry
}

// openBlockReader opens a block and reads its table. A block deleted by
// retention since the caller listed it gives os.ErrNotExist.
func openBlockReader(fsys fileSystem, dir string, m *blockMeta) (*blockReader, error) {
	if m.mem != nil {
		return &blockReader{meta: m, entries: m.entries}, nil
	}
	f, err := fsys.OpenFile(filepath.Join(dir, m.name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	t := make([]byte, m.tableLen)
	if _, err := f.ReadAt(t, m.tableOff); err != nil {
		_ = f.Close()
		if errors.Is(err, io.EOF) {
			return nil, damaged("%s: truncated table", m.name)
		}
		return nil, fmt.Errorf("read %s: %w", m.name, err)
	}
	entries, err := parseTable(m, t)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &blockReader{meta: m, f: f, entries: entries}, nil
}

func (r *blockReader) close() {
	if r.f != nil {
		_ = r.f.Close() // read only
	}
}

// lookup returns the index of key, or -1.
func (r *blockReader) lookup(key string) int {
	i := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].key >= key })
	if i < len(r.entries) && r.entries[i].key == key {
		return i
	}
	return -1
}

// withPrefix returns the range of entries whose key starts with prefix.
func (r *blockReader) withPrefix(prefix string) (int, int) {
	lo := sort.Search(len(r.entries), func(i int) bool { return r.entries[i].key >= prefix })
	hi := lo
	for hi < len(r.entries) && strings.HasPrefix(r.entries[hi].key, prefix) {
		hi++
	}
	return lo, hi
}

// chunk returns entry i's chunk, checked. A chunk read from a file goes
// into *buf, grown as needed and reused by the next call; a chunk of an
// in-memory block is the block's own storage, never written to.
func (r *blockReader) chunk(i int, buf *[]byte) ([]byte, error) {
	e := r.entries[i]
	var c []byte
	if r.f == nil {
		c = r.meta.mem[e.off : e.off+e.length]
	} else {
		if int64(cap(*buf)) < e.length {
			*buf = make([]byte, e.length)
		}
		c = (*buf)[:e.length]
		if _, err := r.f.ReadAt(c, e.off); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, damaged("%s: truncated chunk", r.meta.name)
			}
			return nil, fmt.Errorf("read %s: %w", r.meta.name, err)
		}
	}
	if checksum(c) != e.crc {
		return nil, damaged("%s: chunk checksum mismatch for series %d", r.meta.name, i)
	}
	return c, nil
}

// verifyBlockFile reads a block file's header and table from disk.
func verifyBlockFile(fsys fileSystem, dir, name string) (blockMeta, error) {
	f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
	if err != nil {
		return blockMeta{}, fmt.Errorf("open %s: %w", name, err)
	}
	defer func() { _ = f.Close() }() // read only
	fi, err := f.Stat()
	if err != nil {
		return blockMeta{}, fmt.Errorf("stat %s: %w", name, err)
	}
	h := make([]byte, blockHeaderSize)
	n, err := f.ReadAt(h, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return blockMeta{}, fmt.Errorf("read %s: %w", name, err)
	}
	m, err := decodeBlockHeader(h[:n], name, fi.Size())
	if err != nil {
		return blockMeta{}, err
	}
	t := make([]byte, m.tableLen)
	if _, err := f.ReadAt(t, m.tableOff); err != nil {
		return blockMeta{}, damaged("%s: truncated table", name)
	}
	if _, err := parseTable(&m, t); err != nil {
		return blockMeta{}, err
	}
	m.onDisk = true
	return m, nil
}

// memBlock turns a block built in memory into its meta, table parsed.
func memBlock(data []byte) (*blockMeta, error) {
	m, err := decodeBlockHeader(data, blockNameFromHeader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	m.entries, err = parseTable(&m, data[m.tableOff:])
	if err != nil {
		return nil, err
	}
	m.mem = data
	return &m, nil
}

func blockNameFromHeader(h []byte) string {
	if len(h) < blockHeaderSize || int(h[10]) >= numTiers {
		return "?"
	}
	return blockName(int(h[10]), int64(binary.LittleEndian.Uint64(h[16:24])))
}
