package cron

import (
	"slices"
	"testing"
	"time"
)

// cronTestZone is a fixed zone one hour east of UTC, so a schedule evaluated
// in UTC instead of the time's own location gives different times.
var cronTestZone = time.FixedZone("CET", 3600)

func cronAt(y int, mo time.Month, d, h, mi, sec int) time.Time {
	return time.Date(y, mo, d, h, mi, sec, 0, cronTestZone)
}

// cronLayout shows the weekday and the UTC offset so that expectations can be
// checked against a calendar and DST mistakes show.
const cronLayout = "2006-01-02 15:04 Mon -0700"

// cronRuns returns the first n run times of expr after from, formatted.
func cronRuns(t *testing.T, expr string, from time.Time, n int) []string {
	t.Helper()
	s, err := Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	var runs []string
	at := from
	for range n {
		next := s.Next(at)
		if next.IsZero() {
			runs = append(runs, "never")
			break
		}
		if next.Location() != from.Location() {
			t.Errorf("Next(%s) is in %s, want %s", at, next.Location(), from.Location())
		}
		runs = append(runs, next.Format(cronLayout))
		at = next
	}
	return runs
}

func TestParse_forms(t *testing.T) {
	t.Parallel()
	// Sunday 10 March 2024, 10:07:30.
	from := cronAt(2024, time.March, 10, 10, 7, 30)

	tests := []struct {
		name       string
		expr       string
		wantString string
		want       []string
	}{
		{"every minute", "* * * * *", "* * * * *", []string{
			"2024-03-10 10:08 Sun +0100", "2024-03-10 10:09 Sun +0100",
		}},
		{"star with step", "*/15 * * * *", "*/15 * * * *", []string{
			"2024-03-10 10:15 Sun +0100", "2024-03-10 10:30 Sun +0100",
			"2024-03-10 10:45 Sun +0100", "2024-03-10 11:00 Sun +0100",
		}},
		{"range with step", "0 9-17/4 * * *", "0 9-17/4 * * *", []string{
			"2024-03-10 13:00 Sun +0100", "2024-03-10 17:00 Sun +0100",
			"2024-03-11 09:00 Mon +0100", "2024-03-11 13:00 Mon +0100",
		}},
		{"full range with step", "0 0-23/6 * * *", "0 0-23/6 * * *", []string{
			"2024-03-10 12:00 Sun +0100", "2024-03-10 18:00 Sun +0100",
			"2024-03-11 00:00 Mon +0100", "2024-03-11 06:00 Mon +0100",
		}},
		{"lists", "5,35 1,3,5 * * *", "5,35 1,3,5 * * *", []string{
			"2024-03-11 01:05 Mon +0100", "2024-03-11 01:35 Mon +0100",
			"2024-03-11 03:05 Mon +0100", "2024-03-11 03:35 Mon +0100",
		}},
		{"range", "20-22 10 * * *", "20-22 10 * * *", []string{
			"2024-03-10 10:20 Sun +0100", "2024-03-10 10:21 Sun +0100",
			"2024-03-10 10:22 Sun +0100", "2024-03-11 10:20 Mon +0100",
		}},
		{"start with step runs to the end of the field", "5/20 * * * *", "5/20 * * * *", []string{
			"2024-03-10 10:25 Sun +0100", "2024-03-10 10:45 Sun +0100",
			"2024-03-10 11:05 Sun +0100", "2024-03-10 11:25 Sun +0100",
		}},
		{"weekday names as a range", "0 8 * * mon-fri", "0 8 * * mon-fri", []string{
			"2024-03-11 08:00 Mon +0100", "2024-03-12 08:00 Tue +0100",
			"2024-03-13 08:00 Wed +0100", "2024-03-14 08:00 Thu +0100",
			"2024-03-15 08:00 Fri +0100", "2024-03-18 08:00 Mon +0100",
		}},
		{"weekday names in any case", "0 8 * * MON,wed", "0 8 * * MON,wed", []string{
			"2024-03-11 08:00 Mon +0100", "2024-03-13 08:00 Wed +0100",
			"2024-03-18 08:00 Mon +0100", "2024-03-20 08:00 Wed +0100",
		}},
		{"month names", "0 0 1 jan,jul *", "0 0 1 jan,jul *", []string{
			"2024-07-01 00:00 Mon +0100", "2025-01-01 00:00 Wed +0100",
			"2025-07-01 00:00 Tue +0100", "2026-01-01 00:00 Thu +0100",
		}},
		{"month range with step", "30 4 1 feb-apr/2 *", "30 4 1 feb-apr/2 *", []string{
			"2024-04-01 04:30 Mon +0100", "2025-02-01 04:30 Sat +0100",
			"2025-04-01 04:30 Tue +0100", "2026-02-01 04:30 Sun +0100",
		}},
		{"day of week 0 is Sunday", "0 12 * * 0", "0 12 * * 0", []string{
			"2024-03-10 12:00 Sun +0100", "2024-03-17 12:00 Sun +0100",
			"2024-03-24 12:00 Sun +0100",
		}},
		{"day of week 7 is Sunday", "0 12 * * 7", "0 12 * * 7", []string{
			"2024-03-10 12:00 Sun +0100", "2024-03-17 12:00 Sun +0100",
			"2024-03-24 12:00 Sun +0100",
		}},
		{"day of week range up to 7", "0 12 * * 5-7", "0 12 * * 5-7", []string{
			"2024-03-10 12:00 Sun +0100", "2024-03-15 12:00 Fri +0100",
			"2024-03-16 12:00 Sat +0100", "2024-03-17 12:00 Sun +0100",
		}},
		{"day of week star with step", "0 0 * * */2", "0 0 * * */2", []string{
			"2024-03-12 00:00 Tue +0100", "2024-03-14 00:00 Thu +0100",
			"2024-03-16 00:00 Sat +0100", "2024-03-17 00:00 Sun +0100",
		}},
		{"white space is collapsed", "  0   12 *\t* *  ", "0 12 * * *", []string{
			"2024-03-10 12:00 Sun +0100", "2024-03-11 12:00 Mon +0100",
		}},
		{"@yearly", "@yearly", "@yearly", []string{
			"2025-01-01 00:00 Wed +0100", "2026-01-01 00:00 Thu +0100",
		}},
		{"@annually", "@annually", "@annually", []string{
			"2025-01-01 00:00 Wed +0100", "2026-01-01 00:00 Thu +0100",
		}},
		{"@monthly", "@monthly", "@monthly", []string{
			"2024-04-01 00:00 Mon +0100", "2024-05-01 00:00 Wed +0100",
		}},
		{"@weekly is Sunday midnight", "@weekly", "@weekly", []string{
			"2024-03-17 00:00 Sun +0100", "2024-03-24 00:00 Sun +0100",
		}},
		{"@daily", "@daily", "@daily", []string{
			"2024-03-11 00:00 Mon +0100", "2024-03-12 00:00 Tue +0100",
		}},
		{"@midnight", "@midnight", "@midnight", []string{
			"2024-03-11 00:00 Mon +0100", "2024-03-12 00:00 Tue +0100",
		}},
		{"@hourly", "@hourly", "@hourly", []string{
			"2024-03-10 11:00 Sun +0100", "2024-03-10 12:00 Sun +0100",
		}},
		{"macros in upper case", " @DAILY ", "@daily", []string{
			"2024-03-11 00:00 Mon +0100",
		}},
		{
			// Both day fields restricted, so they are ORed: the 30th never
			// comes in February, but its Mondays do.
			"a day-of-month February lacks is fine with a day of week", "0 0 30 2 mon", "0 0 30 2 mon", []string{
				"2025-02-03 00:00 Mon +0100", "2025-02-10 00:00 Mon +0100",
				"2025-02-17 00:00 Mon +0100", "2025-02-24 00:00 Mon +0100",
				"2026-02-02 00:00 Mon +0100",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.expr)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.expr, err)
			}
			if got := s.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if _, err := Parse(s.String()); err != nil {
				t.Errorf("Parse(String()) = %v, want it to parse back", err)
			}
			if got := cronRuns(t, tt.expr, from, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("runs after %s:\n got %q\nwant %q", from.Format(cronLayout), got, tt.want)
			}
		})
	}
}

