package backup

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RetentionItem is one snapshot as the retention policy sees it: an identity,
// a creation time, the snapshot it is incremental to, and its verification
// state.
type RetentionItem struct {
	// ID identifies the snapshot; IDs are unique within one schedule.
	ID string
	// Time is when the snapshot was taken.
	Time time.Time
	// Parent is the ID of the snapshot this one is incremental to, or ""
	// for a full snapshot.
	Parent string
	// Verified is true when a verification of the snapshot succeeded.
	Verified bool
	// Bad is true when a verification of the snapshot failed. Bad wins
	// over Verified.
	Bad bool
	// Current is true when the schedule's current recipients can decrypt
	// the snapshot (one of them is among its recipients).
	Current bool
}

// Policy says which snapshots retention keeps. The fields mirror restic's
// forget options --keep-last, --keep-hourly, --keep-daily, --keep-weekly,
// --keep-monthly, --keep-yearly and --keep-within. A zero field disables its
// rule; a Policy whose fields are all zero keeps every snapshot.
type Policy struct {
	KeepLast    int
	KeepHourly  int
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	KeepYearly  int
	KeepWithin  time.Duration
}

// Validate reports every field of p that is negative. Unlike restic there is
// no "-1 means unlimited": use KeepWithin or a large count instead.
func (p Policy) Validate() error {
	var errs []error
	for _, f := range []struct {
		name  string
		value int
	}{
		{"keep_last", p.KeepLast},
		{"keep_hourly", p.KeepHourly},
		{"keep_daily", p.KeepDaily},
		{"keep_weekly", p.KeepWeekly},
		{"keep_monthly", p.KeepMonthly},
		{"keep_yearly", p.KeepYearly},
	} {
		if f.value < 0 {
			errs = append(errs, fmt.Errorf("retention policy: %s is %d, must be 0 or more", f.name, f.value))
		}
	}
	if p.KeepWithin < 0 {
		errs = append(errs, fmt.Errorf("retention policy: keep_within is %s, must be 0 or more", p.KeepWithin))
	}
	return errors.Join(errs...)
}

// keepsEverything reports whether p has no rule at all, which means "keep
// every snapshot" rather than "remove every snapshot".
func (p Policy) keepsEverything() bool { return p == Policy{} }

// Reasons that SelectKeep records for a kept snapshot. A count rule that keeps
// the oldest snapshot only because its count was not used up reports
// "oldest " + the rule, e.g. "oldest daily", as restic does.
const (
	retentionReasonLast           = "last"
	retentionReasonHourly         = "hourly"
	retentionReasonDaily          = "daily"
	retentionReasonWeekly         = "weekly"
	retentionReasonMonthly        = "monthly"
	retentionReasonYearly         = "yearly"
	retentionReasonWithin         = "within"
	retentionReasonNewestVerified = "newest verified"
	retentionReasonNewest         = "newest (none verified)"
	retentionReasonCurrentKeys    = "newest restorable with the current recipients"
	retentionReasonParent         = "parent of kept"
	retentionReasonEmptyPolicy    = "empty policy"
	retentionReasonInvalidPolicy  = "invalid policy"
)

