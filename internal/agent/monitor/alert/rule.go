package alert

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// rule is an api.AlertRule compiled for evaluation: durations parsed,
// regular expressions and templates compiled, built-in kinds resolved into
// a metric and a condition.
type rule struct {
	spec     api.AlertRule
	kind     string
	metric   string
	matchers []matcher
	// selector identifies what the rule selects: when it changes, the
	// rule's alerts belong to other series and are ended.
	selector string
	// eqLabels are the labels an alert about no series at all carries: the
	// selector's equality matchers, as PromQL's absent() does.
	eqLabels []Label

	agg                     string
	op                      string
	threshold, resolve      float64
	window, forD, keepFor   time.Duration
	clearFor, repeat        time.Duration
	noData                  string
	labelTmpls, annotations []namedTemplate
}

type namedTemplate struct {
	name string
	tmpl *template.Template
}

// matcher is a compiled api.LabelMatcher.
type matcher struct {
	label, value string
	negate       bool
	re           *regexp.Regexp // nil for = and !=
}

func (m *matcher) matches(ls []Label) bool {
	v := labelValue(ls, m.label)
	var ok bool
	if m.re != nil {
		ok = m.re.MatchString(v)
	} else {
		ok = v == m.value
	}
	return ok != m.negate
}

// labelValue is the value of label name in ls, "" when absent (as in PromQL).
func labelValue(ls []Label, name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

func compileMatchers(ms []api.LabelMatcher) ([]matcher, error) {
	out := make([]matcher, 0, len(ms))
	for _, m := range ms {
		c := matcher{label: m.Label, value: m.Value, negate: m.Op == "!=" || m.Op == "!~"}
		if m.Op == "=~" || m.Op == "!~" {
			re, err := m.Regexp()
			if err != nil {
				return nil, fmt.Errorf("matcher %s: %w", m, err)
			}
			c.re = re
		}
		out = append(out, c)
	}
	return out, nil
}

// compileRule validates spec (against the collection interval when known)
// and compiles it.
func compileRule(spec api.AlertRule, interval time.Duration) (*rule, error) {
	if err := spec.ValidateWithInterval(interval); err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", spec.Name, err)
	}
	d, _ := spec.Durations() // Validate parsed them
	metric, sel := spec.Selector()
	ms, err := compileMatchers(sel)
	if err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", spec.Name, err)
	}
	op, threshold := spec.Condition()
	r := &rule{
		spec: spec, kind: spec.EffectiveKind(), metric: metric, matchers: ms,
		agg: spec.Aggregation, op: op, threshold: threshold, resolve: threshold,
		window: d.Window, forD: d.For, keepFor: d.KeepFiringFor, clearFor: d.ClearFor, repeat: d.RepeatInterval,
		noData: spec.NoData,
	}
	if spec.ResolveThreshold != nil {
		r.resolve = *spec.ResolveThreshold
	}
	if r.noData == "" {
		r.noData = api.NoDataOK
	}
	var key strings.Builder
	key.WriteString(r.kind + " " + metric)
	for _, m := range sel {
		key.WriteString(" " + m.String())
		if m.Op == "=" {
			r.eqLabels = append(r.eqLabels, Label{Name: m.Label, Value: m.Value})
		}
	}
	r.selector = key.String()
	slices.SortFunc(r.eqLabels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	r.eqLabels = slices.CompactFunc(r.eqLabels, func(a, b Label) bool { return a.Name == b.Name })
	if r.labelTmpls, err = compileTemplates("labels", spec.Labels); err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", spec.Name, err)
	}
	annotations := spec.Annotations
	if _, ok := annotations["summary"]; !ok && builtinSummaries[r.kind] != "" {
		annotations = maps.Clone(annotations)
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations["summary"] = builtinSummaries[r.kind]
	}
	if r.annotations, err = compileTemplates("annotations", annotations); err != nil {
		return nil, fmt.Errorf("alert rule %s: %w", spec.Name, err)
	}
	return r, nil
}

// builtinSummaries are the summary annotations of the built-in kinds when
// the rule does not give its own.
var builtinSummaries = map[string]string{
	api.AlertRuleUnitFailed:    `{{ .Labels.name }} failed on {{ .Host }}`,
	api.AlertRuleBackupStale:   `backup {{ .Labels.schedule }} on {{ .Host }} last succeeded {{ humanizeDuration .Value }} ago`,
	api.AlertRuleComponentDown: `agent component {{ .Labels.component }} on {{ .Host }} is failing`,
	api.AlertRuleAbsent:        `{{ .Rule }}: no data on {{ .Host }}`,
}

