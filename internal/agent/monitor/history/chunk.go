package history

import (
	"errors"
	"math"
	"math/bits"
)

// A chunk holds one series' values for the fixed slots of one block. Slot
// times are implicit (block start + slot × resolution), so only values are
// stored, compressed as in Facebook's Gorilla paper (and Prometheus' XOR
// chunks): each value is XORed with the previous one of its column and only
// the bits that differ are written. Per slot:
//
//	presence bit: 0 = no data in this slot (nothing else follows)
//	              1 = a cell follows:
//	  the first cell of the chunk: every column as 64 raw bits;
//	  later cells, in tiers with more than one column, a "same" bit
//	  (1 = every column equals the previous cell's) and, when 0,
//	  every column XOR-encoded against its previous value (the last
//	  column against the cell's max, which a counter's last equals):
//	    0                                   equal to the previous value
//	    10 <bits>                           differing bits inside the previous window
//	    11 <5 bits lead> <6 bits n> <n bits> a new window
//
// A trailing run of zero bits decodes as empty slots, so byte padding and a
// chunk that ends before its last slot need no length field.

// Columns of a roll-up cell. The raw tier has one column, the value.
const (
	colCount = iota
	colMin
	colMax
	colSum
	colLast
	rollupCols
)

// maxCellBits is the most bits one cell of cols columns can take: the
// presence and "same" bits plus, per column, the 2 control bits, 5+6 bits of
// window and 64 value bits. Bound computations use it.
func maxCellBits(cols int) int {
	b := 1 + cols*(2+5+6+64)
	if cols > 1 {
		b++
	}
	return b
}

var errChunkTruncated = errors.New("chunk ends inside a cell")

// bitWriter appends bits to a byte slice, most significant bit first.
type bitWriter struct {
	b    []byte
	free uint8 // unused low bits in the last byte
}

func (w *bitWriter) writeBit(bit bool) {
	if w.free == 0 {
		w.b = append(w.b, 0)
		w.free = 8
	}
	w.free--
	if bit {
		w.b[len(w.b)-1] |= 1 << w.free
	}
}

// writeBits writes the low n bits of v.
func (w *bitWriter) writeBits(v uint64, n int) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		take := min(n, int(w.free))
		chunk := (v >> (n - take)) & (1<<take - 1)
		w.free -= uint8(take)
		w.b[len(w.b)-1] |= byte(chunk << w.free)
		n -= take
	}
}

// bitReader reads what bitWriter wrote.
type bitReader struct {
	b   []byte
	pos int // in bits
}

func (r *bitReader) left() int { return len(r.b)*8 - r.pos }

func (r *bitReader) readBit() bool {
	bit := r.b[r.pos>>3]&(0x80>>(r.pos&7)) != 0
	r.pos++
	return bit
}

func (r *bitReader) readBits(n int) uint64 {
	var v uint64
	for n > 0 {
		off := r.pos & 7
		take := min(n, 8-off)
		cur := uint64(r.b[r.pos>>3]>>(8-off-take)) & (1<<take - 1)
		v = v<<take | cur
		r.pos += take
		n -= take
	}
	return v
}

// xorState is one column's memory of the previous value and bit window.
type xorState struct {
	prev        uint64
	lead, trail uint8
	window      bool
}

func (s *xorState) encode(w *bitWriter, v uint64) {
	delta := v ^ s.prev
	s.prev = v
	if delta == 0 {
		w.writeBit(false)
		return
	}
	w.writeBit(true)
	lead := uint8(bits.LeadingZeros64(delta))
	trail := uint8(bits.TrailingZeros64(delta))
	if lead > 31 {
		lead = 31 // 5 bits
	}
	if s.window && lead >= s.lead && trail >= s.trail {
		w.writeBit(false)
		w.writeBits(delta>>s.trail, 64-int(s.lead)-int(s.trail))
		return
	}
	s.lead, s.trail, s.window = lead, trail, true
	sig := 64 - int(lead) - int(trail)
	w.writeBit(true)
	w.writeBits(uint64(lead), 5)
	w.writeBits(uint64(sig&63), 6) // 64 significant bits are written as 0
	w.writeBits(delta>>trail, sig)
}

