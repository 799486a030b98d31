package history

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// MaxPoints caps the points of one series a Query returns, as Prometheus
// does (11,000), so a small step over a long window cannot exhaust memory.
const MaxPoints = 11000

// Query selects series by metric name and label matchers, over the window
// [Start, End] (both inclusive), in buckets of Step.
type Query struct {
	Name  string
	Match []Matcher
	Start time.Time
	End   time.Time
	// Step is the width of the returned points, a whole number of seconds;
	// zero means the resolution of the finest tier holding Start. A step
	// finer than that tier's resolution is raised to it.
	Step time.Duration
}

// Point aggregates one Step of one series. T is the bucket's start; buckets
// are aligned to multiples of Step since the Unix epoch, so a chart that
// reloads gets the same buckets. Buckets without data are left out.
type Point struct {
	T     time.Time `json:"t"`
	Count int       `json:"count"` // raw samples behind the point
	Min   float64   `json:"min"`
	Avg   float64   `json:"avg"`
	Max   float64   `json:"max"`
	Last  float64   `json:"last"`
	// Increase treats the series as a counter: the growth within the bucket
	// and since the previous bucket's last value, a drop counted as a reset
	// to zero (as PromQL's increase, without extrapolation). A reset inside
	// a roll-up bucket that rose past its earlier peak again loses the
	// growth before the reset: at most one bucket's worth.
	Increase float64 `json:"increase"`
}

// Series is one series' answer to a Query.
type Series struct {
	Name   string `json:"name"`
	Labels Labels `json:"labels"`
	// Resolution is the tier the window's start was read from; newer parts
	// come from finer tiers where the coarse one has not rolled them up yet.
	Resolution time.Duration `json:"resolution"`
	Points     []Point       `json:"points"`
}

// Summary describes one series over a window (the steward_metrics data
// source and the alert rule engine use it).
type Summary struct {
	Name   string    `json:"name"`
	Labels Labels    `json:"labels"`
	Count  int       `json:"count"` // raw samples in the window
	Min    float64   `json:"min"`
	Avg    float64   `json:"avg"` // weighted by samples
	Max    float64   `json:"max"`
	Last   float64   `json:"last"`
	LastT  time.Time `json:"last_t"`
	FirstT time.Time `json:"first_t"`
	// P95 is the 95th percentile, nearest rank. From the raw tier it is
	// exact. From a roll-up tier each bucket counts as its average, weighted
	// by its sample count: that smooths peaks shorter than the bucket, so it
	// is at or below the raw p95 (Max is the upper bound).
	P95 float64 `json:"p95"`
	// Increase and Rate (per second, over FirstT..LastT) treat the series
	// as a counter, as Point.Increase does.
	Increase float64 `json:"increase"`
	Rate     float64 `json:"rate"`
	// Resolution is the finest tier holding the window's start, which the
	// window was read from (finer tiers serve the newer parts they alone
	// hold).
	Resolution time.Duration `json:"resolution"`
}

// Value is a series' newest sample.
type Value struct {
	Name   string    `json:"name"`
	Labels Labels    `json:"labels"`
	T      time.Time `json:"t"`
	Value  float64   `json:"value"`
}

// LatestLookback is how old a series' newest sample may be, relative to the
// newest sample in the store, to count as current (Prometheus' 5 minutes).
const LatestLookback = 5 * time.Minute

// cell is a roll-up bucket, or one raw sample (count 1, all values equal).
type cell struct{ count, min, max, sum, last float64 }

func (c *cell) merge(x cell) {
	if x.count == 0 {
		return
	}
	if c.count == 0 {
		*c = x
		return
	}
	c.count += x.count
	c.min = math.Min(c.min, x.min)
	c.max = math.Max(c.max, x.max)
	c.sum += x.sum
	c.last = x.last
}

func (c cell) columns() [rollupCols]float64 {
	var v [rollupCols]float64
	v[colCount], v[colMin], v[colMax], v[colSum], v[colLast] = c.count, c.min, c.max, c.sum, c.last
	return v
}

// counterIncrease is how much a counter grew from prev through cell c.
func counterIncrease(prev float64, c cell) float64 {
	if c.last < c.max {
		// The peak came before the end: a reset inside the bucket.
		return math.Max(c.max-prev, 0) + c.last
	}
	if c.min >= prev {
		return c.last - prev
	}
	return c.last // a reset before the bucket's rise
}

