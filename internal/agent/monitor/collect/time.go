package collect

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var timeDesc = prometheus.NewDesc("node_time_seconds", "System time in seconds since epoch (1970).", nil, nil)

// timeCollector exports the host's clock, as node_exporter's time
// collector does, so that rules can compare it with node_boot_time_seconds
// or spot a clock that drifts from the Prometheus server's.
type timeCollector struct{ now func() time.Time }

func (timeCollector) Name() string { return "time" }

func (c timeCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	ch <- constMetric(timeDesc, prometheus.GaugeValue, float64(c.now().UnixNano())/1e9)
	return nil
}
