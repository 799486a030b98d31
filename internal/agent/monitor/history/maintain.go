package history

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// persist makes what Append added durable, in this order: blocks held in
// memory go to their files, then the log follows the head (replaced when a
// block starts or after the disk refused writes, else appended to). A
// failure leaves everything in memory and marks the disk as refusing; the
// next Append tries again, so the store catches up once space is back.
// Roll-ups, retention and the size cap run when a block was sealed or after
// such a catch-up. Runs with appendMu held, which is what makes reading
// s.head and s.wal here safe without mu.
func (s *Store) persist(rolled bool) {
	wasRefusing := s.refusing()
	if err := s.writePending(); err != nil {
		// The log still holds the block that could not be written: keep it
		// as it is, and stop appending the new head's records to it.
		_ = s.wal.close()
		s.wal = nil
		s.setDiskErr(err)
		return
	}
	if rolled || s.wal == nil {
		w, err := writeWAL(s.fs, s.dir, s.head.walImage(), s.lay.opt.noSync)
		_ = s.wal.close() // replaced, or stale once its block is written
		s.wal = w
		if err != nil {
			s.setDiskErr(err)
			return
		}
	} else if err := s.wal.append(s.walBuf.b); err != nil {
		_ = s.wal.close()
		s.wal = nil
		s.setDiskErr(err)
		return
	}
	s.mu.Lock()
	s.walBytes = s.wal.size
	s.mu.Unlock()
	if wasRefusing {
		s.clearDiskErr()
	}
	if rolled || wasRefusing {
		if err := s.maintain(); err != nil {
			s.setDiskErr(err)
		}
	}
}

func (s *Store) refusing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.diskErr != nil
}

// maintain builds missing roll-ups, applies retention and the size cap.
func (s *Store) maintain() error {
	for tier := tierMinute; tier < numTiers; tier++ {
		if err := s.deriveTier(tier); err != nil {
			return err
		}
	}
	s.retain()
	s.evict()
	return nil
}

// writePending writes blocks held in memory, oldest first, and lets go of
// their memory except for the newest raw block's, which recent-window
// queries read.
func (s *Store) writePending() error {
	for tier := range numTiers {
		s.mu.RLock()
		list := s.blocks[tier]
		s.mu.RUnlock()
		for _, b := range list {
			if b.onDisk {
				continue
			}
			if err := s.writeFile(b.name, b.mem); err != nil {
				return err
			}
			s.mu.Lock()
			done := *b
			done.onDisk = true
			s.replaceBlockLocked(b, &done)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	raws := s.blocks[tierRaw]
	for i, b := range raws {
		if b.mem != nil && b.onDisk && i != len(raws)-1 {
			light := *b
			light.mem, light.entries = nil, nil
			s.replaceBlockLocked(b, &light)
		}
	}
	s.mu.Unlock()
	return nil
}

// replaceBlockLocked swaps old for b in its tier. Block metas are never
// changed in place, so queries can use the ones they copied without locks.
func (s *Store) replaceBlockLocked(old, b *blockMeta) {
	list := s.blocks[old.tier]
	if i := slices.Index(list, old); i >= 0 {
		list = slices.Clone(list)
		if b == nil {
			list = slices.Delete(list, i, i+1)
		} else {
			list[i] = b
		}
		s.blocks[old.tier] = list
	}
}

// limitPendingLocked drops the oldest blocks held in memory past MaxPendingBytes.
func (s *Store) limitPendingLocked() {
	for {
		var total int64
		var oldest *blockMeta
		n := 0
		for tier := range numTiers {
			for _, b := range s.blocks[tier] {
				if !b.onDisk {
					total += int64(len(b.mem))
					n++
					if oldest == nil || b.start < oldest.start {
						oldest = b
					}
				}
			}
		}
		if total <= s.lay.opt.MaxPendingBytes || n <= 1 {
			return
		}
		s.replaceBlockLocked(oldest, nil)
		s.stats.lostBlocks++
	}
}

// writeFile writes a whole file the store's way: temporary file, fsync,
// rename, directory fsync.
func (s *Store) writeFile(name string, data []byte) error {
	return s.writeFileWith(name, func(f file) error {
		_, err := f.Write(data)
		return err
	})
}

func (s *Store) writeFileWith(name string, fill func(f file) error) error {
	tmp := filepath.Join(s.dir, tempPrefix+name)
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create history file %s: %w", name, err)
	}
	err = fill(f)
	if err == nil && !s.lay.opt.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err == nil && !s.lay.opt.noSync {
		err = s.fs.SyncDir(s.dir)
	}
	if err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("write history file %s: %w", name, err)
	}
	return nil
}

