package monitor

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/page"
)

// chartPoints is about how many points a chart draws, whatever its window.
const chartPoints = 240

// pageChart is one chart of the status page and how to draw it from history.
type pageChart struct {
	id, title string
	unit      page.Unit
	series    func(h *history.Store, start, end time.Time, step time.Duration) []page.Series
}

var pageCharts = []pageChart{
	{"cpu", "CPU busy", page.Percent, func(h *history.Store, start, end time.Time, step time.Duration) []page.Series {
		return scaled(h, "steward_cpu_utilisation_ratio", nil, "busy", 100, start, end, step)
	}},
	{"memory", "Memory used", page.Bytes, func(h *history.Store, start, end time.Time, step time.Duration) []page.Series {
		total := first(query(h, "node_memory_MemTotal_bytes", nil, start, end, step))
		avail := first(query(h, "node_memory_MemAvailable_bytes", nil, start, end, step))
		return []page.Series{{Label: "used", Points: combine(total, avail, func(t, a float64) float64 { return t - a })}}
	}},
	{"disk", "Disk used", page.Percent, func(h *history.Store, start, end time.Time, step time.Duration) []page.Series {
		var out []page.Series
		sizes := query(h, "node_filesystem_size_bytes", nil, start, end, step)
		for _, avail := range query(h, "node_filesystem_avail_bytes", nil, start, end, step) {
			mp := avail.Labels.Get("mountpoint")
			i := slices.IndexFunc(sizes, func(s history.Series) bool { return s.Labels.Get("mountpoint") == mp })
			if i < 0 {
				continue
			}
			out = append(out, page.Series{Label: mp, Points: combine(sizes[i], avail, func(s, a float64) float64 {
				if s <= 0 {
					return math.NaN()
				}
				return 100 * (1 - a/s)
			})})
		}
		slices.SortFunc(out, func(a, b page.Series) int { return strings.Compare(a.Label, b.Label) })
		return out[:min(len(out), 6)]
	}},
	{"network", "Network", page.BytesPerSec, func(h *history.Store, start, end time.Time, step time.Duration) []page.Series {
		return []page.Series{
			{Label: "received", Points: rateSum(query(h, "node_network_receive_bytes_total", nil, start, end, step), step)},
			{Label: "sent", Points: rateSum(query(h, "node_network_transmit_bytes_total", nil, start, end, step), step)},
		}
	}},
	{"load", "Load", page.Plain, func(h *history.Store, start, end time.Time, step time.Duration) []page.Series {
		var out []page.Series
		for _, n := range []string{"1", "5", "15"} {
			out = append(out, scaled(h, "node_load"+n, nil, n+" min", 1, start, end, step)...)
		}
		return out
	}},
}

func query(h *history.Store, name string, match map[string]string, start, end time.Time, step time.Duration) []history.Series {
	ms := make([]history.Matcher, 0, len(match))
	for k, v := range match {
		ms = append(ms, history.Matcher{Name: k, Type: history.MatchEqual, Value: v})
	}
	s, err := h.Query(history.Query{Name: name, Match: ms, Start: start, End: end, Step: step.Truncate(time.Second)})
	if err != nil {
		return nil
	}
	return s
}

func first(s []history.Series) history.Series {
	if len(s) == 0 {
		return history.Series{}
	}
	return s[0]
}

// scaled is every series of name, its step averages times factor.
func scaled(h *history.Store, name string, match map[string]string, label string, factor float64, start, end time.Time, step time.Duration) []page.Series {
	var out []page.Series
	for _, s := range query(h, name, match, start, end, step) {
		pts := make([]page.Point, 0, len(s.Points))
		for _, p := range s.Points {
			pts = append(pts, page.Point{T: p.T, V: p.Avg * factor})
		}
		out = append(out, page.Series{Label: label, Points: pts})
	}
	return out
}

// combine is f of the two series' step averages, where both have a point.
func combine(a, b history.Series, f func(x, y float64) float64) []page.Point {
	byTime := make(map[int64]float64, len(b.Points))
	for _, p := range b.Points {
		byTime[p.T.UnixNano()] = p.Avg
	}
	var out []page.Point
	for _, p := range a.Points {
		if y, ok := byTime[p.T.UnixNano()]; ok {
			out = append(out, page.Point{T: p.T, V: f(p.Avg, y)})
		}
	}
	return out
}

// rateSum is the per-second increase of counters, summed over series (the
// network interfaces other than loopback), from each step's increase
// (which counts a reset from zero).
func rateSum(series []history.Series, step time.Duration) []page.Point {
	sum := map[int64]float64{}
	var times []time.Time
	for _, s := range series {
		if s.Labels.Get("device") == "lo" {
			continue
		}
		for _, p := range s.Points {
			k := p.T.UnixNano()
			if _, ok := sum[k]; !ok {
				times = append(times, p.T)
			}
			sum[k] += p.Increase / step.Seconds()
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	out := make([]page.Point, 0, len(times))
	for _, t := range times {
		out = append(out, page.Point{T: t, V: sum[t.UnixNano()]})
	}
	return out
}
