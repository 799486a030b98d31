package agent

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
)

// newMetricsRegistry returns what /metrics serves: the agent's build, the
// Go runtime and the process (as node_exporter does), each component's
// health, and each component's own metrics.
func newMetricsRegistry(cs *core.Supervisor) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "steward_build_info",
		Help:        "Always 1; the labels say which steward-agent build runs.",
		ConstLabels: prometheus.Labels{"version": Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register daemon metrics: %w", err)
		}
	}
	if err := cs.Register(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// metricsHandler serves g in the Prometheus text (or protobuf) format. A
// collector that fails leaves out its own metrics only.
func metricsHandler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}
