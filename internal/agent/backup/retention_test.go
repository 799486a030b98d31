package backup

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// retentionTestZone is one hour east of UTC, so that a snapshot taken shortly
// after local midnight falls on the previous day, week, month or year in UTC:
// bucketing in the wrong zone keeps a different set in the tests below.
var retentionTestZone = time.FixedZone("CET", 3600)

// cet returns a wall-clock time in retentionTestZone.
func retentionAt(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, retentionTestZone)
}

// snap is a verified full snapshot. Its time is stored in UTC, as a catalog
// read back from JSON might hold it, so SelectKeep must convert to loc itself.
func retentionSnap(id string, t time.Time) RetentionItem {
	return RetentionItem{ID: id, Time: t.UTC(), Verified: true}
}

func (it RetentionItem) withParent(parent string) RetentionItem {
	it.Parent = parent
	return it
}

func (it RetentionItem) unverified() RetentionItem {
	it.Verified = false
	return it
}

func (it RetentionItem) bad() RetentionItem {
	it.Verified, it.Bad = false, true
	return it
}

func retentionIDs(items []RetentionItem) []string {
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func TestSelectKeep_rules(t *testing.T) {
	t.Parallel()
	now := retentionAt(2025, time.June, 1, 12, 0)

	tests := []struct {
		name        string
		items       []RetentionItem
		policy      Policy
		now         time.Time
		wantKeep    []string // newest first
		wantRemove  []string // newest first
		wantReasons map[string][]string
	}{
		{
			name:        "no snapshots",
			policy:      Policy{KeepLast: 3},
			wantKeep:    []string{},
			wantRemove:  []string{},
			wantReasons: map[string][]string{},
		},
		{
			name: "keep last 2, input order does not matter",
			items: []RetentionItem{
				retentionSnap("c", retentionAt(2024, time.January, 8, 12, 0)),
				retentionSnap("a", retentionAt(2024, time.January, 10, 12, 0)),
				retentionSnap("d", retentionAt(2024, time.January, 7, 12, 0)),
				retentionSnap("b", retentionAt(2024, time.January, 9, 12, 0)),
			},
			policy:     Policy{KeepLast: 2},
			wantKeep:   []string{"a", "b"},
			wantRemove: []string{"c", "d"},
			wantReasons: map[string][]string{
				"a": {"last", "newest verified"},
				"b": {"last"},
			},
		},
		{
			name: "keep last 1 breaks a time tie by ID",
			items: []RetentionItem{
				retentionSnap("b", retentionAt(2024, time.January, 10, 12, 0)),
				retentionSnap("a", retentionAt(2024, time.January, 10, 12, 0)),
			},
			policy:     Policy{KeepLast: 1},
			wantKeep:   []string{"a"},
			wantRemove: []string{"b"},
			wantReasons: map[string][]string{
				"a": {"last", "newest verified"},
			},
		},
		{
			name: "keep hourly 2 keeps the newest of each of the last two hours",
			items: []RetentionItem{
				retentionSnap("h1", retentionAt(2024, time.March, 5, 10, 5)),
				retentionSnap("h2", retentionAt(2024, time.March, 5, 10, 40)),
				retentionSnap("h3", retentionAt(2024, time.March, 5, 11, 10)),
				retentionSnap("h4", retentionAt(2024, time.March, 5, 11, 50)),
				retentionSnap("h5", retentionAt(2024, time.March, 5, 12, 30)),
			},
			policy:     Policy{KeepHourly: 2},
			wantKeep:   []string{"h5", "h4"},
			wantRemove: []string{"h3", "h2", "h1"},
			wantReasons: map[string][]string{
				"h5": {"hourly", "newest verified"},
				"h4": {"hourly"},
			},
		},
		{
			// d1 is 00:30 on 5 March in CET but 23:30 on 4 March in UTC.
			name: "keep daily 2 uses days of the host's zone",
			items: []RetentionItem{
				retentionSnap("d1", retentionAt(2024, time.March, 5, 0, 30)),
				retentionSnap("d2", retentionAt(2024, time.March, 5, 9, 0)),
				retentionSnap("d3", retentionAt(2024, time.March, 4, 23, 0)),
				retentionSnap("d4", retentionAt(2024, time.March, 4, 8, 0)),
				retentionSnap("d5", retentionAt(2024, time.March, 3, 12, 0)),
			},
			policy:     Policy{KeepDaily: 2},
			wantKeep:   []string{"d2", "d3"},
			wantRemove: []string{"d1", "d4", "d5"},
			wantReasons: map[string][]string{
				"d2": {"daily", "newest verified"},
				"d3": {"daily"},
			},
		},
		{
			// Monday 30 December 2024 starts ISO week 2025-W01. w2 is 00:30
			// that Monday in CET, but Sunday 23:30 (2024-W52) in UTC.
			name: "keep weekly 2 uses ISO weeks across a year end",
			items: []RetentionItem{
				retentionSnap("w1", retentionAt(2025, time.January, 1, 10, 0)),
				retentionSnap("w2", retentionAt(2024, time.December, 30, 0, 30)),
				retentionSnap("w3", retentionAt(2024, time.December, 29, 20, 0)),
				retentionSnap("w4", retentionAt(2024, time.December, 23, 10, 0)),
				retentionSnap("w5", retentionAt(2024, time.December, 16, 10, 0)),
			},
			policy:     Policy{KeepWeekly: 2},
			wantKeep:   []string{"w1", "w3"},
			wantRemove: []string{"w2", "w4", "w5"},
			wantReasons: map[string][]string{
				"w1": {"weekly", "newest verified"},
				"w3": {"weekly"},
			},
		},
		{
			// m1 is 1 March 00:30 in CET, 29 February 23:30 in UTC.
			name: "keep monthly 3 across a leap day",
			items: []RetentionItem{
				retentionSnap("m1", retentionAt(2024, time.March, 1, 0, 30)),
				retentionSnap("m2", retentionAt(2024, time.February, 29, 12, 0)),
				retentionSnap("m3", retentionAt(2024, time.February, 10, 12, 0)),
				retentionSnap("m4", retentionAt(2024, time.January, 31, 23, 30)),
				retentionSnap("m5", retentionAt(2023, time.December, 31, 23, 59)),
				retentionSnap("m6", retentionAt(2023, time.December, 1, 12, 0)),
			},
			policy:     Policy{KeepMonthly: 3},
			wantKeep:   []string{"m1", "m2", "m4"},
			wantRemove: []string{"m3", "m5", "m6"},
			wantReasons: map[string][]string{
				"m1": {"monthly", "newest verified"},
				"m2": {"monthly"},
				"m4": {"monthly"},
			},
		},
		{
			// y1 is New Year 2025 00:30 in CET, still 2024 in UTC.
			name: "keep yearly 2",
			items: []RetentionItem{
				retentionSnap("y1", retentionAt(2025, time.January, 1, 0, 30)),
				retentionSnap("y2", retentionAt(2024, time.June, 1, 12, 0)),
				retentionSnap("y3", retentionAt(2024, time.January, 1, 0, 30)),
				retentionSnap("y4", retentionAt(2023, time.December, 31, 23, 0)),
				retentionSnap("y5", retentionAt(2023, time.January, 1, 12, 0)),
			},
			policy:     Policy{KeepYearly: 2},
			wantKeep:   []string{"y1", "y2"},
			wantRemove: []string{"y3", "y4", "y5"},
			wantReasons: map[string][]string{
				"y1": {"yearly", "newest verified"},
				"y2": {"yearly"},
			},
		},
		{
			// now is nine days after the newest snapshot; restic measures
			// from the newest snapshot, so the host going quiet ages nothing
			// out. c is exactly 48h older than a: not after the cutoff.
			name: "keep within 48h counts from the newest snapshot, not now",
			items: []RetentionItem{
				retentionSnap("a", retentionAt(2024, time.June, 1, 12, 0)),
				retentionSnap("b", retentionAt(2024, time.May, 30, 12, 1)),
				retentionSnap("c", retentionAt(2024, time.May, 30, 12, 0)),
				retentionSnap("d", retentionAt(2024, time.May, 29, 12, 0)),
			},
			policy:     Policy{KeepWithin: 48 * time.Hour},
			now:        retentionAt(2024, time.June, 10, 12, 0),
			wantKeep:   []string{"a", "b"},
			wantRemove: []string{"c", "d"},
			wantReasons: map[string][]string{
				"a": {"within", "newest verified"},
				"b": {"within"},
			},
		},
		{
			// f is dated in the future (a clock that was wrong). The
			// reference is a, the newest snapshot not after now, so the
			// cutoff is 31 May 00:00; f itself is after it and kept.
			name: "keep within ignores a future snapshot as reference",
			items: []RetentionItem{
				retentionSnap("f", retentionAt(2024, time.June, 20, 12, 0)),
				retentionSnap("a", retentionAt(2024, time.June, 1, 12, 0)),
				retentionSnap("b", retentionAt(2024, time.May, 31, 13, 0)),
				retentionSnap("c", retentionAt(2024, time.May, 30, 12, 0)),
			},
			policy:     Policy{KeepWithin: 36 * time.Hour},
			now:        retentionAt(2024, time.June, 1, 13, 0),
			wantKeep:   []string{"f", "a", "b"},
			wantRemove: []string{"c"},
			wantReasons: map[string][]string{
				"f": {"within", "newest verified"},
				"a": {"within"},
				"b": {"within"},
			},
		},
		{
			// Daily 5 over three days: o1, o3, o4 use three counts; at o5,
			// the oldest snapshot, two are left, so restic keeps it too.
			name: "a count not used up keeps the oldest snapshot",
			items: []RetentionItem{
				retentionSnap("o1", retentionAt(2024, time.March, 5, 10, 0)),
				retentionSnap("o2", retentionAt(2024, time.March, 5, 8, 0)),
				retentionSnap("o3", retentionAt(2024, time.March, 4, 10, 0)),
				retentionSnap("o4", retentionAt(2024, time.March, 3, 10, 0)),
				retentionSnap("o5", retentionAt(2024, time.March, 3, 8, 0)),
			},
			policy:     Policy{KeepDaily: 5},
			wantKeep:   []string{"o1", "o3", "o4", "o5"},
			wantRemove: []string{"o2"},
			wantReasons: map[string][]string{
				"o1": {"daily", "newest verified"},
				"o3": {"daily"},
				"o4": {"daily"},
				"o5": {"oldest daily"},
			},
		},
		{
			// 12 June 2024 is a Wednesday. last 2: c1, c2. daily 3: c1
			// (12th), c3 (11th), c4 (10th). weekly 2: c1 (week of Mon 10th),
			// c5 (Sun 9th, newest of the week of Mon 3rd).
			name: "last, daily and weekly combined",
			items: []RetentionItem{
				retentionSnap("c1", retentionAt(2024, time.June, 12, 18, 0)),
				retentionSnap("c2", retentionAt(2024, time.June, 12, 6, 0)),
				retentionSnap("c3", retentionAt(2024, time.June, 11, 6, 0)),
				retentionSnap("c4", retentionAt(2024, time.June, 10, 6, 0)),
				retentionSnap("c5", retentionAt(2024, time.June, 9, 6, 0)),
				retentionSnap("c6", retentionAt(2024, time.June, 8, 6, 0)),
				retentionSnap("c7", retentionAt(2024, time.June, 2, 6, 0)),
				retentionSnap("c8", retentionAt(2024, time.May, 27, 6, 0)),
			},
			policy:     Policy{KeepLast: 2, KeepDaily: 3, KeepWeekly: 2},
			wantKeep:   []string{"c1", "c2", "c3", "c4", "c5"},
			wantRemove: []string{"c6", "c7", "c8"},
			wantReasons: map[string][]string{
				"c1": {"last", "daily", "weekly", "newest verified"},
				"c2": {"last"},
				"c3": {"daily"},
				"c4": {"daily"},
				"c5": {"weekly"},
			},
		},
		{
			name: "within and monthly combined",
			items: []RetentionItem{
				retentionSnap("n1", retentionAt(2024, time.April, 2, 3, 0)),
				retentionSnap("n2", retentionAt(2024, time.April, 1, 3, 0)),
				retentionSnap("n3", retentionAt(2024, time.March, 31, 3, 0)),
				retentionSnap("n4", retentionAt(2024, time.March, 30, 3, 0)),
				retentionSnap("n5", retentionAt(2024, time.February, 15, 3, 0)),
				retentionSnap("n6", retentionAt(2024, time.January, 15, 3, 0)),
			},
			policy:     Policy{KeepWithin: 30 * time.Hour, KeepMonthly: 2},
			wantKeep:   []string{"n1", "n2", "n3"},
			wantRemove: []string{"n4", "n5", "n6"},
			wantReasons: map[string][]string{
				"n1": {"monthly", "within", "newest verified"},
				"n2": {"within"},
				"n3": {"monthly"},
			},
		},
		{
			name: "an incremental keeps its whole chain up to the full",
			items: []RetentionItem{
				retentionSnap("i2", retentionAt(2024, time.January, 3, 3, 0)).withParent("i1"),
				retentionSnap("i1", retentionAt(2024, time.January, 2, 3, 0)).withParent("f"),
				retentionSnap("f", retentionAt(2024, time.January, 1, 3, 0)),
				retentionSnap("h", retentionAt(2023, time.December, 26, 3, 0)).withParent("g"),
				retentionSnap("g", retentionAt(2023, time.December, 25, 3, 0)),
			},
			policy:     Policy{KeepLast: 1},
			wantKeep:   []string{"i2", "i1", "f"},
			wantRemove: []string{"h", "g"},
			wantReasons: map[string][]string{
				"i2": {"last", "newest verified"},
				"i1": {"parent of kept"},
				"f":  {"parent of kept"},
			},
		},
		{
			// g (kept by last) is not verified yet, nor is i2; i1 is the
			// newest verified snapshot, so it and its full f stay.
			name: "the newest verified snapshot and its chain are kept",
			items: []RetentionItem{
				retentionSnap("g", retentionAt(2024, time.January, 4, 3, 0)).unverified(),
				retentionSnap("i2", retentionAt(2024, time.January, 3, 3, 0)).withParent("i1").unverified(),
				retentionSnap("i1", retentionAt(2024, time.January, 2, 3, 0)).withParent("f"),
				retentionSnap("f", retentionAt(2024, time.January, 1, 3, 0)),
			},
			policy:     Policy{KeepLast: 1},
			wantKeep:   []string{"g", "i1", "f"},
			wantRemove: []string{"i2"},
			wantReasons: map[string][]string{
				"g":  {"last"},
				"i1": {"newest verified"},
				"f":  {"parent of kept"},
			},
		},
		{
			name: "bad snapshots do not take a place in keep last",
			items: []RetentionItem{
				retentionSnap("b1", retentionAt(2024, time.January, 5, 3, 0)).bad(),
				retentionSnap("b2", retentionAt(2024, time.January, 4, 3, 0)),
				retentionSnap("b3", retentionAt(2024, time.January, 3, 3, 0)).bad(),
				retentionSnap("b4", retentionAt(2024, time.January, 2, 3, 0)),
				retentionSnap("b5", retentionAt(2024, time.January, 1, 3, 0)),
			},
			policy:     Policy{KeepLast: 2},
			wantKeep:   []string{"b2", "b4"},
			wantRemove: []string{"b1", "b3", "b5"},
			wantReasons: map[string][]string{
				"b2": {"last", "newest verified"},
				"b4": {"last"},
			},
		},
		{
			name: "a bad snapshot does not fill its day",
			items: []RetentionItem{
				retentionSnap("x1", retentionAt(2024, time.January, 5, 20, 0)).bad(),
				retentionSnap("x2", retentionAt(2024, time.January, 5, 8, 0)),
				retentionSnap("x3", retentionAt(2024, time.January, 4, 8, 0)),
				retentionSnap("x4", retentionAt(2024, time.January, 3, 8, 0)),
			},
			policy:     Policy{KeepDaily: 2},
			wantKeep:   []string{"x2", "x3"},
			wantRemove: []string{"x1", "x4"},
			wantReasons: map[string][]string{
				"x2": {"daily", "newest verified"},
				"x3": {"daily"},
			},
		},
		{
			name: "a bad snapshot that a kept incremental needs is kept",
			items: []RetentionItem{
				retentionSnap("p2", retentionAt(2024, time.January, 2, 3, 0)).withParent("p1"),
				retentionSnap("p1", retentionAt(2024, time.January, 1, 3, 0)).bad(),
			},
			policy:     Policy{KeepLast: 1},
			wantKeep:   []string{"p2", "p1"},
			wantRemove: []string{},
			wantReasons: map[string][]string{
				"p2": {"last", "newest verified"},
				"p1": {"parent of kept"},
			},
		},
		{
			name: "bad snapshots are not kept by keep within",
			items: []RetentionItem{
				retentionSnap("k1", retentionAt(2024, time.January, 2, 3, 0)),
				retentionSnap("k2", retentionAt(2024, time.January, 2, 2, 0)).bad(),
				retentionSnap("k3", retentionAt(2024, time.January, 1, 3, 0)),
			},
			policy:     Policy{KeepWithin: 48 * time.Hour},
			wantKeep:   []string{"k1", "k3"},
			wantRemove: []string{"k2"},
			wantReasons: map[string][]string{
				"k1": {"within", "newest verified"},
				"k3": {"within"},
			},
		},
		{
			name: "when every snapshot is bad the newest one stays",
			items: []RetentionItem{
				retentionSnap("a1", retentionAt(2024, time.January, 3, 3, 0)).bad(),
				retentionSnap("a2", retentionAt(2024, time.January, 2, 3, 0)).bad(),
				retentionSnap("a3", retentionAt(2024, time.January, 1, 3, 0)).bad(),
			},
			policy:     Policy{KeepLast: 3},
			wantKeep:   []string{"a1"},
			wantRemove: []string{"a2", "a3"},
			wantReasons: map[string][]string{
				"a1": {"newest (none verified)"},
			},
		},
		{
			// Nothing verified: the newest snapshot that is not bad is
			// protected (u1), not the bad u0.
			name: "when nothing is verified the newest good snapshot stays",
			items: []RetentionItem{
				retentionSnap("u0", retentionAt(2024, time.January, 4, 3, 0)).bad(),
				retentionSnap("u1", retentionAt(2024, time.January, 3, 3, 0)).unverified(),
				retentionSnap("u2", retentionAt(2024, time.January, 2, 3, 0)).unverified(),
			},
			policy:     Policy{KeepWithin: time.Hour},
			wantKeep:   []string{"u1"},
			wantRemove: []string{"u0", "u2"},
			wantReasons: map[string][]string{
				"u1": {"within", "newest (none verified)"},
			},
		},
		{
			name: "an all-zero policy keeps everything, bad ones too",
			items: []RetentionItem{
				retentionSnap("z1", retentionAt(2024, time.January, 3, 3, 0)).bad(),
				retentionSnap("z2", retentionAt(2024, time.January, 2, 3, 0)),
				retentionSnap("z3", retentionAt(2020, time.January, 1, 3, 0)).unverified(),
			},
			policy:     Policy{},
			wantKeep:   []string{"z1", "z2", "z3"},
			wantRemove: []string{},
			wantReasons: map[string][]string{
				"z1": {"empty policy"},
				"z2": {"empty policy", "newest verified"},
				"z3": {"empty policy"},
			},
		},
		{
			name: "an invalid policy keeps everything",
			items: []RetentionItem{
				retentionSnap("v1", retentionAt(2024, time.January, 2, 3, 0)),
				retentionSnap("v2", retentionAt(2024, time.January, 1, 3, 0)),
			},
			policy:     Policy{KeepLast: 1, KeepDaily: -1},
			wantKeep:   []string{"v1", "v2"},
			wantRemove: []string{},
			wantReasons: map[string][]string{
				"v1": {"invalid policy", "newest verified"},
				"v2": {"invalid policy"},
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := now
			if !tt.now.IsZero() {
				clock = tt.now
			}
			keep, remove, reasons := SelectKeep(tt.items, tt.policy, clock, retentionTestZone)
			if got := retentionIDs(keep); !slices.Equal(got, tt.wantKeep) {
				t.Errorf("keep = %q, want %q", got, tt.wantKeep)
			}
			if got := retentionIDs(remove); !slices.Equal(got, tt.wantRemove) {
				t.Errorf("remove = %q, want %q", got, tt.wantRemove)
			}
			if !reflect.DeepEqual(reasons, tt.wantReasons) {
				t.Errorf("reasons = %v, want %v", reasons, tt.wantReasons)
			}
		})
	}
}

func TestSelectKeep_doesNotModifyInput(t *testing.T) {
	t.Parallel()
	items := []RetentionItem{
		retentionSnap("old", retentionAt(2024, time.January, 1, 3, 0)),
		retentionSnap("new", retentionAt(2024, time.January, 2, 3, 0)),
	}
	before := slices.Clone(items)
	SelectKeep(items, Policy{KeepLast: 1}, retentionAt(2024, time.January, 3, 0, 0), retentionTestZone)
	if !slices.Equal(items, before) {
		t.Errorf("SelectKeep reordered or changed its input: %v, want %v", items, before)
	}
}

func TestPolicy_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  Policy
		wantErr string
	}{
		{name: "all zero", policy: Policy{}},
		{name: "all set", policy: Policy{KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5, KeepYearly: 6, KeepWithin: time.Hour}},
		{name: "negative daily", policy: Policy{KeepDaily: -1}, wantErr: "retention policy: keep_daily is -1, must be 0 or more"},
		{
			name:    "several negatives are all reported",
			policy:  Policy{KeepLast: -2, KeepYearly: -1, KeepWithin: -time.Hour},
			wantErr: "retention policy: keep_last is -2, must be 0 or more\nretention policy: keep_yearly is -1, must be 0 or more\nretention policy: keep_within is -1h0m0s, must be 0 or more",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// retentionTestClock is the injectable clock of the simulation: the "engine"
// below reads the time only from it.
type retentionTestClock struct{ now time.Time }

func (c *retentionTestClock) Now() time.Time          { return c.now }
func (c *retentionTestClock) Set(t time.Time)         { c.now = t }
func (c *retentionTestClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// TestSelectKeep_400Days simulates 400 days of daily backups at 03:00 local
// time, 1 November 2023 to 4 December 2024, plus an hourly burst at :30 past
// every hour on Monday 2 December 2024, running retention after every backup
// as the engine does. The expected survivors were derived by hand:
//
//   - keep_daily 7: the newest snapshot of each of the last 7 days with one,
//     4 Dec back to 28 Nov. On 2 Dec the newest is the burst's 23:30.
//   - keep_weekly 4: ISO weeks start on Monday; 4 Dec 2024 is a Wednesday.
//     Week of 2 Dec: 4 Dec. Week of 25 Nov: Sunday 1 Dec 03:00 (the burst's
//     00:30 on 2 Dec is Sunday 23:30 in UTC, so bucketing in UTC would pick it
//     instead). Then Sundays 24 Nov and 17 Nov.
//   - keep_monthly 12: the last day of each month, December 2024 (4 Dec)
//     back to January 2024 (31 Jan), with 29 Feb for the leap year. The
//     twelve counts run out before 2023, so the oldest-snapshot rule does
//     not fire.
//   - keep_yearly 2: 4 Dec 2024 and 31 Dec 2023; the oldest snapshot, 1 Nov
//     2023, is not kept because both counts are used.
//
// Every snapshot is verified, so the newest-verified rule only adds a reason
// to 4 Dec. That is 7 + 2 + 10 + 1 = 20 snapshots. Running retention after
// every backup must end with the same set as running it once over all of
// them, because a snapshot these rules drop never becomes the newest of a
// bucket again.
func TestSelectKeep_400Days(t *testing.T) {
	t.Parallel()
	policy := Policy{KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 2}
	const idLayout = "2006-01-02T15:04"

	wantReasons := map[string][]string{
		"2024-12-04T03:00": {"daily", "weekly", "monthly", "yearly", "newest verified"},
		"2024-12-03T03:00": {"daily"},
		"2024-12-02T23:30": {"daily"},
		"2024-12-01T03:00": {"daily", "weekly"},
		"2024-11-30T03:00": {"daily", "monthly"},
		"2024-11-29T03:00": {"daily"},
		"2024-11-28T03:00": {"daily"},
		"2024-11-24T03:00": {"weekly"},
		"2024-11-17T03:00": {"weekly"},
		"2024-10-31T03:00": {"monthly"},
		"2024-09-30T03:00": {"monthly"},
		"2024-08-31T03:00": {"monthly"},
		"2024-07-31T03:00": {"monthly"},
		"2024-06-30T03:00": {"monthly"},
		"2024-05-31T03:00": {"monthly"},
		"2024-04-30T03:00": {"monthly"},
		"2024-03-31T03:00": {"monthly"},
		"2024-02-29T03:00": {"monthly"},
		"2024-01-31T03:00": {"monthly"},
		"2023-12-31T03:00": {"yearly"},
	}
	wantKeep := slices.Sorted(maps.Keys(wantReasons))
	slices.Reverse(wantKeep)

	clock := &retentionTestClock{}
	var all, live []RetentionItem
	burstDay := retentionAt(2024, time.December, 2, 0, 0)
	first := retentionAt(2023, time.November, 1, 0, 0)
	for day := range 400 {
		midnight := first.AddDate(0, 0, day)
		runs := []time.Duration{3 * time.Hour}
		if midnight.Equal(burstDay) {
			for h := range 24 {
				runs = append(runs, time.Duration(h)*time.Hour+30*time.Minute)
			}
			slices.Sort(runs)
		}
		for _, offset := range runs {
			clock.Set(midnight.Add(offset))
			taken := clock.Now()
			it := RetentionItem{ID: taken.Format(idLayout), Time: taken.UTC(), Verified: true}
			all = append(all, it)
			live = append(live, it)
			clock.Advance(7 * time.Minute) // the backup takes a while
			keep, remove, _ := SelectKeep(live, policy, clock.Now(), retentionTestZone)
			if len(keep)+len(remove) != len(live) {
				t.Fatalf("at %s: keep %d + remove %d != %d snapshots", clock.Now(), len(keep), len(remove), len(live))
			}
			live = keep
		}
	}

	if got := all[len(all)-1].ID; got != "2024-12-04T03:00" {
		t.Fatalf("simulation ended at %s, want 2024-12-04T03:00: the hand-computed set assumes it", got)
	}
	if got, want := len(all), 400+24; got != want {
		t.Fatalf("simulation took %d snapshots, want %d", got, want)
	}

	if got := retentionIDs(live); !slices.Equal(got, wantKeep) {
		t.Errorf("after running retention daily, kept\n%s\nwant\n%s", strings.Join(got, " "), strings.Join(wantKeep, " "))
	}

	keep, remove, reasons := SelectKeep(all, policy, clock.Now(), retentionTestZone)
	if got := retentionIDs(keep); !slices.Equal(got, wantKeep) {
		t.Errorf("in one pass, kept\n%s\nwant\n%s", strings.Join(got, " "), strings.Join(wantKeep, " "))
	}
	if got, want := len(remove), len(all)-len(wantKeep); got != want {
		t.Errorf("in one pass, removed %d snapshots, want %d", got, want)
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		for _, id := range wantKeep {
			if !slices.Equal(reasons[id], wantReasons[id]) {
				t.Errorf("reasons[%s] = %q, want %q", id, reasons[id], wantReasons[id])
			}
		}
		if len(reasons) != len(wantReasons) {
			t.Errorf("reasons has %d entries, want %d: %v", len(reasons), len(wantReasons), fmt.Sprint(reasons))
		}
	}

	// Bucketing in UTC instead of the host's zone must give a different
	// answer, or this test could not catch a time-zone mistake.
	utcKeep, _, _ := SelectKeep(all, policy, clock.Now(), time.UTC)
	if slices.Equal(retentionIDs(utcKeep), wantKeep) {
		t.Errorf("bucketing in UTC kept the same set; the simulation does not exercise the time zone")
	}
}

// TestSelectKeep_keepsAChainTheCurrentKeysRestore: the recipients moved
// from {A} to {B} and then to {A, C}. The newest snapshots (to B) are kept
// by the policy, and the newest complete chain that A can restore is kept
// beside them, whole.
func TestSelectKeep_keepsAChainTheCurrentKeysRestore(t *testing.T) {
	t.Parallel()
	now := retentionAt(2025, time.June, 10, 12, 0)
	current := func(it RetentionItem) RetentionItem { it.Current = true; return it }
	items := []RetentionItem{
		current(retentionSnap("a1", retentionAt(2025, time.June, 1, 1, 0))),
		current(retentionSnap("a2", retentionAt(2025, time.June, 2, 1, 0)).withParent("a1")),
		current(retentionSnap("a3", retentionAt(2025, time.June, 3, 1, 0)).withParent("a2")),
		current(retentionSnap("a4", retentionAt(2025, time.June, 4, 1, 0)).bad()), // not restorable
		retentionSnap("b1", retentionAt(2025, time.June, 5, 1, 0)),
		retentionSnap("b2", retentionAt(2025, time.June, 6, 1, 0)).withParent("b1"),
	}
	keep, remove, reasons := SelectKeep(items, Policy{KeepLast: 1}, now, retentionTestZone)
	if got, want := retentionIDs(keep), []string{"b2", "b1", "a3", "a2", "a1"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v (removed %v)", got, want, retentionIDs(remove))
	}
	if !slices.Contains(reasons["a3"], retentionReasonCurrentKeys) {
		t.Errorf("a3 kept for %v, want %q", reasons["a3"], retentionReasonCurrentKeys)
	}

	// Without any snapshot the current keys restore, nothing more is kept.
	for i := range items {
		items[i].Current = false
	}
	if keep, _, _ := SelectKeep(items, Policy{KeepLast: 1}, now, retentionTestZone); !slices.Equal(retentionIDs(keep), []string{"b2", "b1"}) {
		t.Errorf("kept %v, want [b2 b1]", retentionIDs(keep))
	}
}