// eachCell decodes a checked chunk of block m, calling fn per filled cell.
// Raw NaN samples are skipped: NaN would poison every aggregate.
func eachCell(chunk []byte, m *blockMeta, fn func(t int64, c cell)) error {
	cols := tierCols(m.tier)
	it := newChunkIter(chunk, cols, m.slots)
	for it.next() {
		t := m.start + int64(it.slot)*m.res
		if cols == 1 {
			v := it.vals[0]
			if !isNaN(v) {
				fn(t, cell{1, v, v, v, v})
			}
			continue
		}
		v := it.vals
		fn(t, cell{v[colCount], v[colMin], v[colMax], v[colSum], v[colLast]})
	}
	if it.err != nil {
		return damaged("%s: %v", m.name, it.err)
	}
	return nil
}

// segment is the part of a window one tier serves: [from, to) unix seconds.
type segment struct {
	tier     int
	from, to int64
	blocks   []*blockMeta
}

// headCopy is a head series copied for a query, so it runs without locks.
type headCopy struct {
	chunk []byte
	meta  blockMeta // start, res, slots of the head
}

// plan is a query resolved against the store's current blocks.
type plan struct {
	name  string
	match matchers
	start int64 // inclusive
	end   int64 // inclusive
	tier  int
	// res is the chosen tier's resolution: for raw, the finest interval
	// among its blocks in the window (the interval may have changed).
	res      time.Duration
	segs     []segment // coarse to fine; the last is raw
	head     map[string]headCopy
	headMeta blockMeta
}

// newPlan picks the tier for [start, end] and cuts the window into
// segments: the chosen tier up to where it has rolled data up, then each
// finer tier up to where it has, then raw (with the head) to the end. With
// step > 0 it takes the coarsest covering tier whose resolution divides
// step, which gives the same buckets as the finest one, cheaper.
func (s *Store) newPlan(name string, ms []Matcher, start, end time.Time, step time.Duration) (*plan, error) {
	if name == "" {
		return nil, errors.New("history query: metric name required")
	}
	if end.Before(start) {
		return nil, fmt.Errorf("history query %s: end %s before start %s", name, end, start)
	}
	m, err := compileMatchers(ms)
	if err != nil {
		return nil, fmt.Errorf("history query %s: %w", name, err)
	}
	p := &plan{name: name, match: m, start: start.Unix(), end: end.Unix()}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var oldest, horizon [numTiers]int64
	for t := range numTiers {
		oldest[t], horizon[t] = math.MaxInt64, math.MinInt64
		if l := s.blocks[t]; len(l) > 0 {
			oldest[t], horizon[t] = l[0].start, l[len(l)-1].end()
		}
	}
	if s.head != nil {
		oldest[tierRaw] = min(oldest[tierRaw], s.head.start)
	}
	p.tier = -1
	for t := range numTiers {
		if oldest[t] <= p.start {
			p.tier = t
			break
		}
	}
	if p.tier < 0 {
		// Nothing reaches back to start: read from the earliest data.
		p.tier = tierRaw
		for t := range numTiers {
			if oldest[t] < oldest[p.tier] {
				p.tier = t
			}
		}
	}
	if step > 0 {
		for t := numTiers - 1; t > p.tier; t-- {
			if oldest[t] <= p.start && horizon[t] > p.start && step%s.lay.tiers[t].res == 0 {
				p.tier = t
				break
			}
		}
	}
	cut := p.start
	for t := p.tier; t > tierRaw; t-- {
		to := max(cut, min(horizon[t], p.end+1))
		p.segs = append(p.segs, segment{tier: t, from: cut, to: to})
		cut = to
	}
	p.segs = append(p.segs, segment{tier: tierRaw, from: cut, to: p.end + 1})
	for i := range p.segs {
		sg := &p.segs[i]
		for _, b := range s.blocks[sg.tier] {
			if sg.from < sg.to && b.start < sg.to && b.end() > sg.from {
				sg.blocks = append(sg.blocks, b)
			}
		}
	}
	p.res = s.lay.tiers[p.tier].res
	raw := p.segs[len(p.segs)-1]
	if p.tier == tierRaw {
		for _, b := range raw.blocks {
			p.res = min(p.res, secs(b.res))
		}
	}
	if h := s.head; h != nil && raw.from < raw.to && h.start < raw.to && h.end() > raw.from {
		p.headMeta = blockMeta{name: walName, tier: tierRaw, start: h.start, res: h.res, slots: h.slots}
		p.head = map[string]headCopy{}
		prefix := namePrefix(name)
		for _, hs := range h.byID {
			if len(hs.key) >= len(prefix) && hs.key[:len(prefix)] == prefix && m.match(hs.labels) {
				p.head[hs.key] = headCopy{chunk: slices.Clone(hs.enc.bytes()), meta: p.headMeta}
			}
		}
	}
	return p, nil
}

