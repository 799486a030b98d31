package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// ruleTestFile is the file `steward-agent rules test FILE` runs, in YAML
// (or JSON, which is YAML too). Field names are those of the rule's JSON
// spec; see the package doc for an example.
type ruleTestFile struct {
	// RuleFiles are rule specs as the host keeps them
	// (/etc/steward/alert_rules/<name>.json), relative to the test file.
	RuleFiles []string        `json:"rule_files"`
	Rules     []api.AlertRule `json:"rules"` // or rules written inline
	Tests     []ruleTest      `json:"tests"`
}

type ruleTest struct {
	Name     string       `json:"name"`
	Interval testDuration `json:"interval"` // default 10s, the collection interval
	Host     string       `json:"host"`     // default "host"
	Series   []testSeries `json:"series"`
	Expect   []testExpect `json:"expect"`
}

// testSeries is one input series: the value at each evaluation, 0,
// interval, 2*interval, ..., in promtool's notation: "1 2 3", "_" for no
// sample, "stale" for a stale one, "a+bxn" for a, a+b, ..., a+n*b (n+1
// values), "a-bxn", "axn" for a repeated n+1 times, "_xn" for n missing.
type testSeries struct {
	Metric string       `json:"metric"`
	Labels labelSet     `json:"labels"`
	Values seriesValues `json:"values"`
}

// testExpect is what must hold at one evaluation: Alerts lists every alert
// pending or firing then (resolved ones only when listed), and
// Notifications every alert handed out then; a list left out is not checked.
type testExpect struct {
	At            testDuration        `json:"at"`
	Alerts        *[]expectedAlert    `json:"alerts"`
	Notifications *[]expectedDelivery `json:"notifications"`
}

type expectedAlert struct {
	Rule   string   `json:"rule"`   // may be left out with a single rule
	Labels labelSet `json:"labels"` // a subset of the alert's labels
	State  string   `json:"state"`
}

type expectedDelivery struct {
	Channel     string   `json:"channel"`
	Rule        string   `json:"rule"`
	State       string   `json:"state"` // firing or resolved
	Repeat      bool     `json:"repeat"`
	Labels      labelSet `json:"labels"`      // a subset of the alert's labels
	Annotations labelSet `json:"annotations"` // these annotations, exactly
}

// testDuration takes "90s", "5m", "0" or a number of seconds.
type testDuration time.Duration

func (d *testDuration) UnmarshalJSON(b []byte) error {
	var secs float64
	if json.Unmarshal(b, &secs) == nil {
		*d = testDuration(secs * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"90s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if v, err = api.ParseDuration(s); err != nil {
			return err
		}
	}
	*d = testDuration(v)
	return nil
}

// labelSet takes label values YAML reads as numbers or booleans (cpu: 0).
type labelSet map[string]string

func (ls *labelSet) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*ls = labelSet{}
	for k, v := range raw {
		(*ls)[k] = fmt.Sprint(v)
	}
	return nil
}

// seriesValues takes a single number as well as a string.
type seriesValues string

func (v *seriesValues) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*v = seriesValues(s)
		return nil
	}
	*v = seriesValues(strings.TrimSpace(string(b)))
	return nil
}

// testValue is one expanded sample.
type testValue struct {
	v              float64
	missing, stale bool
}

// expandValues expands promtool's series notation.
func expandValues(s string) ([]testValue, error) {
	var out []testValue
	for _, item := range strings.Fields(s) {
		switch item {
		case "_":
			out = append(out, testValue{missing: true})
			continue
		case "stale":
			out = append(out, testValue{stale: true})
			continue
		}
		base, count, hasCount := strings.Cut(item, "x")
		if !hasCount {
			v, err := strconv.ParseFloat(item, 64)
			if err != nil {
				return nil, fmt.Errorf("value %q: want a number, _, stale, a+bxn, a-bxn, axn or _xn", item)
			}
			out = append(out, testValue{v: v})
			continue
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 || n > 100000 {
			return nil, fmt.Errorf("value %q: the count after x must be a whole number up to 100000", item)
		}
		if base == "_" {
			for range n {
				out = append(out, testValue{missing: true})
			}
			continue
		}
		start, incr, err := splitIncrement(base)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", item, err)
		}
		for i := 0; i <= n; i++ {
			out = append(out, testValue{v: start + float64(i)*incr})
		}
	}
	return out, nil
}

// splitIncrement parses "a+b", "a-b" or "a" (numbers may have exponents).
func splitIncrement(s string) (start, incr float64, err error) {
	op := -1
	for i := 1; i < len(s); i++ {
		if (s[i] == '+' || s[i] == '-') && s[i-1] != 'e' && s[i-1] != 'E' {
			op = i
			break
		}
	}
	text, incText := s, "0"
	if op > 0 {
		text, incText = s[:op], s[op+1:]
	}
	if start, err = strconv.ParseFloat(text, 64); err != nil {
		return 0, 0, fmt.Errorf("start %q is not a number", text)
	}
	if incr, err = strconv.ParseFloat(incText, 64); err != nil {
		return 0, 0, fmt.Errorf("increment %q is not a number", incText)
	}
	if op > 0 && s[op] == '-' {
		incr = -incr
	}
	return start, incr, nil
}

