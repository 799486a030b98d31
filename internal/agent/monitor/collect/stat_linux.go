package collect

import (
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	bootTimeDesc      = prometheus.NewDesc("node_boot_time_seconds", "Node boot time, in unixtime.", nil, nil)
	contextSwitchDesc = prometheus.NewDesc("node_context_switches_total", "Total number of context switches.", nil, nil)
	forksDesc         = prometheus.NewDesc("node_forks_total", "Total number of forks.", nil, nil)
	intrDesc          = prometheus.NewDesc("node_intr_total", "Total number of interrupts serviced.", nil, nil)
	procsRunningDesc  = prometheus.NewDesc("node_procs_running", "Number of processes in runnable state.", nil, nil)
	procsBlockedDesc  = prometheus.NewDesc("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", nil, nil)
)

// statCollector exports node_exporter's stat metrics from /proc/stat:
// boot time, context switches, forks, interrupts and the processes
// running or blocked now.
type statCollector struct {
	path string
	file fileReader
	st   procStat
}

func newStatCollector(procRoot string) *statCollector {
	return &statCollector{path: filepath.Join(procRoot, "stat")}
}

func (*statCollector) Name() string { return "stat" }

func (c *statCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	if err := parseProcStat(b, &c.st); err != nil {
		return err
	}
	if c.st.hasBootTime {
		ch <- constMetric(bootTimeDesc, prometheus.GaugeValue, c.st.BootTime)
	}
	ch <- constMetric(contextSwitchDesc, prometheus.CounterValue, c.st.ContextSwitches)
	ch <- constMetric(forksDesc, prometheus.CounterValue, c.st.Forks)
	ch <- constMetric(intrDesc, prometheus.CounterValue, c.st.Interrupts)
	if c.st.hasProcsRunning {
		ch <- constMetric(procsRunningDesc, prometheus.GaugeValue, c.st.ProcsRunning)
		ch <- constMetric(procsBlockedDesc, prometheus.GaugeValue, c.st.ProcsBlocked)
	}
	return nil
}