func (s *xorState) decode(r *bitReader) (uint64, error) {
	if r.left() < 1 {
		return 0, errChunkTruncated
	}
	if !r.readBit() {
		return s.prev, nil
	}
	if r.left() < 1 {
		return 0, errChunkTruncated
	}
	if !r.readBit() {
		if !s.window {
			return 0, errors.New("chunk reuses a bit window before setting one")
		}
		n := 64 - int(s.lead) - int(s.trail)
		if r.left() < n {
			return 0, errChunkTruncated
		}
		s.prev ^= r.readBits(n) << s.trail
		return s.prev, nil
	}
	if r.left() < 11 {
		return 0, errChunkTruncated
	}
	lead := int(r.readBits(5))
	sig := int(r.readBits(6))
	if sig == 0 {
		sig = 64
	}
	if lead+sig > 64 {
		return 0, errors.New("chunk has a bit window wider than 64 bits")
	}
	if r.left() < sig {
		return 0, errChunkTruncated
	}
	trail := 64 - lead - sig
	s.lead, s.trail, s.window = uint8(lead), uint8(trail), true
	s.prev ^= r.readBits(sig) << trail
	return s.prev, nil
}

// chunkEncoder builds a chunk cell by cell, slots in increasing order.
type chunkEncoder struct {
	w       bitWriter
	cols    int
	next    int // the first slot not yet written
	started bool
	col     [rollupCols]xorState
}

func newChunkEncoder(cols int) chunkEncoder { return chunkEncoder{cols: cols} }

// reset empties e for another chunk, keeping its buffer.
func (e *chunkEncoder) reset() { *e = chunkEncoder{cols: e.cols, w: bitWriter{b: e.w.b[:0]}} }

// append writes vals (len == cols) at slot, which must be past every slot
// written before; the slots in between are marked empty.
func (e *chunkEncoder) append(slot int, vals []float64) {
	for ; e.next < slot; e.next++ {
		e.w.writeBit(false)
	}
	e.next = slot + 1
	e.w.writeBit(true)
	if !e.started {
		e.started = true
		for c := 0; c < e.cols; c++ {
			v := math.Float64bits(vals[c])
			e.col[c].prev = v
			e.w.writeBits(v, 64)
		}
		return
	}
	if e.cols > 1 {
		same := true
		for c := 0; c < e.cols; c++ {
			if math.Float64bits(vals[c]) != e.col[c].prev {
				same = false
				break
			}
		}
		e.w.writeBit(same)
		if same {
			return
		}
	}
	for c := 0; c < e.cols; c++ {
		if c == colLast {
			// Against this cell's max, not the previous last: for a counter
			// they are equal, and cost one bit.
			e.col[c].prev = math.Float64bits(vals[colMax])
		}
		e.col[c].encode(&e.w, math.Float64bits(vals[c]))
	}
}

// bytes returns the chunk so far; appending later may change its last byte.
func (e *chunkEncoder) bytes() []byte { return e.w.b }

// chunkIter walks the filled cells of a chunk.
type chunkIter struct {
	r       bitReader
	cols    int
	slots   int
	slot    int // the current cell's slot after next returns true
	vals    [rollupCols]float64
	started bool
	col     [rollupCols]xorState
	err     error
}

func newChunkIter(b []byte, cols, slots int) chunkIter {
	return chunkIter{r: bitReader{b: b}, cols: cols, slots: slots, slot: -1}
}

// next moves to the next filled slot; false at the end or on an error (see err).
func (it *chunkIter) next() bool {
	if it.err != nil {
		return false
	}
	for {
		it.slot++
		if it.slot >= it.slots || it.r.left() < 1 {
			return false
		}
		if it.r.readBit() {
			break
		}
	}
	if !it.started {
		it.started = true
		if it.r.left() < 64*it.cols {
			it.err = errChunkTruncated
			return false
		}
		for c := 0; c < it.cols; c++ {
			v := it.r.readBits(64)
			it.col[c].prev = v
			it.vals[c] = math.Float64frombits(v)
		}
		return true
	}
	if it.cols > 1 {
		if it.r.left() < 1 {
			it.err = errChunkTruncated
			return false
		}
		if it.r.readBit() {
			return true // vals still hold the previous cell
		}
	}
	for c := 0; c < it.cols; c++ {
		if c == colLast {
			it.col[c].prev = math.Float64bits(it.vals[colMax])
		}
		v, err := it.col[c].decode(&it.r)
		if err != nil {
			it.err = err
			return false
		}
		it.vals[c] = math.Float64frombits(v)
	}
	return true
}