func compileTemplates(attr string, m map[string]string) ([]namedTemplate, error) {
	var out []namedTemplate
	for _, k := range slices.Sorted(maps.Keys(m)) {
		t, err := api.ParseAlertTemplate(attr+"."+k, m[k])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", attr, k, err)
		}
		out = append(out, namedTemplate{name: k, tmpl: t})
	}
	return out, nil
}

func (r *rule) matches(ls []Label) bool {
	for i := range r.matchers {
		if !r.matchers[i].matches(ls) {
			return false
		}
	}
	return true
}

// value computes the value the rule compares for series s, and false when
// the series has no data: stale, a window without (enough) points, or a
// value that is not a number.
func (r *rule) value(now time.Time, s *Series, src Source, buf *[]Point) (float64, bool) {
	if s.Stale {
		return 0, false
	}
	v := s.Value
	if r.agg != "" {
		*buf = src.Window(r.metric, *s, now.Add(-r.window), now, (*buf)[:0])
		var ok bool
		if v, ok = aggregate(r.agg, *buf); !ok {
			return 0, false
		}
	}
	if r.kind == api.AlertRuleBackupStale {
		v = float64(now.Unix()) + float64(now.Nanosecond())/1e9 - v // age of the last success
	}
	if math.IsNaN(v) {
		return 0, false
	}
	// Infinities compare as they should but cannot be written as JSON.
	return max(min(v, math.MaxFloat64), -math.MaxFloat64), true
}

// aggregate reduces the points of a window. increase and rate treat the
// series as a counter, a drop being a reset to zero, without PromQL's
// extrapolation to the window's edges: increase is the growth between the
// first and the last point, rate that growth per second of their distance.
func aggregate(agg string, pts []Point) (float64, bool) {
	if len(pts) == 0 {
		return 0, false
	}
	switch agg {
	case "last":
		return pts[len(pts)-1].Value, true
	case "min":
		acc := pts[0].Value
		for _, p := range pts[1:] {
			acc = min(acc, p.Value)
		}
		return acc, true
	case "max":
		acc := pts[0].Value
		for _, p := range pts[1:] {
			acc = max(acc, p.Value)
		}
		return acc, true
	case "avg":
		var sum float64
		for _, p := range pts {
			sum += p.Value
		}
		return sum / float64(len(pts)), true
	}
	if len(pts) < 2 {
		return 0, false
	}
	var inc float64
	for i := 1; i < len(pts); i++ {
		if d := pts[i].Value - pts[i-1].Value; d >= 0 {
			inc += d
		} else {
			inc += pts[i].Value
		}
	}
	if agg == "increase" {
		return inc, true
	}
	span := pts[len(pts)-1].Time.Sub(pts[0].Time).Seconds()
	if span <= 0 {
		return 0, false
	}
	return inc / span, true
}

// compare reports whether v op threshold holds.
func compare(op string, v, threshold float64) bool {
	switch op {
	case ">":
		return v > threshold
	case ">=":
		return v >= threshold
	case "<":
		return v < threshold
	case "<=":
		return v <= threshold
	case "==":
		return v == threshold
	case "!=":
		return v != threshold
	}
	return false
}

// hashLabels is FNV-1a over the labels, with separators that cannot occur
// in the UTF-8 of a name or a value, so that {a="bc"} and {ab="c"} differ.
func hashLabels(ls []Label) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, l := range ls {
		for i := 0; i < len(l.Name); i++ {
			h = (h ^ uint64(l.Name[i])) * prime
		}
		h = (h ^ 0xff) * prime
		for i := 0; i < len(l.Value); i++ {
			h = (h ^ uint64(l.Value[i])) * prime
		}
		h = (h ^ 0xfe) * prime
	}
	return h
}

func labelsMap(ls []Label) map[string]string {
	m := make(map[string]string, len(ls)+4)
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

func sortedLabels(ls []Label) []Label {
	if slices.IsSortedFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) }) {
		return ls
	}
	c := slices.Clone(ls)
	slices.SortFunc(c, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	return c
}