// yamlToJSON decodes YAML into JSON bytes, so the file uses the JSON field
// names of the specs and decodes strictly.
func yamlToJSON(b []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	var conv func(any) (any, error)
	conv = func(v any) (any, error) {
		switch x := v.(type) {
		case map[any]any:
			m := make(map[string]any, len(x))
			for k, val := range x {
				c, err := conv(val)
				if err != nil {
					return nil, err
				}
				m[fmt.Sprint(k)] = c
			}
			return m, nil
		case []any:
			for i := range x {
				c, err := conv(x[i])
				if err != nil {
					return nil, err
				}
				x[i] = c
			}
		}
		return v, nil
	}
	c, err := conv(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

func decodeStrict(b []byte, v any) error {
	j, err := yamlToJSON(b)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// RunTestFile runs the rule tests in path (steward-agent rules test FILE):
// each test feeds its series to the rules one evaluation at a time, prints
// every transition and notification as it happens and checks the
// expectations. It returns an error when the file is wrong or any
// expectation fails.
func RunTestFile(path string, w io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read rule test file: %w", err)
	}
	var f ruleTestFile
	if err := decodeStrict(b, &f); err != nil {
		return fmt.Errorf("rule test file %s: %w", path, err)
	}
	rules := slices.Clone(f.Rules)
	for _, rf := range f.RuleFiles {
		p := rf
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(path), p)
		}
		rb, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("rule test file %s: read rule file: %w", path, err)
		}
		var r api.AlertRule
		if err := decodeStrict(rb, &r); err != nil {
			return fmt.Errorf("rule test file %s: rule file %s: %w", path, p, err)
		}
		rules = append(rules, r)
	}
	if len(rules) == 0 || len(f.Tests) == 0 {
		return fmt.Errorf("rule test file %s: want rule_files (or rules) and tests", path)
	}
	failed := 0
	for i, t := range f.Tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("test %d", i+1)
		}
		fmt.Fprintf(w, "%s: %s\n", filepath.Base(path), name)
		n, err := runRuleTest(t, rules, w)
		if err != nil {
			return fmt.Errorf("rule test file %s: %s: %w", path, name, err)
		}
		failed += n
	}
	if failed > 0 {
		fmt.Fprintf(w, "FAILED: %d expectation(s) not met\n", failed)
		return fmt.Errorf("rule test file %s: %d expectation(s) not met", path, failed)
	}
	fmt.Fprintln(w, "SUCCESS")
	return nil
}

