package alerting

import (
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alert"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
)

// source is the engine's view of one evaluation (alert.Source): the
// samples of the collection that just ended, and the history for what
// they lack and for windows.
type source struct {
	samples []collect.Sample
	byName  map[string][]int // indexes into samples, by metric name
	hist    *history.Store
	step    time.Duration // the collection interval, the store's raw resolution
	out     []alert.Series
}

var _ alert.Source = (*source)(nil)

// reset points the source at a new collection.
func (s *source) reset(samples []collect.Sample, hist *history.Store) {
	s.samples, s.hist = samples, hist
	if s.byName == nil {
		s.byName = map[string][]int{}
	}
	clear(s.byName)
	for i, smp := range samples {
		s.byName[smp.Name] = append(s.byName[smp.Name], i)
	}
}

// Latest returns the series of metric in the current collection, and, as
// Stale, those the history has a recent sample of that the collection
// lacks (a collector that failed, a textfile gone stale).
func (s *source) Latest(metric string) []alert.Series {
	s.out = s.out[:0]
	seen := map[string]bool{}
	for _, i := range s.byName[metric] {
		ls := seriesLabels(s.samples[i].Labels)
		seen[labelKey(ls)] = true
		s.out = append(s.out, alert.Series{Labels: ls, Value: s.samples[i].Value})
	}
	if s.hist == nil {
		return s.out
	}
	vals, err := s.hist.Latest(metric, nil)
	if err != nil {
		return s.out
	}
	for _, v := range vals {
		ls := make([]alert.Label, 0, len(v.Labels))
		for _, l := range v.Labels {
			ls = append(ls, alert.Label{Name: l.Name, Value: l.Value})
		}
		if seen[labelKey(ls)] {
			continue
		}
		s.out = append(s.out, alert.Series{Labels: ls, Value: v.Value, Stale: true})
	}
	return s.out
}

// Window appends the raw points of exactly series ser of metric with a
// time in (from, to]. The history selects by equality on every label, so
// series with labels beyond ser's are filtered out here.
func (s *source) Window(metric string, ser alert.Series, from, to time.Time, buf []alert.Point) []alert.Point {
	if s.hist == nil {
		return buf
	}
	ms := make([]history.Matcher, 0, len(ser.Labels))
	for _, l := range ser.Labels {
		ms = append(ms, history.Matcher{Name: l.Name, Type: history.MatchEqual, Value: l.Value})
	}
	// The store keeps each sample at its collection time rounded to the
	// interval, so the bounds are rounded the same way: the sample taken
	// at to (the collection just made) may be stored a little after it.
	from, to = s.slot(from), s.slot(to)
	series, err := s.hist.Query(history.Query{Name: metric, Match: ms, Start: from, End: to})
	if err != nil {
		return buf
	}
	for _, hs := range series {
		if len(hs.Labels) != len(ser.Labels) {
			continue
		}
		for _, p := range hs.Points {
			if p.T.After(from) && !p.T.After(to) {
				buf = append(buf, alert.Point{Time: p.T, Value: p.Last})
			}
		}
	}
	return buf
}

// slot rounds t to the interval as the store does with sample times.
func (s *source) slot(t time.Time) time.Time {
	step := s.step.Milliseconds()
	if step <= 0 {
		return t
	}
	return time.UnixMilli((t.UnixMilli() + step/2) / step * step)
}

// seriesLabels converts a sample's labels, dropping empty values (which
// Prometheus, and the history, treat as no label).
func seriesLabels(ls []collect.Label) []alert.Label {
	out := make([]alert.Label, 0, len(ls))
	for _, l := range ls {
		if l.Value != "" {
			out = append(out, alert.Label{Name: l.Name, Value: l.Value})
		}
	}
	slices.SortFunc(out, func(a, b alert.Label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// labelKey identifies a label set within one metric.
func labelKey(ls []alert.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
		b.WriteByte(0)
	}
	return b.String()
}
