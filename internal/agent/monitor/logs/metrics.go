package logs

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descConnected = prometheus.NewDesc("steward_log_forward_connected",
		"Whether the forwarder has a connection to its receiver open.", []string{"log_forward"}, nil)
	descConnErrors = prometheus.NewDesc("steward_log_forward_connection_errors_total",
		"Failed connections to the receiver and connections that broke.", []string{"log_forward"}, nil)
	descLines = prometheus.NewDesc("steward_log_forward_lines_sent_total",
		"Lines the receiver acknowledged (a line sent again after a reconnect counts again).", []string{"log_forward", "source"}, nil)
	descLag = prometheus.NewDesc("steward_log_forward_lag_seconds",
		"Age of the oldest line read and not acknowledged yet; 0 when all are.", []string{"log_forward", "source"}, nil)
	descBacklog = prometheus.NewDesc("steward_log_forward_backlog_bytes",
		"Bytes of a log file past the acknowledged offset.", []string{"log_forward", "source"}, nil)
)

// Describe sends the forwarder's metric descriptions (prometheus.Collector).
func (f *Forwarder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descConnErrors, descLines, descLag, descBacklog} {
		ch <- d
	}
}

// Collect sends the forwarder's metrics (prometheus.Collector). It may be
// called at any time, also while Run is not running.
func (f *Forwarder) Collect(ch chan<- prometheus.Metric) {
	st := f.Status()
	f.mu.Lock()
	connErrors := f.connErrors
	f.mu.Unlock()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, f.name)
	ch <- prometheus.MustNewConstMetric(descConnErrors, prometheus.CounterValue, float64(connErrors), f.name)
	for i, s := range st.Sources {
		ch <- prometheus.MustNewConstMetric(descLines, prometheus.CounterValue, float64(s.LinesSent), f.name, s.Source)
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, s.LagSeconds, f.name, s.Source)
		if _, ok := f.sources[i].(*fileSource); ok {
			ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(s.BacklogBytes), f.name, s.Source)
		}
	}
}
