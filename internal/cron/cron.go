// Package cron parses cron expressions and decides when a schedule runs:
// pure functions of the expression and the clock, shared by the provider
// (plan-time validation) and the agent's scheduler.
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression. Its zero value matches no time at
// all. Schedules are compared by value and safe for concurrent use.
type Schedule struct {
	expr string

	minute, hour, dom, month, dow cronBits

	// domStar and dowStar record whether the day-of-month or day-of-week
	// field starts with "*". Vixie cron decides on that text, not on the
	// set of days, whether the two day fields are ANDed or ORed.
	domStar, dowStar bool
}

// cronBits is a set of small integers: bit v is set when v is in the set.
type cronBits uint64

func (b cronBits) has(v int) bool { return b&(1<<uint(v)) != 0 }

// values returns the members of b in ascending order.
func (b cronBits) values() []int {
	out := make([]int, 0, bits.OnesCount64(uint64(b)))
	for b != 0 {
		v := bits.TrailingZeros64(uint64(b))
		out = append(out, v)
		b &^= 1 << uint(v)
	}
	return out
}

// cronField describes one of the five fields of a cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i, e.g. "jan" for 1
	accepted string   // what an error message says the field accepts
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59, accepted: "must be 0-59"},
	{name: "hour", min: 0, max: 23, accepted: "must be 0-23"},
	{name: "day-of-month", min: 1, max: 31, accepted: "must be 1-31"},
	{
		name: "month", min: 1, max: 12, accepted: "must be 1-12 or jan-dec",
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"},
	},
	{
		// 7 is accepted as a second Sunday and folded onto 0.
		name: "day-of-week", min: 0, max: 7, accepted: "must be 0-7 (0 and 7 are Sunday) or sun-sat",
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"},
	},
}

// cronMacros are the @ shorthands of Vixie cron that name a time. @reboot
// names an event, not a time, and is rejected.
var cronMacros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// cronSearchYears bounds how far Next looks ahead. Any schedule that passes
// Parse matches within 5 years except 29 February around a
// non-leap century year such as 2100.
const cronSearchYears = 5