// SelectKeep decides which snapshots the policy p keeps and which it removes.
// It is pure: now and loc are the only clock and time zone it looks at. keep
// and remove are sorted newest first (ties broken by ID) and together hold
// every item exactly once; reasons maps the ID of every kept snapshot to the
// rules that kept it, in the order listed below.
//
// The policy rules follow restic's forget (restic 0.16 and later):
//
//   - Snapshots are sorted newest first.
//   - KeepLast N keeps the N newest snapshots ("last").
//   - KeepHourly, KeepDaily, KeepWeekly, KeepMonthly and KeepYearly N keep the
//     newest snapshot in each of the N most recent hours, days, ISO 8601
//     weeks (Monday to Sunday), months or years that contain a snapshot
//     ("hourly", "daily", "weekly", "monthly", "yearly"). Buckets are calendar
//     periods in loc, the host's time zone (nil means time.Local), not periods
//     counted back from now, and periods without a snapshot do not count. If a
//     rule's count is not used up when the oldest snapshot is reached, that
//     oldest snapshot is kept too ("oldest daily" and so on), so that a young
//     schedule keeps the longest history its counts allow.
//   - KeepWithin D keeps every snapshot whose time is after (latest - D)
//     ("within"). As in restic, latest is the newest snapshot time that is
//     not after now; it is not now itself, so a host that stopped taking
//     backups does not age its last ones out. Snapshots dated in the future
//     are therefore always within.
//   - A snapshot kept by any rule is kept.
//   - A Policy with all fields zero keeps everything ("empty policy"). An
//     invalid policy (see Validate) also keeps everything ("invalid policy"),
//     so a configuration mistake never deletes data; callers validate first.
//
// Bad snapshots (failed verification) are invisible to the rules above: they
// neither take nor fill a slot of any count, are not kept by KeepWithin, and
// do not define latest. Two safety rules then apply on top of the policy, and
// they do protect bad snapshots:
//
//   - The newest snapshot that is Verified and not Bad is never removed
//     ("newest verified"). When there is none, the newest snapshot that is not
//     Bad is kept instead, or the newest snapshot when all are bad ("newest
//     (none verified)").
//   - The newest snapshot that is Verified, not Bad, and whose whole chain
//     is Current is never removed ("newest restorable with the current
//     recipients"): after a key rotation, at least one complete chain stays
//     that the keys the operator still holds can restore.
//   - A snapshot that a kept snapshot depends on through its Parent chain,
//     transitively up to the full snapshot, is never removed ("parent of
//     kept"). A Parent that is not among items ends the chain.
func SelectKeep(items []RetentionItem, p Policy, now time.Time, loc *time.Location) (keep, remove []RetentionItem, reasons map[string][]string) {
	if loc == nil {
		loc = time.Local
	}
	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b RetentionItem) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})

	reasons = make(map[string][]string)
	kept := make([]bool, len(sorted))
	mark := func(i int, reason string) {
		kept[i] = true
		reasons[sorted[i].ID] = append(reasons[sorted[i].ID], reason)
	}

	switch {
	case p.Validate() != nil:
		for i := range sorted {
			mark(i, retentionReasonInvalidPolicy)
		}
	case p.keepsEverything():
		for i := range sorted {
			mark(i, retentionReasonEmptyPolicy)
		}
	default:
		p.applyRules(sorted, now, loc, mark)
	}

	if i := retentionNewestToProtect(sorted); i >= 0 {
		if sorted[i].Verified && !sorted[i].Bad {
			mark(i, retentionReasonNewestVerified)
		} else {
			mark(i, retentionReasonNewest)
		}
	}

	if i := retentionNewestCurrent(sorted); i >= 0 {
		mark(i, retentionReasonCurrentKeys)
	}

	retentionProtectParents(sorted, kept, mark)

	for i, it := range sorted {
		if kept[i] {
			keep = append(keep, it)
		} else {
			remove = append(remove, it)
		}
	}
	return keep, remove, reasons
}

