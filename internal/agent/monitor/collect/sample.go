package collect

import (
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Label is one label of a Sample.
type Label struct {
	Name, Value string
}

// Sample is one series' value in one collection: what the history store
// keeps and the rule engine evaluates.
type Sample struct {
	Name   string
	Labels []Label // sorted by Name
	Value  float64
}

// Label returns the value of the sample's label name, or "" when it has none
// (as Prometheus treats an absent label).
func (s Sample) Label(name string) string {
	i, ok := slices.BinarySearchFunc(s.Labels, name, func(l Label, n string) int { return strings.Compare(l.Name, n) })
	if !ok {
		return ""
	}
	return s.Labels[i].Value
}

// Flatten turns families into samples the way Prometheus ingests them:
// counters, gauges and untyped metrics as one sample each; a histogram as
// name_bucket{le} (cumulative, +Inf included), name_sum and name_count; a
// summary as name{quantile}, name_sum and name_count. Timestamps are dropped:
// a sample belongs to the collection that produced it.
func Flatten(families []*dto.MetricFamily) []Sample {
	n := 0
	for _, f := range families {
		n += len(f.Metric)
	}
	out := make([]Sample, 0, n)
	for _, f := range families {
		name := f.GetName()
		for _, m := range f.Metric {
			labels := make([]Label, len(m.Label))
			for i, l := range m.Label {
				labels[i] = Label{Name: l.GetName(), Value: l.GetValue()}
			}
			slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out = append(out, Sample{Name: name, Labels: labels, Value: m.GetCounter().GetValue()})
			case dto.MetricType_GAUGE:
				out = append(out, Sample{Name: name, Labels: labels, Value: m.GetGauge().GetValue()})
			case dto.MetricType_UNTYPED:
				out = append(out, Sample{Name: name, Labels: labels, Value: m.GetUntyped().GetValue()})
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				out = appendHistogram(out, name, labels, m.GetHistogram())
			case dto.MetricType_SUMMARY:
				out = appendSummary(out, name, labels, m.GetSummary())
			}
		}
	}
	return out
}

func appendHistogram(out []Sample, name string, labels []Label, h *dto.Histogram) []Sample {
	sawInf := false
	for _, b := range h.GetBucket() {
		ub := b.GetUpperBound()
		sawInf = sawInf || math.IsInf(ub, +1)
		out = append(out, Sample{Name: name + "_bucket", Labels: withLabel(labels, "le", formatFloat(ub)), Value: float64(b.GetCumulativeCount())})
	}
	if !sawInf {
		// The exposition format implies the +Inf bucket; Prometheus adds it.
		out = append(out, Sample{Name: name + "_bucket", Labels: withLabel(labels, "le", "+Inf"), Value: float64(h.GetSampleCount())})
	}
	return append(out,
		Sample{Name: name + "_sum", Labels: labels, Value: h.GetSampleSum()},
		Sample{Name: name + "_count", Labels: labels, Value: float64(h.GetSampleCount())})
}

func appendSummary(out []Sample, name string, labels []Label, s *dto.Summary) []Sample {
	for _, q := range s.GetQuantile() {
		out = append(out, Sample{Name: name, Labels: withLabel(labels, "quantile", formatFloat(q.GetQuantile())), Value: q.GetValue()})
	}
	return append(out,
		Sample{Name: name + "_sum", Labels: labels, Value: s.GetSampleSum()},
		Sample{Name: name + "_count", Labels: labels, Value: float64(s.GetSampleCount())})
}

// withLabel returns a sorted copy of labels with name=value inserted.
func withLabel(labels []Label, name, value string) []Label {
	out := make([]Label, 0, len(labels)+1)
	i, _ := slices.BinarySearchFunc(labels, name, func(l Label, n string) int { return strings.Compare(l.Name, n) })
	out = append(out, labels[:i]...)
	out = append(out, Label{Name: name, Value: value})
	return append(out, labels[i:]...)
}

// formatFloat writes le and quantile values as the exposition format does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