// Parse parses a cron expression in the syntax of Vixie cron, the
// cron of most Linux hosts:
//
//	minute hour day-of-month month day-of-week
//
// Each field is "*" or a comma-separated list of values and ranges ("1-5"),
// each optionally with a step ("*/15", "0-23/2", and "5/15" meaning
// "5-59/15" as in Kubernetes). Months and days of the week may be given by
// their English three-letter names (jan-dec, sun-sat, any case); day of week
// 0 and 7 are both Sunday. The macros @yearly, @annually, @monthly, @weekly,
// @daily, @midnight and @hourly stand for their usual five fields.
//
// Days follow Vixie cron's rule: if either day field starts with "*" (which
// includes "*/2"), a day must match both fields; otherwise it must match
// either one, so "0 0 13 * 5" runs on every 13th and every Friday.
//
// Times are evaluated in the location of the time passed to Next, which the
// agent sets to the host's time zone. An expression whose day-of-month can
// never fall in its months ("0 0 30 2 *") is an error rather than a schedule
// that never runs.
func Parse(expr string) (Schedule, error) {
	s, err := parseCronExpr(expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

func parseCronExpr(expr string) (Schedule, error) {
	fields := strings.Fields(expr)
	canonical := strings.Join(fields, " ")
	if len(fields) == 1 && strings.HasPrefix(fields[0], "@") {
		macro := strings.ToLower(fields[0])
		if macro == "@reboot" {
			return Schedule{}, errors.New("@reboot is not supported: a backup schedule needs a time of day (run_on_create runs a backup right away)")
		}
		expanded, ok := cronMacros[macro]
		if !ok {
			return Schedule{}, fmt.Errorf("unknown macro %q: must be @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", fields[0])
		}
		fields, canonical = strings.Fields(expanded), macro
	}
	if len(fields) != len(cronFields) {
		return Schedule{}, fmt.Errorf("got %d fields, want 5 (minute hour day-of-month month day-of-week) or a macro such as @daily", len(fields))
	}

	var sets [5]cronBits
	for i, text := range fields {
		set, err := cronFields[i].parse(text)
		if err != nil {
			return Schedule{}, err
		}
		sets[i] = set
	}
	// Sunday is 0 for time.Weekday; 7 is its second spelling.
	if sets[4].has(7) {
		sets[4] = sets[4]&^(1<<7) | 1<<0
	}

	s := Schedule{
		expr:    canonical,
		minute:  sets[0],
		hour:    sets[1],
		dom:     sets[2],
		month:   sets[3],
		dow:     sets[4],
		domStar: strings.HasPrefix(fields[2], "*"),
		dowStar: strings.HasPrefix(fields[4], "*"),
	}
	if s.domStar || s.dowStar {
		if err := cronCheckDaysExist(s.dom, s.month, fields[2], fields[3]); err != nil {
			return Schedule{}, err
		}
	}
	return s, nil
}

// cronCheckDaysExist rejects a day-of-month set that no month in the month
// set has, such as the 30th of February. It only applies when the day
// fields are ANDed; when they are ORed the day of week still matches.
func cronCheckDaysExist(dom, month cronBits, domText, monthText string) error {
	// February counts as 29 days: "0 0 29 2 *" runs in leap years.
	daysIn := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for _, m := range month.values() {
		for _, d := range dom.values() {
			if d <= daysIn[m] {
				return nil
			}
		}
	}
	return fmt.Errorf("day-of-month field %q never occurs in month field %q: the schedule would never run", domText, monthText)
}

// parse parses one field of a cron expression into the set of its values.
func (f cronField) parse(text string) (cronBits, error) {
	var set cronBits
	for part := range strings.SplitSeq(text, ",") {
		if err := f.parsePart(part, &set); err != nil {
			if part == text {
				return 0, fmt.Errorf("%s field %q: %w", f.name, text, err)
			}
			return 0, fmt.Errorf("%s field %q (at %q): %w", f.name, text, part, err)
		}
	}
	return set, nil
}

// parsePart adds one list element, "*", "v", "a-b", each optionally with
// "/step", to set.
func (f cronField) parsePart(part string, set *cronBits) error {
	rangeText, stepText, hasStep := strings.Cut(part, "/")
	step := 1
	if hasStep {
		n, ok := cronNumber(stepText)
		if !ok || n < 1 {
			return fmt.Errorf("step %q must be a whole number of 1 or more", stepText)
		}
		step = n
	}

	var lo, hi int
	if rangeText == "*" {
		lo, hi = f.min, f.max
	} else {
		loText, hiText, isRange := strings.Cut(rangeText, "-")
		var err error
		if lo, err = f.value(loText); err != nil {
			return err
		}
		switch {
		case isRange:
			if hi, err = f.value(hiText); err != nil {
				return err
			}
			if lo > hi {
				return fmt.Errorf("range %q runs backwards: write the lower value first (ranges do not wrap around)", rangeText)
			}
		case hasStep:
			hi = f.max
		default:
			hi = lo
		}
	}
	for v := lo; v <= hi; v += step {
		*set |= 1 << uint(v)
	}
	return nil
}

// value parses a single number or name of the field.
func (f cronField) value(text string) (int, error) {
	if n, ok := cronNumber(text); ok {
		if n < f.min || n > f.max {
			return 0, errors.New(f.accepted)
		}
		return n, nil
	}
	lower := strings.ToLower(text)
	for i, name := range f.names {
		if lower == name {
			return f.min + i, nil
		}
	}
	if text == "" {
		return 0, fmt.Errorf("empty value: %s", f.accepted)
	}
	return 0, fmt.Errorf("%q is not a value: %s", text, f.accepted)
}

// cronNumber parses a plain decimal number: digits only, no sign, at most
// four of them so that a long string cannot overflow.
func cronNumber(text string) (int, bool) {
	if text == "" || len(text) > 4 {
		return 0, false
	}
	for _, r := range text {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(text)
	return n, err == nil
}

// String returns the expression s was parsed from, with runs of white space
// collapsed and macros lower-cased; Parse accepts it back. The zero
// Schedule returns "".
func (s Schedule) String() string { return s.expr }

// Next returns the first time strictly after after at which s runs, in the
// location of after, with zero seconds. Times are wall-clock times of that
// location:
//
//   - On a day when the clocks go forward, a wall-clock time that does not
//     exist is skipped, not moved: "30 2 * * *" does not run in Europe/Berlin
//     on the last Sunday of March.
//   - On a day when the clocks go back, a wall-clock time that occurs twice
//     runs once, at its first occurrence. So "0 * * * *" runs at 02:00 CEST
//     and then at 03:00 CET, two hours later.
//
// Next gives up and returns the zero time when s does not run within five
// years of after.
func (s Schedule) Next(after time.Time) time.Time {
	loc := after.Location()
	y, m, d := after.Date()
	// Civil dates are iterated in UTC, where every day has 24 hours.
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	end := day.AddDate(cronSearchYears, 0, 0)
	hours, minutes := s.hour.values(), s.minute.values()
	for ; !day.After(end); day = day.AddDate(0, 0, 1) {
		if !s.matchesDay(day) {
			continue
		}
		for _, h := range hours {
			for _, mi := range minutes {
				t, ok := cronWallTime(day.Year(), day.Month(), day.Day(), h, mi, loc)
				if ok && t.After(after) {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// matchesDay reports whether s runs on the civil date of day.
func (s Schedule) matchesDay(day time.Time) bool {
	if !s.month.has(int(day.Month())) {
		return false
	}
	domOK, dowOK := s.dom.has(day.Day()), s.dow.has(int(day.Weekday()))
	if s.domStar || s.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// cronWallTime returns the earliest instant at which the clock in loc shows
// the given date and time, and false when it never does (the time falls in
// a gap where the clocks go forward). time.Date alone cannot say this: for a
// missing or doubled wall-clock time it picks an instant without saying so.
func cronWallTime(y int, mo time.Month, d, h, mi int, loc *time.Location) (time.Time, bool) {
	wall := time.Date(y, mo, d, h, mi, 0, 0, time.UTC).Unix()
	guess := time.Date(y, mo, d, h, mi, 0, 0, loc)
	var best time.Time
	found := false
	// The offsets in force a day before and after cover both sides of any
	// transition near the wall-clock time.
	for _, probe := range []time.Time{guess.Add(-24 * time.Hour), guess, guess.Add(24 * time.Hour)} {
		_, offset := probe.Zone()
		candidate := time.Unix(wall-int64(offset), 0).In(loc)
		if _, got := candidate.Zone(); got != offset {
			continue // the clock never shows this time with this offset
		}
		if !found || candidate.Before(best) {
			best, found = candidate, true
		}
	}
	return best, found
}

// PlanRun decides, for a daemon that last ran s at lastRun and wakes at now,
// whether a run is due and when to wake next.
//
// due is true when at least one scheduled time lies in (lastRun, now].
// catchUp is true when more than one does, i.e. runs were missed while the
// host was down; still only one run is due, never one per missed time. next
// is the first scheduled time after now plus a random delay of
// rnd(maxDelay), which must lie in [0, maxDelay) and is clamped into it; rnd
// nil or maxDelay <= 0 means no delay. next is the zero time when s never runs
// again.
//
// lastRun is read in now's location, the host's time zone, whatever location
// it was stored in. A zero lastRun means the schedule has never run: nothing
// is due and the first run waits for the first scheduled time. Callers that
// want a new schedule to run at once use run_on_create instead.
func PlanRun(s Schedule, lastRun, now time.Time, maxDelay time.Duration, rnd func(time.Duration) time.Duration) (due bool, catchUp bool, next time.Time) {
	if !lastRun.IsZero() {
		lastRun = lastRun.In(now.Location())
		if first := s.Next(lastRun); !first.IsZero() && !first.After(now) {
			due = true
			if second := s.Next(first); !second.IsZero() && !second.After(now) {
				catchUp = true
			}
		}
	}

	next = s.Next(now)
	if next.IsZero() || rnd == nil || maxDelay <= 0 {
		return due, catchUp, next
	}
	delay := min(max(rnd(maxDelay), 0), maxDelay-1)
	return due, catchUp, next.Add(delay)
}