// cellSink receives one series' cells in time order.
type cellSink interface {
	add(t int64, c cell)
}

// run feeds each matching series' cells, in key order, to a sink from
// newSink, and hands the filled sink to done.
func (p *plan) run(s *Store, newSink func() cellSink, done func(name string, ls Labels, sink cellSink)) error {
	var readers [][]*blockReader
	defer func() {
		for _, rs := range readers {
			for _, r := range rs {
				r.close()
			}
		}
	}()
	type found struct {
		name   string
		labels Labels
	}
	keys := map[string]*found{}
	seen := map[string]bool{}
	consider := func(key string) error {
		if _, ok := seen[key]; ok {
			return nil
		}
		name, ls, err := parseKey(key)
		if err != nil {
			return err
		}
		ok := p.match.match(ls)
		seen[key] = ok
		if ok {
			keys[key] = &found{name, ls}
		}
		return nil
	}
	prefix := namePrefix(p.name)
	for _, sg := range p.segs {
		var rs []*blockReader
		for _, b := range sg.blocks {
			r, err := openBlockReader(s.fs, s.dir, b)
			if err != nil {
				if s.skipUnreadable(b, err) {
					continue
				}
				return fmt.Errorf("history query %s: %w", p.name, err)
			}
			rs = append(rs, r)
			lo, hi := r.withPrefix(prefix)
			for i := lo; i < hi; i++ {
				if err := consider(r.entries[i].key); err != nil {
					s.skipUnreadable(b, damaged("%s: %v", b.name, err))
					break
				}
			}
		}
		readers = append(readers, rs)
	}
	for key := range p.head {
		if err := consider(key); err != nil {
			return err
		}
	}
	order := make([]string, 0, len(keys))
	for k := range keys {
		order = append(order, k)
	}
	slices.SortFunc(order, func(a, b string) int {
		return compareSeries(keys[a].name, keys[a].labels, keys[b].name, keys[b].labels)
	})

	var buf []byte
	for _, key := range order {
		sink := newSink()
		for i, sg := range p.segs {
			lo, hi := max(sg.from, p.start), min(sg.to, p.end+1)
			feed := func(t int64, c cell) {
				if t >= lo && t < hi {
					sink.add(t, c)
				}
			}
			for _, r := range readers[i] {
				j := r.lookup(key)
				if j < 0 {
					continue
				}
				c, err := r.chunk(j, &buf)
				if err == nil {
					err = eachCell(c, r.meta, feed)
				}
				if err != nil && !s.skipUnreadable(r.meta, err) {
					return fmt.Errorf("history query %s: %w", p.name, err)
				}
			}
			if sg.tier == tierRaw {
				if h, ok := p.head[key]; ok {
					_ = eachCell(h.chunk, &h.meta, feed) // the head is in memory: no damage to find
				}
			}
		}
		f := keys[key]
		done(f.name, f.labels, sink)
	}
	return nil
}

