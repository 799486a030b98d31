// Package page renders the agent's status page: the host at a glance, with
// line charts of its history drawn on the server as SVG, so the page needs
// no script and nothing from the internet when it is viewed.
package page

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one value at one time; NaN is a gap (no data).
type Point struct {
	T time.Time
	V float64
}

// Series is one line of a chart.
type Series struct {
	Label  string
	Points []Point
}

// Unit says how a chart's values are written.
type Unit int

// Units of chart values.
const (
	Plain       Unit = iota
	Percent          // 0–100
	Bytes            // IEC: KiB, MiB, GiB
	BytesPerSec      // IEC per second
)

// Chart is one line chart over a window.
type Chart struct {
	ID, Title  string
	Unit       Unit
	Start, End time.Time
	Series     []Series
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH       = 720, 180
	padLeft, padRight    = 64, 8
	padTop, padBottom    = 8, 22
	plotW, plotH         = chartW - padLeft - padRight, chartH - padTop - padBottom
	yTicks               = 4
	gapFactor            = 2.5 // a step longer than this many median steps is a gap
	maxLabelFractionDigs = 1
)

var palette = []string{"#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"}

// Points is how many values the chart draws, for the page's DOM checks.
func (c Chart) Points() int {
	n := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !math.IsNaN(p.V) {
				n++
			}
		}
	}
	return n
}

// SVG draws the chart: axes with value and time labels, one polyline per
// run of points without a gap, and a legend with each series' last value.
func (c Chart) SVG() template.HTML {
	lo, hi := c.valueRange()
	span := c.End.Sub(c.Start).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return padLeft + plotW*t.Sub(c.Start).Seconds()/span }
	y := func(v float64) float64 { return padTop + plotH*(1-(v-lo)/(hi-lo)) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, template.HTMLEscapeString(c.Title))
	for i := 0; i <= yTicks; i++ {
		v := lo + (hi-lo)*float64(i)/yTicks
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padLeft, chartW-padRight, y(v), y(v))
		fmt.Fprintf(&b, `<text class="ylab" x="%d" y="%.1f">%s</text>`, padLeft-6, y(v)+4, template.HTMLEscapeString(Format(v, c.Unit)))
	}
	for _, t := range timeTicks(c.Start, c.End) {
		fmt.Fprintf(&b, `<text class="xlab" x="%.1f" y="%d">%s</text>`, x(t), chartH-6, t.Format(tickLayout(c.End.Sub(c.Start))))
	}
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		for _, run := range runs(s.Points) {
			var pts strings.Builder
			for j, p := range run {
				if j > 0 {
					pts.WriteByte(' ')
				}
				fmt.Fprintf(&pts, "%.1f,%.1f", x(p.T), y(p.V))
			}
			fmt.Fprintf(&b, `<polyline class="line" data-series="%s" stroke="%s" points="%s"/>`, template.HTMLEscapeString(s.Label), color, pts.String())
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every value above is a number or escaped
}

// Legend is each series' label, color and last value.
func (c Chart) Legend() []LegendItem {
	out := make([]LegendItem, 0, len(c.Series))
	for i, s := range c.Series {
		last := "no data"
		for j := len(s.Points) - 1; j >= 0; j-- {
			if !math.IsNaN(s.Points[j].V) {
				last = Format(s.Points[j].V, c.Unit)
				break
			}
		}
		out = append(out, LegendItem{Label: s.Label, Color: palette[i%len(palette)], Last: last})
	}
	return out
}

// LegendItem is one entry of a chart's legend.
type LegendItem struct{ Label, Color, Last string }

// valueRange is the plotted value range: from zero (or the lowest value,
// when negative) to a little above the highest; percent charts are 0–100.
func (c Chart) valueRange() (lo, hi float64) {
	if c.Unit == Percent {
		return 0, 100
	}
	hi = math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !math.IsNaN(p.V) {
				lo, hi = min(lo, p.V), max(hi, p.V)
			}
		}
	}
	if math.IsInf(hi, -1) || hi <= lo {
		return lo, lo + 1
	}
	return lo, hi + (hi-lo)*0.05
}

// runs splits points into runs without a gap: a missing value, or a step
// much longer than the usual one (the agent was down).
func runs(points []Point) [][]Point {
	var steps []float64
	for i := 1; i < len(points); i++ {
		steps = append(steps, points[i].T.Sub(points[i-1].T).Seconds())
	}
	limit := math.Inf(1)
	if len(steps) > 0 {
		limit = median(steps) * gapFactor
	}
	var out [][]Point
	var cur []Point
	for i, p := range points {
		gap := i > 0 && p.T.Sub(points[i-1].T).Seconds() > limit
		if math.IsNaN(p.V) || gap {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
		}
		if !math.IsNaN(p.V) {
			cur = append(cur, p)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// timeTicks are about five round times inside [start, end].
func timeTicks(start, end time.Time) []time.Time {
	span := end.Sub(start)
	step := time.Minute
	for _, s := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour} {
		step = s
		if span/s <= 6 {
			break
		}
	}
	var out []time.Time
	for t := start.Truncate(step).Add(step); !t.After(end); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

func tickLayout(span time.Duration) string {
	if span <= 24*time.Hour {
		return "15:04"
	}
	return "Jan 2"
}

// Format writes v in unit u, short enough for an axis label.
func Format(v float64, u Unit) string {
	switch u {
	case Percent:
		return trim(v) + " %"
	case Bytes:
		return iec(v) + "B"
	case BytesPerSec:
		return iec(v) + "B/s"
	}
	if math.Abs(v) >= 1e6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return trim(v)
}

func iec(v float64) string {
	units := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return trim(v) + " " + units[i]
}

func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', maxLabelFractionDigs, 64)
	return strings.TrimSuffix(strings.TrimSuffix(s, "0"), ".")
}
