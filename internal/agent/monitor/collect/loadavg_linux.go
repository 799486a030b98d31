package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	load1Desc  = prometheus.NewDesc("node_load1", "1m load average.", nil, nil)
	load5Desc  = prometheus.NewDesc("node_load5", "5m load average.", nil, nil)
	load15Desc = prometheus.NewDesc("node_load15", "15m load average.", nil, nil)

	processesPIDsDesc    = prometheus.NewDesc("node_processes_pids", "Number of PIDs", nil, nil)
	processesThreadsDesc = prometheus.NewDesc("node_processes_threads", "Allocated threads in system", nil, nil)
)

// loadavgCollector exports node_load1, node_load5 and node_load15.
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
	return nil
}

// processesCollector exports how many processes and threads exist, with
// node_exporter's processes-collector names, at the cost of one directory
// read: processes are /proc's numeric entries, and threads the
// scheduling entities /proc/loadavg counts (node_exporter sums each
// process's thread count instead, which is the same number read from
// every /proc/PID/stat).
type processesCollector struct {
	root string
	file fileReader
}

func newProcessesCollector(procRoot string) *processesCollector {
	return &processesCollector{root: procRoot}
}

func (*processesCollector) Name() string { return "processes" }

func (c *processesCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(filepath.Join(c.root, "loadavg"))
	if err != nil {
		return err
	}
	la, err := parseLoadAvg(b)
	if err != nil {
		return err
	}
	pids, err := countPIDs(c.root)
	if err != nil {
		return err
	}
	ch <- constMetric(processesPIDsDesc, prometheus.GaugeValue, float64(pids))
	ch <- constMetric(processesThreadsDesc, prometheus.GaugeValue, la.Threads)
	return nil
}

// countPIDs counts the numeric entries of the proc root.
func countPIDs(procRoot string) (int, error) {
	d, err := os.Open(procRoot)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if _, ok := parseUint([]byte(name)); ok {
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", procRoot, err)
		}
	}
}