// compareSeries orders series by name, then labels pair by pair.
func compareSeries(an string, a Labels, bn string, b Labels) int {
	if c := strings.Compare(an, bn); c != 0 {
		return c
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// Query returns the matching series over the window, one Point per step,
// ordered by labels.
func (s *Store) Query(q Query) ([]Series, error) {
	if q.Step < 0 || q.Step%time.Second != 0 {
		return nil, fmt.Errorf("history query %s: step %s: must be whole seconds", q.Name, q.Step)
	}
	p, err := s.newPlan(q.Name, q.Match, q.Start, q.End, q.Step)
	if err != nil {
		return nil, err
	}
	res := p.res
	step := max(q.Step, res)
	stepS := int64(step / time.Second)
	if n := (p.end-p.start)/stepS + 1; n > MaxPoints {
		return nil, fmt.Errorf("history query %s: %d points per series, more than %d: use a larger step", q.Name, n, MaxPoints)
	}
	out := []Series{}
	err = p.run(s, func() cellSink { return &pointSink{step: stepS} }, func(name string, ls Labels, sink cellSink) {
		ps := sink.(*pointSink) //nolint:forcetypeassert // run hands back what newSink made
		ps.flush()
		if len(ps.points) > 0 {
			out = append(out, Series{Name: name, Labels: ls, Resolution: res, Points: ps.points})
		}
	})
	return out, err
}

// pointSink buckets cells by step.
type pointSink struct {
	step    int64
	cur     int64
	acc     cell
	inc     float64
	prev    float64
	started bool
	points  []Point
}

func (ps *pointSink) add(t int64, c cell) {
	b := floorDiv(t, ps.step) * ps.step
	if ps.acc.count > 0 && b != ps.cur {
		ps.flush()
	}
	ps.cur = b
	if !ps.started {
		ps.prev, ps.started = c.min, true
	}
	ps.inc += counterIncrease(ps.prev, c)
	ps.prev = c.last
	ps.acc.merge(c)
}

func (ps *pointSink) flush() {
	if ps.acc.count == 0 {
		return
	}
	a := ps.acc
	ps.points = append(ps.points, Point{T: unixTime(ps.cur), Count: int(a.count), Min: a.min, Avg: a.sum / a.count, Max: a.max, Last: a.last, Increase: ps.inc})
	ps.acc, ps.inc = cell{}, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Summary returns min/avg/max/last/p95 and the counter increase and rate of
// each matching series over [q.Start, q.End], read from the finest tier that
// holds q.Start. q.Step is ignored.
func (s *Store) Summary(q Query) ([]Summary, error) {
	p, err := s.newPlan(q.Name, q.Match, q.Start, q.End, 0)
	if err != nil {
		return nil, err
	}
	res := p.res
	out := []Summary{}
	var shared []weighted // one series' values at a time
	err = p.run(s, func() cellSink { return &summarySink{vals: shared[:0]} }, func(name string, ls Labels, sink cellSink) {
		ss := sink.(*summarySink) //nolint:forcetypeassert // run hands back what newSink made
		shared = ss.vals
		if ss.acc.count == 0 {
			return
		}
		a := ss.acc
		sum := Summary{Name: name, Labels: ls, Count: int(a.count), Min: a.min, Avg: a.sum / a.count, Max: a.max,
			Last: a.last, LastT: unixTime(ss.lastT), FirstT: unixTime(ss.firstT), P95: weightedQuantile(ss.vals, 0.95),
			Increase: ss.inc, Resolution: res}
		if ss.lastT > ss.firstT {
			sum.Rate = ss.inc / float64(ss.lastT-ss.firstT)
		}
		out = append(out, sum)
	})
	return out, err
}

type weighted struct{ v, w float64 }

// summarySink aggregates a whole window.
type summarySink struct {
	acc           cell
	inc, prev     float64
	firstT, lastT int64
	vals          []weighted
}

func (ss *summarySink) add(t int64, c cell) {
	if ss.acc.count == 0 {
		ss.prev, ss.firstT = c.min, t
	}
	ss.inc += counterIncrease(ss.prev, c)
	ss.prev, ss.lastT = c.last, t
	ss.acc.merge(c)
	ss.vals = append(ss.vals, weighted{c.sum / c.count, c.count})
}

// weightedQuantile is the nearest-rank quantile q of values with weights:
// the smallest value whose cumulative weight reaches q of the total.
func weightedQuantile(vals []weighted, q float64) float64 {
	if len(vals) == 0 {
		return math.NaN()
	}
	slices.SortFunc(vals, func(a, b weighted) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	var total float64
	for _, x := range vals {
		total += x.w
	}
	rank := math.Ceil(q * total)
	var cum float64
	for _, x := range vals {
		cum += x.w
		if cum >= rank {
			return x.v
		}
	}
	return vals[len(vals)-1].v
}

// Latest returns each matching series' newest sample, if it is at most
// LatestLookback older than the newest sample in the store.
func (s *Store) Latest(name string, match []Matcher) ([]Value, error) {
	s.mu.RLock()
	now := s.now
	s.mu.RUnlock()
	sums, err := s.Summary(Query{Name: name, Match: match, Start: unixTime(now).Add(-LatestLookback), End: unixTime(now)})
	if err != nil {
		return nil, err
	}
	out := make([]Value, 0, len(sums))
	for _, x := range sums {
		out = append(out, Value{Name: x.Name, Labels: x.Labels, T: x.LastT, Value: x.Last})
	}
	return out, nil
}
