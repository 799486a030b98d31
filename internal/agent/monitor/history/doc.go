// Package history is the agent's metric history on the host (issue 9 §3):
// every sample at the collection interval for 48 h, and min/max/sum/count/
// last roll-ups at 1 minute for 30 days and at 1 hour for 400 days, in a
// store of bounded size that survives restarts and power cuts.
//
// # Shape
//
// Three tiers, each a set of block files, one per span of time (raw 1 h,
// minute 1 day, hour 16 days with the default retentions; see Options).
// A block holds one Gorilla-compressed chunk per series with implicit slot
// times, so a value costs bits, not a timestamp. The raw block being filled
// (the head) is in memory, compressed as it will be written, and in a
// write-ahead log. When a block's span ends, the head becomes a block file;
// a minute block is built from the raw blocks of its day once that day is
// sealed, an hour block from the minute blocks of its 16 days. Retention
// deletes whole blocks. Queries read the finest tier that holds the
// window's start, and take the newer part, not yet rolled up there, from
// the finer tiers ("stitching"); the recent raw window (the head and the
// newest sealed block) is in memory, so the alert rule engine's queries
// right after a collection touch no disk.
//
// Prometheus' tsdb was measured first: a minimal program embedding it is a
// 27.6 MB binary at 23 MB RSS right after opening, 61 MB after 6 h of 500
// series, and it has no roll-ups. The whole agent's target is 14–21 MiB.
//
// # Durability
//
// Append writes one log record and fsyncs it before it returns, so a power
// cut loses at most the Append in progress (one interval). Block files and
// log rewrites are written to a temporary file, fsynced, renamed into place
// and the directory fsynced: a reader or a restart sees a file whole or not
// at all. Every byte of every file is under a CRC-32C: block headers and
// tables are checked by Open, chunks when they are read (and all of them by
// Verify), log records on replay. A torn last log record is cut off; any
// other damage moves the file to quarantine/ (the newest 3 are kept), Open
// or the query reports it (Recovery, Status, Options.OnQuarantine) and the
// store goes on without it, never refusing to open. Files carry a format
// version; an unknown version is treated as damage.
//
// When the disk refuses writes (full, read-only), Append keeps working in
// memory: sealed blocks wait in memory (up to Options.MaxPendingBytes),
// queries see them, Status.DiskError says so, and each Append tries again;
// once a write succeeds the store writes what it held, rewrites the log,
// and builds the roll-ups it missed. A crash meanwhile loses what was only
// in memory; the log still holds the first block the disk refused.
//
// # Bounds
//
// The number of series in any block is at most Options.MaxSeries (past it
// new series are refused and counted, see Options.MaxSeries), and a series'
// key at most MaxKeyBytes, so the structural bound (Status.Bound) is every
// tier's most blocks at the worst-case bits per cell, plus a full log:
// about 2.9 MB per series with the default retentions, 1.4 GiB for 500
// series, 2.7 GiB for the default limit of 1000. Options.MaxBytes (default
// 512 MiB) caps the files below that: past it the oldest blocks go first.
// Typical data compresses far better than the worst case; measured on a
// 500-series host set shaped like node_exporter's defaults (CPU seconds,
// byte counters, page-sized gauges, constants, noisy durations):
//
//	raw tier     9.8 MB/day   (2.3 bytes a sample)
//	minute tier  5.6 MB/day   (7.8 bytes a 5-column cell)
//	hour tier    0.09 MB/day
//	steady state 221 MiB with the default retentions (2 days raw,
//	             31 days minute, 416 days hour), under the 512 MiB cap
//
// The log is rewritten every hour; it holds at most one raw block of
// uncompressed records (about 5 KB a collection for 500 series).
// Memory: the head and the newest sealed block, 1.7 MiB of heap for 500
// series (RSS 3.2 MiB above an empty Go program); a roll-up or query holds
// one series' cells at a time. The package adds 262 KB to the stripped
// agent binary.
//
// # Costs (2 shared cores, 500 series)
//
//	Append of 500 samples        0.18–0.20 ms CPU, 15 allocations;
//	                             2.6 ms wall with its fsync on this VM's disk
//	Summary, 5 min, 1 series     0.04 ms (the rule engine's case)
//	Summary, 5 min, 128 series   2.6 ms
//	Query, 1 h raw, 1 series     1.1 ms, 361 points
//	Query, 30 days at 1 h        14 ms for 1 series, 0.7 s for 128
//	Summary, 30 days, 1 series   32 ms (with p95)
//
// # Semantics
//
// Counters are stored as raw values. Point.Increase and Summary.Increase
// treat a drop as a reset to zero; roll-up cells recover a reset inside
// them from their max and last (exact for one reset a cell). NaN samples
// are stored but skipped by aggregates. Summary.P95 is exact (nearest rank)
// over raw samples; from roll-ups each cell counts as its average weighted
// by its sample count, which smooths peaks shorter than a cell (Max bounds
// it from above). Samples are placed in slots at their time rounded to the
// interval; a second sample for a slot is dropped and counted.
//
// OpenReadOnly serves the rpc side (steward_metrics) while the daemon
// writes: it reads the blocks and the log as they are and changes nothing.
package history
