package history

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// head is the raw block being filled, in memory, compressed as it will be
// written. Its write-ahead log makes it durable.
type head struct {
	start int64 // unix seconds
	res   int64
	slots int
	byKey map[string]*headSeries
	byID  []*headSeries
	// refused remembers (up to maxRefusedKept) new series turned away by
	// the series limit in this block, for Status.
	refused map[string]struct{}
}

const maxRefusedKept = 1000

type headSeries struct {
	id       uint32
	key      string
	name     string
	labels   Labels
	enc      chunkEncoder
	cells    int
	lastSlot int
	last     float64
}

func newHead(start, res int64, slots int) *head {
	return &head{start: start, res: res, slots: slots, byKey: map[string]*headSeries{}}
}

func (h *head) end() int64 { return h.start + h.res*int64(h.slots) }

// addSeries creates a series from its key; the caller enforces the limit.
func (h *head) addSeries(key string) (*headSeries, error) {
	name, ls, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	s := &headSeries{id: uint32(len(h.byID)), key: key, name: name, labels: ls, enc: newChunkEncoder(1), lastSlot: -1}
	h.byKey[key] = s
	h.byID = append(h.byID, s)
	return s, nil
}

// add appends v at slot; false if the series already has that slot or a
// later one (a repeated or out-of-order sample).
func (s *headSeries) add(slot int, v float64) bool {
	if slot <= s.lastSlot {
		return false
	}
	vals := [1]float64{v}
	s.enc.append(slot, vals[:])
	s.lastSlot, s.last = slot, v
	s.cells++
	return true
}

// walVisitor, for replaying a log into an empty head.
func (h *head) walSeries(id uint32, key string) error {
	if int(id) != len(h.byID) {
		return fmt.Errorf("series id %d out of sequence", id)
	}
	if _, dup := h.byKey[key]; dup {
		return fmt.Errorf("series %d defined twice", id)
	}
	_, err := h.addSeries(key)
	return err
}

func (h *head) walSample(slot int, id uint32, v float64) error {
	if int(id) >= len(h.byID) {
		return fmt.Errorf("sample of undefined series %d", id)
	}
	if !h.byID[id].add(slot, v) {
		return fmt.Errorf("sample of series %d at slot %d out of order", id, slot)
	}
	return nil
}

// walImage is a log that recreates the head: header, every series, and its
// samples slot by slot. The store writes it when a block starts and when
// the disk takes writes again after refusing them.
func (h *head) walImage() []byte {
	var e walEncoder
	e.b = append(e.b, encodeWALHeader(walHeader{start: h.start, res: h.res, slots: h.slots})...)
	for _, s := range h.byID {
		e.series(s.id, s.key)
	}
	its := make([]chunkIter, len(h.byID))
	ok := make([]bool, len(h.byID))
	for i, s := range h.byID {
		its[i] = newChunkIter(s.enc.bytes(), 1, h.slots)
		ok[i] = its[i].next()
	}
	for slot := 0; slot < h.slots; slot++ {
		var at, nAt, n int
		for i := range its {
			if !ok[i] || its[i].slot != slot {
				continue
			}
			if n == 0 {
				at, nAt = e.samples(slot)
			}
			e.sample(uint32(i), its[i].vals[0])
			n++
			ok[i] = its[i].next()
		}
		if n > 0 {
			e.endSamples(at, nAt, n)
		}
	}
	return e.b
}

// seal encodes the head as a block, in memory.
func (h *head) seal() (*blockMeta, error) {
	order := slices.Clone(h.byID)
	slices.SortFunc(order, func(a, b *headSeries) int { return strings.Compare(a.key, b.key) })
	var buf bytes.Buffer
	b, err := newBlockBuilder(&buf, tierRaw, 1, unixTime(h.start), secs(h.res), h.slots)
	if err != nil {
		return nil, err
	}
	for _, s := range order {
		if err := b.add(s.key, s.enc.bytes(), s.cells); err != nil {
			return nil, err
		}
	}
	hdr, err := b.finish()
	if err != nil {
		return nil, err
	}
	data := buf.Bytes()
	copy(data, hdr)
	return memBlock(data)
}
