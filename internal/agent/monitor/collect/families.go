package collect

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// maxQuotedLine bounds how much of an offending line an error quotes.
const maxQuotedLine = 200

// parseTextFormat parses b, Prometheus' text exposition format, into
// families sorted by name. It is all or nothing: any error (a malformed
// line, a client-side timestamp, a series given twice) returns no
// families, and a syntax error quotes the offending line.
func parseTextFormat(b []byte) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		var pe expfmt.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("line %d %s: %s", pe.Line, quoteLine(b, pe.Line), pe.Msg)
		}
		return nil, err
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	slices.SortFunc(fams, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	acc := newFamilySet()
	if err := acc.add(fams, ""); err != nil {
		return nil, err
	}
	return fams, nil
}

// quoteLine returns line n (1-based) of b, quoted and cut to maxQuotedLine.
func quoteLine(b []byte, n int) string {
	for i := 1; i < n && len(b) > 0; i++ {
		_, b = nextLine(b)
	}
	line, _ := nextLine(b)
	if len(line) > maxQuotedLine {
		return fmt.Sprintf("%q…", line[:maxQuotedLine])
	}
	return fmt.Sprintf("%q", line)
}

// familySet merges families from several sources (textfiles) the way a
// Prometheus registry would accept them: one type and help per name, each
// series once (an empty label counts as absent, as Prometheus has it).
type familySet struct {
	byName map[string]*familyEntry
	order  []*familyEntry
}

type familyEntry struct {
	fam    *dto.MetricFamily
	source string
	series map[string]bool
}

func newFamilySet() *familySet { return &familySet{byName: map[string]*familyEntry{}} }

// add merges fams from source, all or nothing: when any family conflicts
// with what the set holds, or has a series twice or a client-side
// timestamp, the set is left unchanged.
func (s *familySet) add(fams []*dto.MetricFamily, source string) error {
	pending := map[string]map[string]bool{}
	for _, f := range fams {
		name := f.GetName()
		prev := s.byName[name]
		if prev != nil {
			if prev.fam.GetType() != f.GetType() {
				return fmt.Errorf("metric %s has type %s here but %s in %s", name, strings.ToLower(f.GetType().String()), strings.ToLower(prev.fam.GetType().String()), prev.source)
			}
			if f.Help != nil && prev.fam.Help != nil && f.GetHelp() != prev.fam.GetHelp() {
				return fmt.Errorf("metric %s has another help text in %s", name, prev.source)
			}
		}
		seen := pending[name]
		if seen == nil {
			seen = map[string]bool{}
			pending[name] = seen
		}
		for _, m := range f.Metric {
			if m.TimestampMs != nil {
				return fmt.Errorf("metric %s has a timestamp, which is not supported", name)
			}
			sig, err := seriesKey(m)
			if err != nil {
				return fmt.Errorf("metric %s: %w", name, err)
			}
			if seen[sig] || (prev != nil && prev.series[sig]) {
				return fmt.Errorf("metric %s{%s} is given twice", name, sig)
			}
			seen[sig] = true
		}
	}
	for _, f := range fams {
		name := f.GetName()
		e := s.byName[name]
		if e == nil {
			e = &familyEntry{fam: &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type}, source: source, series: map[string]bool{}}
			s.byName[name] = e
			s.order = append(s.order, e)
		} else if e.fam.Help == nil {
			e.fam.Help = f.Help
		}
		e.fam.Metric = append(e.fam.Metric, f.Metric...)
		for sig := range pending[name] {
			e.series[sig] = true
		}
	}
	return nil
}

// families returns the merged families in the order first added.
func (s *familySet) families() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, len(s.order))
	for i, e := range s.order {
		out[i] = e.fam
	}
	return out
}

// seriesKey identifies m's series within its family: its non-empty labels,
// sorted.
func seriesKey(m *dto.Metric) (string, error) {
	labels := make([]string, 0, len(m.Label))
	names := map[string]bool{}
	for _, l := range m.Label {
		if names[l.GetName()] {
			return "", fmt.Errorf("label %s given twice", l.GetName())
		}
		names[l.GetName()] = true
		if l.GetValue() != "" {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
	}
	slices.Sort(labels)
	return strings.Join(labels, ","), nil
}

// sendFamilies sends parsed families to ch as constant metrics, each
// family's series padded to the union of its label names (a missing
// label is empty, which Prometheus reads as absent). A family without
// help gets defaultHelp.
func sendFamilies(ch chan<- prometheus.Metric, fams []*dto.MetricFamily, defaultHelp string) {
	for _, f := range fams {
		var names []string
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if !slices.Contains(names, l.GetName()) {
					names = append(names, l.GetName())
				}
			}
		}
		slices.Sort(names)
		help := f.GetHelp()
		if help == "" {
			help = defaultHelp
		}
		desc := prometheus.NewDesc(f.GetName(), help, names, nil)
		for _, m := range f.Metric {
			ch <- familyMetric(desc, f.GetType(), m, labelValues(names, m))
		}
	}
}

func labelValues(names []string, m *dto.Metric) []string {
	values := make([]string, len(names))
	for _, l := range m.Label {
		i, _ := slices.BinarySearch(names, l.GetName())
		values[i] = l.GetValue()
	}
	return values
}

func familyMetric(desc *prometheus.Desc, typ dto.MetricType, m *dto.Metric, lvs []string) prometheus.Metric {
	var (
		pm  prometheus.Metric
		err error
	)
	switch typ {
	case dto.MetricType_COUNTER:
		pm, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), lvs...)
	case dto.MetricType_GAUGE:
		pm, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), lvs...)
	case dto.MetricType_UNTYPED:
		pm, err = prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), lvs...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		q := make(map[float64]float64, len(s.GetQuantile()))
		for _, x := range s.GetQuantile() {
			q[x.GetQuantile()] = x.GetValue()
		}
		pm, err = prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, lvs...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			n := b.GetCumulativeCount()
			if b.CumulativeCountFloat != nil {
				n = uint64(b.GetCumulativeCountFloat())
			}
			buckets[b.GetUpperBound()] = n
		}
		count := h.GetSampleCount()
		if h.SampleCountFloat != nil {
			count = uint64(h.GetSampleCountFloat())
		}
		pm, err = prometheus.NewConstHistogram(desc, count, h.GetSampleSum(), buckets, lvs...)
	default:
		err = fmt.Errorf("metric type %s is not supported", typ)
	}
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return pm
}
