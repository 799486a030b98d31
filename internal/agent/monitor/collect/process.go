package collect

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// processCollector is the agent's own CPU, memory, file descriptors and
// start time (process_cpu_seconds_total, process_resident_memory_bytes, …)
// from client_golang, as every Prometheus exporter has them.
type processCollector struct{ c prometheus.Collector }

func newProcessCollector() processCollector {
	return processCollector{collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}

func (processCollector) Name() string { return "process" }

func (p processCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	p.c.Collect(ch)
	return nil
}