// runRuleTest runs one test and returns how many expectations failed.
func runRuleTest(t ruleTest, rules []api.AlertRule, w io.Writer) (int, error) {
	interval := time.Duration(t.Interval)
	if interval == 0 {
		interval = 10 * time.Second
	}
	host := cmpOr(t.Host, "host")
	start := time.Unix(0, 0).UTC() // as promtool: series start at the epoch
	src := &testSource{start: start, interval: interval}
	steps := 0
	for _, s := range t.Series {
		vals, err := expandValues(string(s.Values))
		if err != nil {
			return 0, fmt.Errorf("series %s%s: %w", s.Metric, api.AlertLabelsString(s.Labels), err)
		}
		src.series = append(src.series, testInput{metric: s.Metric, labels: toSortedLabels(s.Labels), values: vals})
		steps = max(steps, len(vals))
	}
	expects := map[int]testExpect{}
	for _, x := range t.Expect {
		at := time.Duration(x.At)
		if at < 0 || at%interval != 0 {
			return 0, fmt.Errorf("expect at %s: want a multiple of the interval %s", at, interval)
		}
		expects[int(at/interval)] = x
		steps = max(steps, int(at/interval)+1)
	}
	e, err := New(Config{Host: host, HostID: "test", Interval: interval, Location: time.UTC,
		Clock: func() time.Time { return start }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	if err := e.SetRules(rules); err != nil {
		return 0, err
	}
	single := ""
	if len(rules) == 1 {
		single = rules[0].Name
	}
	failed := 0
	seen := 0
	for i := range steps {
		now := start.Add(time.Duration(i) * interval)
		src.step = i
		ns, _ := e.Evaluate(now, src)
		at := now.Sub(start)
		hist := e.History(api.AlertHistoryQuery{})
		for _, tr := range hist[seen:] {
			fmt.Fprintf(w, "  %8s  %-20s %-8s -> %-8s value=%g %s\n", at, tr.Rule, tr.From, tr.To, tr.Value, api.AlertLabelsString(tr.Labels))
		}
		seen = len(hist)
		for _, n := range ns {
			for _, a := range n.Alerts {
				fmt.Fprintf(w, "  %8s  notify %s: %s %s%s %s\n", at, n.Channel, a.State, a.Rule, repeatMark(n.IsRepeat), api.AlertLabelsString(a.Annotations))
			}
		}
		x, ok := expects[i]
		if !ok {
			continue
		}
		problems := checkAlerts(x.Alerts, e.Alerts(), single)
		problems = append(problems, checkDeliveries(x.Notifications, ns, single)...)
		for _, p := range problems {
			fmt.Fprintf(w, "  %8s  FAILED: %s\n", at, p)
		}
		if len(problems) > 0 {
			failed++
		} else {
			fmt.Fprintf(w, "  %8s  ok\n", at)
		}
	}
	return failed, nil
}

func repeatMark(repeat bool) string {
	if repeat {
		return " (repeat)"
	}
	return ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func checkAlerts(want *[]expectedAlert, got []api.AlertInstance, single string) []string {
	if want == nil {
		return nil
	}
	var problems []string
	used := make([]bool, len(got))
	for _, x := range *want {
		i := -1
		for j, a := range got {
			if !used[j] && a.State == x.State && a.Rule == cmpOr(x.Rule, single) && subset(x.Labels, a.Labels) {
				i = j
				break
			}
		}
		if i < 0 {
			problems = append(problems, fmt.Sprintf("want %s alert %s%s, got %s", x.State, cmpOr(x.Rule, single), api.AlertLabelsString(x.Labels), describeAlerts(got)))
			continue
		}
		used[i] = true
	}
	for i, a := range got {
		if !used[i] && a.State != api.AlertResolved {
			problems = append(problems, fmt.Sprintf("unexpected %s alert %s%s", a.State, a.Rule, api.AlertLabelsString(a.Labels)))
		}
	}
	return problems
}

func describeAlerts(got []api.AlertInstance) string {
	if len(got) == 0 {
		return "none"
	}
	var parts []string
	for _, a := range got {
		parts = append(parts, a.State+" "+a.Rule+api.AlertLabelsString(a.Labels))
	}
	return strings.Join(parts, "; ")
}

func checkDeliveries(want *[]expectedDelivery, ns []api.Notification, single string) []string {
	if want == nil {
		return nil
	}
	type delivery struct {
		channel string
		repeat  bool
		alert   api.Alert
	}
	var got []delivery
	for _, n := range ns {
		for _, a := range n.Alerts {
			got = append(got, delivery{n.Channel, n.IsRepeat, a})
		}
	}
	var problems []string
	for _, x := range *want {
		i := slices.IndexFunc(got, func(d delivery) bool {
			return d.channel == x.Channel && d.repeat == x.Repeat && d.alert.State == x.State &&
				d.alert.Rule == cmpOr(x.Rule, single) && subset(x.Labels, d.alert.Labels) && subset(x.Annotations, d.alert.Annotations)
		})
		if i < 0 {
			problems = append(problems, fmt.Sprintf("want notification to %s: %s %s%s%s, got %s", x.Channel, x.State, cmpOr(x.Rule, single),
				api.AlertLabelsString(x.Labels), api.AlertLabelsString(x.Annotations), describeDeliveries(ns)))
			continue
		}
		got = slices.Delete(got, i, i+1)
	}
	for _, d := range got {
		problems = append(problems, fmt.Sprintf("unexpected notification to %s: %s %s%s", d.channel, d.alert.State, d.alert.Rule, api.AlertLabelsString(d.alert.Labels)))
	}
	return problems
}

func describeDeliveries(ns []api.Notification) string {
	var parts []string
	for _, n := range ns {
		for _, a := range n.Alerts {
			parts = append(parts, n.Channel+": "+a.State+" "+a.Rule+api.AlertLabelsString(a.Labels)+" "+api.AlertLabelsString(a.Annotations))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func subset(want, got map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func toSortedLabels(m map[string]string) []Label {
	ls := make([]Label, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ls = append(ls, Label{Name: k, Value: m[k]})
	}
	return ls
}

// testSource serves a rule test's series at its current step.
type testSource struct {
	start    time.Time
	interval time.Duration
	series   []testInput
	step     int
}

type testInput struct {
	metric string
	labels []Label
	values []testValue
}

func (s *testSource) Latest(metric string) []Series {
	var out []Series
	for i, in := range s.series {
		if in.metric != metric || s.step >= len(in.values) {
			continue
		}
		v := in.values[s.step]
		if v.missing {
			continue
		}
		out = append(out, Series{Labels: in.labels, Value: v.v, Stale: v.stale, Ref: uint64(i)})
	}
	return out
}

func (s *testSource) Window(_ string, ser Series, from, to time.Time, buf []Point) []Point {
	if ser.Ref >= uint64(len(s.series)) {
		return buf
	}
	for i, v := range s.series[ser.Ref].values {
		t := s.start.Add(time.Duration(i) * s.interval)
		if v.missing || v.stale || !t.After(from) || t.After(to) {
			continue
		}
		buf = append(buf, Point{Time: t, Value: v.v})
	}
	return buf
}
