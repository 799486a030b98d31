package history

import (
	"fmt"
	"time"
)

// Defaults of Options (issue 9 §3).
const (
	DefaultInterval  = 10 * time.Second
	DefaultRaw       = 48 * time.Hour
	DefaultMinute    = 30 * 24 * time.Hour
	DefaultHour      = 400 * 24 * time.Hour
	DefaultMaxSeries = 1000
	// DefaultMaxBytes caps the store on disk. It is above what the default
	// retentions take for DefaultMaxSeries series of typical host metrics
	// (see the package documentation), so it only bites on data that does
	// not compress, and then shortens the oldest history instead of growing.
	DefaultMaxBytes = 512 << 20
	// DefaultMaxPendingBytes caps sealed blocks held in memory while the
	// disk refuses writes (about 5 h of raw data for 500 series).
	DefaultMaxPendingBytes = 4 << 20
)

// Options configure a Store. The zero value of each field takes its default.
type Options struct {
	// Interval is the collection interval: the raw tier's resolution. It
	// must be a whole number of seconds that divides one hour.
	Interval time.Duration
	// Raw, Minute and Hour are how long each tier keeps its data: raw
	// samples, 1-minute and 1-hour roll-ups. Data is dropped a whole block
	// at a time, so a tier holds between its retention and its retention
	// plus one block (Status reports the block spans).
	Raw, Minute, Hour time.Duration
	// MaxSeries is how many series one block may hold. A sample of a new
	// series while the current raw block already holds MaxSeries series is
	// dropped and counted (Status.DroppedSamples, Status.RefusedSeries); a
	// roll-up block keeps the MaxSeries series with the most data and counts
	// the rest (Status.DroppedRollupSeries). Series that stop reporting free
	// their place at the next raw block (at most an hour).
	MaxSeries int
	// MaxBytes caps the files of the store. Past it, the oldest block of
	// any tier is deleted (Status.EvictedBlocks) until the store fits.
	// Negative means no cap beyond the structural bound (Status.Bound).
	MaxBytes int64
	// MaxPendingBytes caps sealed blocks kept in memory while the disk
	// refuses writes; past it the oldest is dropped (Status.LostBlocks).
	MaxPendingBytes int64
	// OnQuarantine, if set, is called (from the goroutine that called Open,
	// Append or a query) when a file is found damaged and moved aside, so
	// the daemon can log an event. It must not call back into the Store.
	OnQuarantine func(Quarantined)

	fs     fileSystem // nil: the real file system
	noSync bool       // tests only: skip fsync for speed
}

// layout is Options resolved: the three tiers and their block spans.
type layout struct {
	opt   Options
	tiers [numTiers]tierLayout
}

// tierLayout describes one tier: its resolution, retention and the span of
// one block (a file). Blocks are aligned to multiples of span since the
// Unix epoch, so they never overlap within a tier.
type tierLayout struct {
	name      string
	res, keep time.Duration
	span      time.Duration
	cols      int
}

// Tiers, finest first.
const (
	tierRaw = iota
	tierMinute
	tierHour
	numTiers
)

var tierNames = [numTiers]string{"raw", "minute", "hour"}

func resolve(opt Options) (layout, error) {
	if opt.Interval == 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Raw == 0 {
		opt.Raw = DefaultRaw
	}
	if opt.Minute == 0 {
		opt.Minute = DefaultMinute
	}
	if opt.Hour == 0 {
		opt.Hour = DefaultHour
	}
	if opt.MaxSeries == 0 {
		opt.MaxSeries = DefaultMaxSeries
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.MaxPendingBytes == 0 {
		opt.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if opt.fs == nil {
		opt.fs = osFS{}
	}
	if opt.Interval < time.Second || opt.Interval%time.Second != 0 || time.Hour%opt.Interval != 0 {
		return layout{}, fmt.Errorf("history interval %s: must be whole seconds dividing one hour", opt.Interval)
	}
	if opt.MaxSeries < 0 {
		return layout{}, fmt.Errorf("history series limit %d: must be positive", opt.MaxSeries)
	}
	// A roll-up block is built from the finer tier once its whole span is
	// sealed there, so the finer tier must keep a span plus its own block.
	rawSpan := time.Hour
	minSpan, err := fitSpan(opt.Raw-rawSpan, rawSpan, []time.Duration{24 * time.Hour, 12 * time.Hour, 6 * time.Hour, 3 * time.Hour, 2 * time.Hour, time.Hour})
	if err != nil {
		return layout{}, fmt.Errorf("history raw retention %s: %w", opt.Raw, err)
	}
	day := 24 * time.Hour
	hourSpan, err := fitSpan(opt.Minute-minSpan, minSpan, []time.Duration{16 * day, 8 * day, 4 * day, 2 * day, day, 12 * time.Hour, 6 * time.Hour, 2 * time.Hour})
	if err != nil {
		return layout{}, fmt.Errorf("history minute retention %s: %w", opt.Minute, err)
	}
	if opt.Hour < hourSpan {
		return layout{}, fmt.Errorf("history hour retention %s: must be at least %s", opt.Hour, hourSpan)
	}
	return layout{opt: opt, tiers: [numTiers]tierLayout{
		{name: tierNames[tierRaw], res: opt.Interval, keep: opt.Raw, span: rawSpan, cols: 1},
		{name: tierNames[tierMinute], res: time.Minute, keep: opt.Minute, span: minSpan, cols: rollupCols},
		{name: tierNames[tierHour], res: time.Hour, keep: opt.Hour, span: hourSpan, cols: rollupCols},
	}}, nil
}

// fitSpan picks the longest candidate span that fits in room and is a
// multiple of finer (so a coarse block covers whole finer blocks).
func fitSpan(room, finer time.Duration, candidates []time.Duration) (time.Duration, error) {
	for _, c := range candidates {
		if c <= room && c%finer == 0 {
			return c, nil
		}
	}
	return 0, fmt.Errorf("too short to build roll-ups from (need at least %s)", candidates[len(candidates)-1]+finer)
}

func (t tierLayout) slots() int { return int(t.span / t.res) }

// maxBlocks is how many blocks of the tier can exist at once: those that
// end within the retention, plus the newest that may start inside it.
func (t tierLayout) maxBlocks() int {
	return int((t.keep+t.span-1)/t.span) + 1
}

// maxBlockBytes is the largest block file one tier can write for n series:
// every cell at its incompressible worst and every key at MaxKeyBytes.
func (t tierLayout) maxBlockBytes(n int) int64 {
	chunk := int64((t.slots()*maxCellBits(t.cols) + 7) / 8)
	return blockHeaderSize + 4 + int64(n)*(chunk+maxTableEntryOverhead+MaxKeyBytes)
}

// bound is the structural bound of the store's files for the series limit:
// every block of every tier at its worst, plus a full write-ahead log.
func (l layout) bound() int64 {
	n := l.opt.MaxSeries
	var b int64
	for _, t := range l.tiers {
		b += int64(t.maxBlocks()) * t.maxBlockBytes(n)
	}
	return b + maxWALBytes(n, l.tiers[tierRaw].slots())
}

// limit is the size the store keeps to: MaxBytes, unless the structural
// bound is smaller anyway.
func (l layout) limit() int64 {
	b := l.bound()
	if l.opt.MaxBytes > 0 && l.opt.MaxBytes < b {
		return l.opt.MaxBytes
	}
	return b
}