// applyRules runs the restic rules of p over sorted (newest first) and calls
// mark for every rule that keeps a snapshot.
func (p Policy) applyRules(sorted []RetentionItem, now time.Time, loc *time.Location, mark func(int, string)) {
	var counted []int // indexes of the snapshots the rules see: all but bad ones
	for i, it := range sorted {
		if !it.Bad {
			counted = append(counted, i)
		}
	}

	// latest stays the zero time when every counted snapshot lies in the
	// future; then KeepWithin keeps them all, as in restic.
	var latest time.Time
	for _, i := range counted {
		if !sorted[i].Time.After(now) {
			latest = sorted[i].Time
			break
		}
	}
	withinCutoff := latest.Add(-p.KeepWithin)

	buckets := []struct {
		left   int
		key    func(t time.Time, nr int) int
		reason string
		last   int
		seen   bool
	}{
		{left: p.KeepLast, key: func(_ time.Time, nr int) int { return nr }, reason: retentionReasonLast},
		{left: p.KeepHourly, key: func(t time.Time, _ int) int {
			return t.Year()*1000000 + int(t.Month())*10000 + t.Day()*100 + t.Hour()
		}, reason: retentionReasonHourly},
		{left: p.KeepDaily, key: func(t time.Time, _ int) int {
			return t.Year()*10000 + int(t.Month())*100 + t.Day()
		}, reason: retentionReasonDaily},
		{left: p.KeepWeekly, key: func(t time.Time, _ int) int {
			y, w := t.ISOWeek()
			return y*100 + w
		}, reason: retentionReasonWeekly},
		{left: p.KeepMonthly, key: func(t time.Time, _ int) int {
			return t.Year()*100 + int(t.Month())
		}, reason: retentionReasonMonthly},
		{left: p.KeepYearly, key: func(t time.Time, _ int) int {
			return t.Year()
		}, reason: retentionReasonYearly},
	}

	for nr, i := range counted {
		local := sorted[i].Time.In(loc)
		oldest := nr == len(counted)-1
		for b := range buckets {
			bk := &buckets[b]
			if bk.left <= 0 {
				continue
			}
			key := bk.key(local, nr)
			sameBucket := bk.seen && key == bk.last
			if sameBucket && !oldest {
				continue
			}
			bk.last, bk.seen = key, true
			bk.left--
			if sameBucket {
				mark(i, "oldest "+bk.reason)
			} else {
				mark(i, bk.reason)
			}
		}
		if p.KeepWithin > 0 && sorted[i].Time.After(withinCutoff) {
			mark(i, retentionReasonWithin)
		}
	}
}

// retentionNewestToProtect returns the index in sorted (newest first) of the
// snapshot the first safety rule protects, or -1 when sorted is empty.
func retentionNewestToProtect(sorted []RetentionItem) int {
	if i := slices.IndexFunc(sorted, func(it RetentionItem) bool { return it.Verified && !it.Bad }); i >= 0 {
		return i
	}
	if i := slices.IndexFunc(sorted, func(it RetentionItem) bool { return !it.Bad }); i >= 0 {
		return i
	}
	if len(sorted) > 0 {
		return 0
	}
	return -1
}

// retentionNewestCurrent returns the index in sorted (newest first) of the
// newest verified snapshot whose chain the current recipients can restore,
// or -1.
func retentionNewestCurrent(sorted []RetentionItem) int {
	byID := make(map[string]RetentionItem, len(sorted))
	for _, it := range sorted {
		byID[it.ID] = it
	}
	return slices.IndexFunc(sorted, func(it RetentionItem) bool { return it.Verified && restorableNow(byID, it) })
}

// restorableNow reports whether every snapshot of it's chain is there, not
// bad, and readable with the current recipients.
func restorableNow(byID map[string]RetentionItem, it RetentionItem) bool {
	seen := map[string]bool{} // a corrupt catalog's chain may loop
	for {
		if it.Bad || !it.Current || seen[it.ID] {
			return false
		}
		if it.Parent == "" {
			return true
		}
		seen[it.ID] = true
		parent, ok := byID[it.Parent]
		if !ok {
			return false
		}
		it = parent
	}
}

// retentionProtectParents marks every snapshot that a kept snapshot depends on
// through its Parent chain. Restoring an incremental needs its whole chain, so
// removing any link would make the kept snapshot unrestorable.
func retentionProtectParents(sorted []RetentionItem, kept []bool, mark func(int, string)) {
	byID := make(map[string]int, len(sorted))
	for i, it := range sorted {
		if _, dup := byID[it.ID]; !dup {
			byID[it.ID] = i
		}
	}
	// protected also guards against a corrupt catalog whose chain loops.
	protected := make([]bool, len(sorted))
	for i := range sorted {
		if !kept[i] {
			continue
		}
		parent := sorted[i].Parent
		for parent != "" {
			j, ok := byID[parent]
			if !ok || protected[j] {
				break
			}
			protected[j] = true
			mark(j, retentionReasonParent)
			parent = sorted[j].Parent
		}
	}
}