// deriveTier builds the roll-up blocks of tier whose span has ended in the
// finer tier (everything before the head is sealed) and that are newer than
// its newest block. A block deleted early for the size cap is not built
// again from the finer tier's data.
func (s *Store) deriveTier(tier int) error {
	lt := s.lay.tiers[tier]
	span := int64(lt.span / time.Second)
	s.mu.RLock()
	horizon := s.now
	if s.head != nil {
		horizon = s.head.start
	}
	srcs, have := s.blocks[tier-1], s.blocks[tier]
	s.mu.RUnlock()
	done := int64(math.MinInt64)
	if len(have) > 0 {
		done = have[len(have)-1].end()
	}
	var periods []int64
	for _, b := range srcs {
		p := b.start / span * span
		if p < done || p+span > horizon || (len(periods) > 0 && periods[len(periods)-1] == p) {
			continue
		}
		periods = append(periods, p)
	}
	for _, p := range periods {
		if err := s.buildRollup(tier, p, srcs); err != nil {
			return err
		}
	}
	return nil
}

// buildRollup aggregates the finer tier's blocks in [p, p+span) into one
// block of tier, series by series, streaming it to its file so that memory
// stays at one series' cells whatever the block's size.
func (s *Store) buildRollup(tier int, p int64, all []*blockMeta) error {
	lt := s.lay.tiers[tier]
	span, res := int64(lt.span/time.Second), int64(lt.res/time.Second)
	var readers []*blockReader
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	cells := map[string]int{}
	for _, b := range all {
		if b.end() <= p || b.start >= p+span {
			continue
		}
		r, err := openBlockReader(s.fs, s.dir, b)
		if err != nil {
			if s.skipUnreadable(b, err) {
				continue
			}
			return err
		}
		readers = append(readers, r)
		for _, e := range r.entries {
			cells[e.key] += e.cells
		}
	}
	if len(readers) == 0 {
		return nil
	}
	keys := make([]string, 0, len(cells))
	for k := range cells {
		keys = append(keys, k)
	}
	if len(keys) > s.lay.opt.MaxSeries {
		// Keep the series with the most data: the steady ones, not churn.
		slices.SortFunc(keys, func(a, b string) int {
			if c := cells[b] - cells[a]; c != 0 {
				return c
			}
			return strings.Compare(a, b)
		})
		s.mu.Lock()
		s.stats.droppedRollupSeries += int64(len(keys) - s.lay.opt.MaxSeries)
		s.mu.Unlock()
		keys = keys[:s.lay.opt.MaxSeries]
	}
	slices.Sort(keys)

	var meta *blockMeta
	err := s.writeFileWith(blockName(tier, p), func(f file) error {
		bw := bufio.NewWriterSize(f, 32<<10)
		b, err := newBlockBuilder(bw, tier, rollupCols, unixTime(p), lt.res, lt.slots())
		if err != nil {
			return err
		}
		acc := make([]cell, lt.slots())
		enc := newChunkEncoder(rollupCols)
		var buf []byte
		for _, key := range keys {
			clear(acc)
			for _, r := range readers {
				i := r.lookup(key)
				if i < 0 {
					continue
				}
				c, err := r.chunk(i, &buf)
				if err != nil {
					if s.skipUnreadable(r.meta, err) {
						continue
					}
					return err
				}
				if err := eachCell(c, r.meta, func(t int64, x cell) {
					acc[(t-p)/res].merge(x)
				}); err != nil {
					s.skipUnreadable(r.meta, err)
				}
			}
			enc.reset()
			n := 0
			for slot, c := range acc {
				if c.count > 0 {
					vals := c.columns()
					enc.append(slot, vals[:])
					n++
				}
			}
			if n == 0 {
				continue
			}
			if err := b.add(key, enc.bytes(), n); err != nil {
				return err
			}
		}
		hdr, err := b.finish()
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		meta = &b.meta
		_, err = f.WriteAt(hdr, 0)
		return err
	})
	if err != nil {
		return err
	}
	meta.onDisk = true
	s.mu.Lock()
	s.blocks[tier] = insertBlock(s.blocks[tier], meta)
	s.mu.Unlock()
	return nil
}

