package api

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// MetricsQuery summarizes chosen metrics over a window from the host's
// history (steward_metrics, `steward-agent metrics`).
var MetricsQuery = Method[MetricsQueryParams, MetricsQueryResult]{Name: "metrics.query"}

// CodeDaemonUnavailable means the agent daemon, which holds the metrics,
// is not running or does not answer.
const CodeDaemonUnavailable = "daemon_unavailable"

// MetricsQueryParams are the parameters of MetricsQuery.
type MetricsQueryParams struct {
	// Window is how far back the summaries reach, e.g. "1h" or "7d".
	Window string `json:"window"`
	// Select names each selection; the result uses the same keys.
	Select map[string]MetricSelector `json:"select"`
}

// MetricSelector picks the series of one metric whose labels have the
// given values.
type MetricSelector struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// MetricsQueryResult is the result of MetricsQuery.
type MetricsQueryResult struct {
	HostID string `json:"host_id"`
	// At is when the daemon answered; the window ends there.
	At      time.Time                  `json:"at"`
	Results map[string][]MetricSummary `json:"results"`
}

// MetricSummary is one series over the window.
type MetricSummary struct {
	Labels  map[string]string `json:"labels"`
	Samples int               `json:"samples"`
	Last    float64           `json:"last"`
	LastAt  time.Time         `json:"last_at"`
	Min     float64           `json:"min"`
	Avg     float64           `json:"avg"`
	Max     float64           `json:"max"`
	P95     float64           `json:"p95"`
	// Rate is the per-second increase when the metric is a counter.
	Rate float64 `json:"rate"`
}

var (
	metricNamePattern = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNamePattern  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	selectKeyPattern  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
)

// MaxWindow is the longest window a query may ask for: the hour tier's
// default retention.
const MaxWindow = 400 * 24 * time.Hour

// Validate checks the selections, naming what is wrong.
func (p MetricsQueryParams) Validate() error {
	var errs []error
	if d, err := ParseDuration(p.Window); err != nil {
		errs = append(errs, fmt.Errorf("window: %w", err))
	} else if d > MaxWindow {
		errs = append(errs, fmt.Errorf("window %s: want at most 400d", p.Window))
	}
	if len(p.Select) == 0 || len(p.Select) > 64 {
		errs = append(errs, errors.New("select: want between 1 and 64 selections"))
	}
	for key, s := range p.Select {
		if !selectKeyPattern.MatchString(key) {
			errs = append(errs, fmt.Errorf("select key %q: want lower-case letters, digits and _ starting with a letter", key))
		}
		if err := CheckMetricName(s.Name); err != nil {
			errs = append(errs, fmt.Errorf("select %q: %w", key, err))
		}
		for l := range s.Labels {
			if !labelNamePattern.MatchString(l) {
				errs = append(errs, fmt.Errorf("select %q: label name %q is not a Prometheus label name", key, l))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckMetricName accepts a Prometheus metric name.
func CheckMetricName(name string) error {
	if !metricNamePattern.MatchString(name) {
		return fmt.Errorf("metric name %q is not a Prometheus metric name (letters, digits, _ and :, not starting with a digit)", name)
	}
	return nil
}