func TestParse_invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want string
	}{
		{"", `schedule "": got 0 fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily`},
		{"0 0 * *", `schedule "0 0 * *": got 4 fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily`},
		{"0 0 0 * * *", `schedule "0 0 0 * * *": got 6 fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily`},
		{"60 * * * *", `schedule "60 * * * *": minute field "60": must be 0-59`},
		{"0 25 * * *", `schedule "0 25 * * *": hour field "25": must be 0-23`},
		{"0 0 0 * *", `schedule "0 0 0 * *": day-of-month field "0": must be 1-31`},
		{"0 0 32 * *", `schedule "0 0 32 * *": day-of-month field "32": must be 1-31`},
		{"0 0 * 13 *", `schedule "0 0 * 13 *": month field "13": must be 1-12 or jan-dec`},
		{"0 0 * * 8", `schedule "0 0 * * 8": day-of-week field "8": must be 0-7 (0 and 7 are Sunday) or sun-sat`},
		{"0 1,25 * * *", `schedule "0 1,25 * * *": hour field "1,25" (at "25"): must be 0-23`},
		{"0 1,,2 * * *", `schedule "0 1,,2 * * *": hour field "1,,2" (at ""): empty value: must be 0-23`},
		{"0 22-2 * * *", `schedule "0 22-2 * * *": hour field "22-2": range "22-2" runs backwards: write the lower value first (ranges do not wrap around)`},
		{"0 0 * * fri-mon", `schedule "0 0 * * fri-mon": day-of-week field "fri-mon": range "fri-mon" runs backwards: write the lower value first (ranges do not wrap around)`},
		{"*/0 * * * *", `schedule "*/0 * * * *": minute field "*/0": step "0" must be a whole number of 1 or more`},
		{"*/x * * * *", `schedule "*/x * * * *": minute field "*/x": step "x" must be a whole number of 1 or more`},
		{"+5 * * * *", `schedule "+5 * * * *": minute field "+5": "+5" is not a value: must be 0-59`},
		{"0 0 * foo *", `schedule "0 0 * foo *": month field "foo": "foo" is not a value: must be 1-12 or jan-dec`},
		{"0 0 * * jan", `schedule "0 0 * * jan": day-of-week field "jan": "jan" is not a value: must be 0-7 (0 and 7 are Sunday) or sun-sat`},
		{"0 0 * * monday", `schedule "0 0 * * monday": day-of-week field "monday": "monday" is not a value: must be 0-7 (0 and 7 are Sunday) or sun-sat`},
		{"0 0 30 2 *", `schedule "0 0 30 2 *": day-of-month field "30" never occurs in month field "2": the schedule would never run`},
		{"0 0 31 apr,jun,sep,nov *", `schedule "0 0 31 apr,jun,sep,nov *": day-of-month field "31" never occurs in month field "apr,jun,sep,nov": the schedule would never run`},
		{"@reboot", `schedule "@reboot": @reboot is not supported: a backup schedule needs a time of day (run_on_create runs a backup right away)`},
		{"@fortnightly", `schedule "@fortnightly": unknown macro "@fortnightly": must be @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly`},
		{"@daily 0", `schedule "@daily 0": got 2 fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(tt.expr)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want error %q", tt.expr, s, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error\n got %q\nwant %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestSchedule_Next_calendar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		expr string
		from time.Time
		want []string
	}{
		{"31st skips months without one", "0 0 31 * *", cronAt(2024, time.January, 31, 0, 0, 0), []string{
			"2024-03-31 00:00 Sun +0100", "2024-05-31 00:00 Fri +0100",
			"2024-07-31 00:00 Wed +0100", "2024-08-31 00:00 Sat +0100",
		}},
		{"30th skips February", "0 0 30 * *", cronAt(2024, time.January, 30, 0, 0, 0), []string{
			"2024-03-30 00:00 Sat +0100", "2024-04-30 00:00 Tue +0100",
		}},
		{"first of month across a year end", "0 0 1 * *", cronAt(2024, time.December, 31, 23, 59, 59), []string{
			"2025-01-01 00:00 Wed +0100", "2025-02-01 00:00 Sat +0100",
		}},
		{"a run time is not after itself", "45 23 31 12 *", cronAt(2024, time.December, 31, 23, 45, 0), []string{
			"2025-12-31 23:45 Wed +0100",
		}},
		{"seconds are dropped", "* * * * *", cronAt(2024, time.December, 31, 23, 59, 1), []string{
			"2025-01-01 00:00 Wed +0100",
		}},
		{"29 February waits for leap years", "0 0 29 2 *", cronAt(2023, time.March, 1, 0, 0, 0), []string{
			"2024-02-29 00:00 Thu +0100", "2028-02-29 00:00 Tue +0100",
			"2032-02-29 00:00 Sun +0100",
		}},
		{"leap day then the 1st of March", "0 12 29,1 2,3 *", cronAt(2024, time.February, 28, 0, 0, 0), []string{
			"2024-02-29 12:00 Thu +0100", "2024-03-01 12:00 Fri +0100",
			"2024-03-29 12:00 Fri +0100", "2025-02-01 12:00 Sat +0100",
		}},
		// 2100 is not a leap year, so the next 29 February after 2096 is in
		// 2104, more than five years on.
		{"gives up after five years", "0 0 29 2 *", cronAt(2097, time.March, 1, 0, 0, 0), []string{
			"never",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cronRuns(t, tt.expr, tt.from, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("runs after %s:\n got %q\nwant %q", tt.from.Format(cronLayout), got, tt.want)
			}
		})
	}

	if got := (Schedule{}).Next(cronAt(2024, time.January, 1, 0, 0, 0)); !got.IsZero() {
		t.Errorf("zero Schedule Next = %s, want the zero time", got)
	}
}

func TestSchedule_Next_dayRule(t *testing.T) {
	t.Parallel()
	// Sunday 1 September 2024, midnight: Next is strictly after it.
	from := cronAt(2024, time.September, 1, 0, 0, 0)
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"both restricted: every 13th or Friday", "0 0 13 * 5", []string{
			"2024-09-06 00:00 Fri +0100", "2024-09-13 00:00 Fri +0100",
			"2024-09-20 00:00 Fri +0100", "2024-09-27 00:00 Fri +0100",
			"2024-10-04 00:00 Fri +0100", "2024-10-11 00:00 Fri +0100",
			"2024-10-13 00:00 Sun +0100", "2024-10-18 00:00 Fri +0100",
		}},
		{"day of week star: the 13th only", "0 0 13 * *", []string{
			"2024-09-13 00:00 Fri +0100", "2024-10-13 00:00 Sun +0100",
		}},
		{"day of month star: Fridays only", "0 0 * * 5", []string{
			"2024-09-06 00:00 Fri +0100", "2024-09-13 00:00 Fri +0100",
		}},
		// Vixie cron: a field starting with "*" makes the day fields ANDed
		// even when it has a step, so this is odd-numbered Mondays.
		{"star with step is ANDed", "0 0 */2 * 1", []string{
			"2024-09-09 00:00 Mon +0100", "2024-09-23 00:00 Mon +0100",
			"2024-10-07 00:00 Mon +0100", "2024-10-21 00:00 Mon +0100",
		}},
		// ...and a field that lists every day without "*" is restricted,
		// so with a day of week the two are ORed: every day.
		{"1-31 is ORed", "0 0 1-31 * 1", []string{
			"2024-09-02 00:00 Mon +0100", "2024-09-03 00:00 Tue +0100",
			"2024-09-04 00:00 Wed +0100",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cronRuns(t, tt.expr, from, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("runs after %s:\n got %q\nwant %q", from.Format(cronLayout), got, tt.want)
			}
		})
	}
}

func TestSchedule_Next_DST(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata for Europe/Berlin: %v", err)
	}
	berlinAt := func(y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, berlin)
	}
	// In 2024 Berlin went from 02:00 CET to 03:00 CEST on 31 March and from
	// 03:00 CEST back to 02:00 CET on 27 October.
	tests := []struct {
		name string
		expr string
		from time.Time
		want []string
	}{
		{"spring: a missing time is skipped that day", "30 2 * * *", berlinAt(2024, time.March, 30, 12, 0), []string{
			"2024-04-01 02:30 Mon +0200", "2024-04-02 02:30 Tue +0200",
		}},
		{"spring: every half hour jumps the gap", "*/30 * * * *", berlinAt(2024, time.March, 31, 1, 0), []string{
			"2024-03-31 01:30 Sun +0100", "2024-03-31 03:00 Sun +0200",
			"2024-03-31 03:30 Sun +0200",
		}},
		{"spring: the first time after the gap runs", "0 3 * * *", berlinAt(2024, time.March, 30, 12, 0), []string{
			"2024-03-31 03:00 Sun +0200", "2024-04-01 03:00 Mon +0200",
		}},
		{"fall: a doubled time runs once, at its first occurrence", "30 2 * * *", berlinAt(2024, time.October, 26, 12, 0), []string{
			"2024-10-27 02:30 Sun +0200", "2024-10-28 02:30 Mon +0100",
		}},
		{"fall: hourly does not repeat 02:00", "0 * * * *", berlinAt(2024, time.October, 27, 0, 30), []string{
			"2024-10-27 01:00 Sun +0200", "2024-10-27 02:00 Sun +0200",
			"2024-10-27 03:00 Sun +0100", "2024-10-27 04:00 Sun +0100",
		}},
		// 01:40 UTC is 02:40 CET, inside the repeated hour; 02:45 and 02:50
		// already ran during the first pass through it.
		{"fall: from inside the repeated hour, daily", "45 2 * * *", time.Date(2024, time.October, 27, 1, 40, 0, 0, time.UTC).In(berlin), []string{
			"2024-10-28 02:45 Mon +0100",
		}},
		{"fall: from inside the repeated hour, hourly", "50 * * * *", time.Date(2024, time.October, 27, 1, 40, 0, 0, time.UTC).In(berlin), []string{
			"2024-10-27 03:50 Sun +0100",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := cronRuns(t, tt.expr, tt.from, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("runs after %s:\n got %q\nwant %q", tt.from.Format(cronLayout), got, tt.want)
			}
		})
	}
}

func TestPlanRun(t *testing.T) {
	t.Parallel()
	at3, err := Parse("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	midnight, err := Parse("@midnight")
	if err != nil {
		t.Fatal(err)
	}
	fixed := func(d time.Duration) func(time.Duration) time.Duration {
		return func(time.Duration) time.Duration { return d }
	}
	lastRun := cronAt(2024, time.May, 1, 3, 0, 5)

	tests := []struct {
		name        string
		schedule    Schedule
		lastRun     time.Time
		now         time.Time
		maxDelay    time.Duration
		rnd         func(time.Duration) time.Duration
		wantDue     bool
		wantCatchUp bool
		wantNext    time.Time
	}{
		{
			name: "not due", schedule: at3, lastRun: lastRun,
			now:      cronAt(2024, time.May, 1, 12, 0, 0),
			wantNext: cronAt(2024, time.May, 2, 3, 0, 0),
		},
		{
			name: "due once", schedule: at3, lastRun: lastRun,
			now:     cronAt(2024, time.May, 2, 3, 0, 30),
			wantDue: true, wantNext: cronAt(2024, time.May, 3, 3, 0, 0),
		},
		{
			name: "due at the scheduled minute itself", schedule: at3, lastRun: lastRun,
			now:     cronAt(2024, time.May, 2, 3, 0, 0),
			wantDue: true, wantNext: cronAt(2024, time.May, 3, 3, 0, 0),
		},
		{
			// 2, 3 and 4 May 03:00 all passed while the host was down.
			name: "missed three runs: one catch-up run", schedule: at3, lastRun: lastRun,
			now:     cronAt(2024, time.May, 4, 9, 0, 0),
			wantDue: true, wantCatchUp: true, wantNext: cronAt(2024, time.May, 5, 3, 0, 0),
		},
		{
			name: "never ran: wait for the first scheduled time", schedule: at3,
			now:      cronAt(2024, time.May, 1, 12, 0, 0),
			wantNext: cronAt(2024, time.May, 2, 3, 0, 0),
		},
		{
			// Stored in UTC the last run was 30 April 23:00:05; read as UTC,
			// UTC midnight (01:00 local) would look due.
			name: "last run is read in the host's zone", schedule: midnight,
			lastRun:  cronAt(2024, time.May, 1, 0, 0, 5).UTC(),
			now:      cronAt(2024, time.May, 1, 12, 0, 0),
			wantNext: cronAt(2024, time.May, 2, 0, 0, 0),
		},
		{
			name: "random delay is added to next", schedule: at3, lastRun: lastRun,
			now: cronAt(2024, time.May, 1, 12, 0, 0), maxDelay: 30 * time.Minute, rnd: fixed(7 * time.Minute),
			wantNext: cronAt(2024, time.May, 2, 3, 7, 0),
		},
		{
			name: "a delay of maxDelay or more is clamped below it", schedule: at3, lastRun: lastRun,
			now: cronAt(2024, time.May, 1, 12, 0, 0), maxDelay: 30 * time.Minute, rnd: fixed(45 * time.Minute),
			wantNext: cronAt(2024, time.May, 2, 3, 30, 0).Add(-time.Nanosecond),
		},
		{
			name: "a negative delay is clamped to zero", schedule: at3, lastRun: lastRun,
			now: cronAt(2024, time.May, 1, 12, 0, 0), maxDelay: 30 * time.Minute, rnd: fixed(-time.Minute),
			wantNext: cronAt(2024, time.May, 2, 3, 0, 0),
		},
		{
			name: "no delay without maxDelay", schedule: at3, lastRun: lastRun,
			now: cronAt(2024, time.May, 1, 12, 0, 0), rnd: fixed(7 * time.Minute),
			wantNext: cronAt(2024, time.May, 2, 3, 0, 0),
		},
		{
			name: "a schedule that never runs", schedule: Schedule{}, lastRun: lastRun,
			now: cronAt(2024, time.May, 4, 9, 0, 0), maxDelay: time.Hour, rnd: fixed(time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			due, catchUp, next := PlanRun(tt.schedule, tt.lastRun, tt.now, tt.maxDelay, tt.rnd)
			if due != tt.wantDue || catchUp != tt.wantCatchUp {
				t.Errorf("due, catchUp = %t, %t, want %t, %t", due, catchUp, tt.wantDue, tt.wantCatchUp)
			}
			if !next.Equal(tt.wantNext) {
				t.Errorf("next = %s, want %s", next, tt.wantNext)
			}
		})
	}
}

func TestPlanRun_rndGetsMaxDelay(t *testing.T) {
	t.Parallel()
	s, err := Parse("@hourly")
	if err != nil {
		t.Fatal(err)
	}
	var asked []time.Duration
	rnd := func(maxDelay time.Duration) time.Duration {
		asked = append(asked, maxDelay)
		return 0
	}
	PlanRun(s, time.Time{}, cronAt(2024, time.May, 1, 12, 0, 0), 10*time.Minute, rnd)
	if !slices.Equal(asked, []time.Duration{10 * time.Minute}) {
		t.Errorf("rnd called with %v, want [10m0s]", asked)
	}
}

// TestPlanRun_daemonAfterDowntime drives PlanRun the way the daemon does:
// wake, run if due, sleep until next. A host that was down from 1 May 03:00
// to 4 May 09:00 runs the backup once on waking, not three times, and then
// keeps to its schedule.
func TestPlanRun_daemonAfterDowntime(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 3 * * *")
	if err != nil {
		t.Fatal(err)
	}
	lastRun := cronAt(2024, time.May, 1, 3, 0, 5)
	now := cronAt(2024, time.May, 4, 9, 0, 0) // the host comes back
	var runs []string
	for now.Before(cronAt(2024, time.May, 6, 12, 0, 0)) {
		due, catchUp, next := PlanRun(s, lastRun, now, 0, nil)
		if due {
			runs = append(runs, now.Format(cronLayout))
			if catchUp {
				runs[len(runs)-1] += " catch-up"
			}
			lastRun = now.Add(2 * time.Minute) // the backup takes two minutes
			now = lastRun
			continue // the daemon re-plans after each run
		}
		now = next
	}
	want := []string{
		"2024-05-04 09:00 Sat +0100 catch-up",
		"2024-05-05 03:00 Sun +0100",
		"2024-05-06 03:00 Mon +0100",
	}
	if !slices.Equal(runs, want) {
		t.Errorf("runs\n got %q\nwant %q", runs, want)
	}
}