// skipUnreadable decides what a failed block read means: a block removed
// by retention meanwhile, or damage (quarantined), are skipped; anything
// else is an I/O error for the caller.
func (s *Store) skipUnreadable(b *blockMeta, err error) bool {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true
	case errors.Is(err, errDamaged):
		s.noteDamage(b, err)
		return true
	}
	return false
}

// noteDamage quarantines a block found damaged after Open (by a query or a
// roll-up) and forgets it.
func (s *Store) noteDamage(b *blockMeta, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.blocks[b.tier], b) {
		return // already handled
	}
	s.replaceBlockLocked(b, nil)
	if b.onDisk {
		s.quarantine(b.name, err)
	}
}

// retain drops blocks wholly older than their tier's retention.
func (s *Store) retain() {
	s.mu.Lock()
	var gone []*blockMeta
	for tier, t := range s.lay.tiers {
		cutoff := s.now - int64(t.keep/time.Second)
		for _, b := range s.blocks[tier] {
			if b.end() <= cutoff {
				gone = append(gone, b)
			}
		}
	}
	for _, b := range gone {
		s.replaceBlockLocked(b, nil)
	}
	s.mu.Unlock()
	for _, b := range gone {
		if b.onDisk {
			_ = s.fs.Remove(filepath.Join(s.dir, b.name)) // a leftover is found again at the next pass
		}
	}
}

// evict deletes the oldest blocks, whatever their tier, while the files
// exceed the store's size limit.
func (s *Store) evict() {
	limit := s.lay.limit()
	for {
		s.mu.Lock()
		total := s.bytesOnDiskLocked()
		var oldest *blockMeta
		for tier := range numTiers {
			for _, b := range s.blocks[tier] {
				if b.onDisk && (oldest == nil || b.start < oldest.start) {
					oldest = b
				}
			}
		}
		if total <= limit || oldest == nil {
			s.mu.Unlock()
			return
		}
		s.replaceBlockLocked(oldest, nil)
		s.stats.evictedBlocks++
		s.mu.Unlock()
		_ = s.fs.Remove(filepath.Join(s.dir, oldest.name))
	}
}

func (s *Store) bytesOnDiskLocked() int64 {
	var total int64
	for tier := range numTiers {
		for _, b := range s.blocks[tier] {
			if b.onDisk {
				total += b.size()
			}
		}
	}
	return total + s.walBytes
}

// Verify reads every chunk of every block and quarantines the blocks found
// damaged, returning them. Open checks only headers and tables, and queries
// check the chunks they read: reading every byte at each start would cost a
// full read of the store. The daemon can call Verify when idle.
func (s *Store) Verify() ([]Quarantined, error) {
	s.mu.RLock()
	var all []*blockMeta
	for tier := range numTiers {
		all = append(all, s.blocks[tier]...)
	}
	before := s.stats.quarantinedTotal
	s.mu.RUnlock()
	var buf []byte
	for _, b := range all {
		r, err := openBlockReader(s.fs, s.dir, b)
		if err != nil {
			if s.skipUnreadable(b, err) {
				continue
			}
			return nil, fmt.Errorf("verify history block %s: %w", b.name, err)
		}
		for i := range r.entries {
			c, err := r.chunk(i, &buf)
			if err == nil {
				err = eachCell(c, b, func(int64, cell) {})
			}
			if err != nil {
				if s.skipUnreadable(b, err) {
					break
				}
				r.close()
				return nil, fmt.Errorf("verify history block %s: %w", b.name, err)
			}
		}
		r.close()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := int(min(s.stats.quarantinedTotal-before, int64(len(s.quarantined))))
	return slices.Clone(s.quarantined[len(s.quarantined)-n:]), nil
}
