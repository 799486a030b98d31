package collect

import (
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	load1Desc  = prometheus.NewDesc("node_load1", "1m load average.", nil, nil)
	load5Desc  = prometheus.NewDesc("node_load5", "5m load average.", nil, nil)
	load15Desc = prometheus.NewDesc("node_load15", "15m load average.", nil, nil)

	processesThreadsDesc = prometheus.NewDesc("node_processes_threads", "Allocated threads in system", nil, nil)
)

// loadavgCollector exports node_load1, node_load5 and node_load15, and
// node_processes_threads from the count of scheduling entities that
// /proc/loadavg carries too. (node_exporter's processes collector sums
// every /proc/PID/stat for the same number; its node_processes_pids is
// left out because counting /proc's entries cost a third of a whole
// collection on a host with 870 of them.)
type loadavgCollector struct {
	path string
	file fileReader
}

func newLoadavgCollector(procRoot string) *loadavgCollector {
	return &loadavgCollector{path: filepath.Join(procRoot, "loadavg")}
}

func (*loadavgCollector) Name() string { return "loadavg" }

func (c *loadavgCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	la, err := parseLoadAvg(b)
	if err != nil {
		return err
	}
	ch <- constMetric(load1Desc, prometheus.GaugeValue, la.Load1)
	ch <- constMetric(load5Desc, prometheus.GaugeValue, la.Load5)
	ch <- constMetric(load15Desc, prometheus.GaugeValue, la.Load15)
	ch <- constMetric(processesThreadsDesc, prometheus.GaugeValue, la.Threads)
	return nil
}
