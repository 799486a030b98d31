package history

import (
	"time"
)

// Status is the store's health for the status page and /metrics.
type Status struct {
	Dir string `json:"dir"`
	// Series is how many series the current raw block holds; MaxSeries is
	// the limit. RefusedSeries counts distinct new series turned away in
	// this block (up to 1000 are told apart), DroppedSamples their samples
	// since Open.
	Series         int   `json:"series"`
	MaxSeries      int   `json:"max_series"`
	RefusedSeries  int   `json:"refused_series"`
	DroppedSamples int64 `json:"dropped_samples"`
	// RejectedSamples had no name, a repeated label or a key over
	// MaxKeyBytes; OutOfOrderSamples were not newer than their series' last.
	RejectedSamples   int64 `json:"rejected_samples"`
	OutOfOrderSamples int64 `json:"out_of_order_samples"`
	// DroppedRollupSeries counts series left out of roll-up blocks for the
	// series limit.
	DroppedRollupSeries int64 `json:"dropped_rollup_series"`
	// BytesOnDisk is the size of the store's blocks and log. Bound is the
	// most they can take for MaxSeries series (every value incompressible,
	// every key at MaxKeyBytes); Limit is what the store keeps to: MaxBytes
	// if smaller. EvictedBlocks were deleted early to stay within it.
	BytesOnDisk   int64 `json:"bytes_on_disk"`
	Bound         int64 `json:"bound"`
	Limit         int64 `json:"limit"`
	EvictedBlocks int64 `json:"evicted_blocks"`
	// DiskError is set while the disk refuses writes (full, read-only):
	// samples are kept in memory meanwhile (PendingBytes of sealed blocks,
	// beyond the head) and written once it takes them again. LostBlocks
	// counts blocks dropped from memory past MaxPendingBytes.
	DiskError      string    `json:"disk_error,omitempty"`
	DiskErrorSince time.Time `json:"disk_error_since,omitzero"`
	PendingBytes   int64     `json:"pending_bytes"`
	LostBlocks     int64     `json:"lost_blocks"`
	// Quarantined lists the latest damaged files moved aside;
	// QuarantinedTotal counts them since Open.
	Quarantined      []Quarantined `json:"quarantined,omitempty"`
	QuarantinedTotal int64         `json:"quarantined_total"`
	Tiers            []TierStatus  `json:"tiers"`
}

// TierStatus describes one tier.
type TierStatus struct {
	Name       string        `json:"name"`
	Resolution time.Duration `json:"resolution"`
	Retention  time.Duration `json:"retention"`
	BlockSpan  time.Duration `json:"block_span"`
	Blocks     int           `json:"blocks"`
	Bytes      int64         `json:"bytes"`
	// Oldest and Newest bound the tier's blocks (the raw tier's include the
	// head); zero when the tier is empty.
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
}

// Status reports the store's state.
func (s *Store) Status() Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Status{
		Dir:                 s.dir,
		MaxSeries:           s.lay.opt.MaxSeries,
		DroppedSamples:      s.stats.droppedSamples,
		RejectedSamples:     s.stats.rejectedSamples,
		OutOfOrderSamples:   s.stats.outOfOrder,
		DroppedRollupSeries: s.stats.droppedRollupSeries,
		BytesOnDisk:         s.bytesOnDiskLocked(),
		Bound:               s.lay.bound(),
		Limit:               s.lay.limit(),
		EvictedBlocks:       s.stats.evictedBlocks,
		LostBlocks:          s.stats.lostBlocks,
		Quarantined:         append([]Quarantined(nil), s.quarantined...),
		QuarantinedTotal:    s.stats.quarantinedTotal,
	}
	if s.head != nil {
		st.Series = len(s.head.byID)
		st.RefusedSeries = len(s.head.refused)
	}
	if s.diskErr != nil {
		st.DiskError, st.DiskErrorSince = s.diskErr.Error(), s.diskErrSince
	}
	for tier, t := range s.lay.tiers {
		ts := TierStatus{Name: t.name, Resolution: t.res, Retention: t.keep, BlockSpan: t.span}
		var oldest, newest int64
		for i, b := range s.blocks[tier] {
			if i == 0 {
				oldest = b.start
			}
			newest = b.end()
			if b.onDisk {
				ts.Blocks++
				ts.Bytes += b.size()
			} else {
				st.PendingBytes += int64(len(b.mem))
			}
		}
		if tier == tierRaw && s.head != nil {
			if oldest == 0 {
				oldest = s.head.start
			}
			newest = s.now + 1
			ts.Bytes += s.walBytes
		}
		if newest != 0 {
			ts.Oldest, ts.Newest = unixTime(oldest), unixTime(newest)
		}
		st.Tiers = append(st.Tiers, ts)
	}
	return st
}

// DiskError is the write failure the store is riding out in memory (the
// disk full or read-only), nil while writes succeed: what the collector
// checks after every Append, without building the whole Status.
func (s *Store) DiskError() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.diskErr
}
