package collect

import (
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// cpuJumpBack is how far (in seconds) a CPU's idle counter may go back
// before the CPU counts as replaced (hot-plugged) and its counters restart,
// as node_exporter does; smaller steps back are kernel accounting noise and
// are held at the previous value so that the counters stay monotonic.
const cpuJumpBack = 3.0

var (
	cpuSecondsDesc = prometheus.NewDesc("node_cpu_seconds_total",
		"Seconds the CPUs spent in each mode.", []string{"cpu", "mode"}, nil)
	cpuGuestDesc = prometheus.NewDesc("node_cpu_guest_seconds_total",
		"Seconds the CPUs spent in guests (VMs) for each mode.", []string{"cpu", "mode"}, nil)
	cpuUtilisationDesc = prometheus.NewDesc("steward_cpu_utilisation_ratio",
		"Share of all CPUs' time spent busy (not idle, not waiting for I/O) since the previous collection.", nil, nil)
)

// cpuCollector exports node_exporter's cpu metrics from /proc/stat and
// the utilisation between two collections.
type cpuCollector struct {
	path string
	file fileReader
	st   procStat
	// last holds each CPU's counters as last exported (held monotonic);
	// prevTotal is the aggregate line of the previous collection.
	last      map[string]cpuTimes
	prevTotal cpuTimes
	hasPrev   bool
}

func newCPUCollector(procRoot string) *cpuCollector {
	return &cpuCollector{path: filepath.Join(procRoot, "stat"), last: map[string]cpuTimes{}}
}

func (*cpuCollector) Name() string { return "cpu" }

func (c *cpuCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	if err := parseProcStat(b, &c.st); err != nil {
		return err
	}
	seen := make(map[string]bool, len(c.st.CPUs))
	for _, cpu := range c.st.CPUs {
		seen[cpu.ID] = true
		t := holdMonotonic(c.last[cpu.ID], cpu.cpuTimes)
		c.last[cpu.ID] = t
		for _, m := range [...]struct {
			mode string
			v    float64
		}{
			{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle},
			{"iowait", t.Iowait}, {"irq", t.IRQ}, {"softirq", t.SoftIRQ}, {"steal", t.Steal},
		} {
			ch <- constMetric(cpuSecondsDesc, prometheus.CounterValue, m.v, cpu.ID, m.mode)
		}
		ch <- constMetric(cpuGuestDesc, prometheus.CounterValue, t.Guest, cpu.ID, "user")
		ch <- constMetric(cpuGuestDesc, prometheus.CounterValue, t.GuestNice, cpu.ID, "nice")
	}
	for id := range c.last {
		if !seen[id] {
			delete(c.last, id) // went offline
		}
	}
	if r, ok := utilisation(c.prevTotal, c.st.Total, c.hasPrev); ok {
		ch <- constMetric(cpuUtilisationDesc, prometheus.GaugeValue, r)
	}
	c.prevTotal, c.hasPrev = c.st.Total, true
	return nil
}

// holdMonotonic returns now with each counter that went back a little held
// at its previous value, or now unchanged when idle went back far enough
// to mean a new CPU.
func holdMonotonic(prev, now cpuTimes) cpuTimes {
	if prev.Idle-now.Idle >= cpuJumpBack {
		return now
	}
	hold := func(p, n *float64) {
		if *n < *p {
			*n = *p
		}
	}
	hold(&prev.User, &now.User)
	hold(&prev.Nice, &now.Nice)
	hold(&prev.System, &now.System)
	hold(&prev.Idle, &now.Idle)
	hold(&prev.Iowait, &now.Iowait)
	hold(&prev.IRQ, &now.IRQ)
	hold(&prev.SoftIRQ, &now.SoftIRQ)
	hold(&prev.Steal, &now.Steal)
	hold(&prev.Guest, &now.Guest)
	hold(&prev.GuestNice, &now.GuestNice)
	return now
}

// utilisation is the busy share of all CPUs between two aggregate lines,
// clamped to [0, 1]; there is none without a previous line or when no
// time passed (or the counters went back).
func utilisation(prev, now cpuTimes, hasPrev bool) (float64, bool) {
	if !hasPrev {
		return 0, false
	}
	pb, pt := prev.busyAndTotal()
	nb, nt := now.busyAndTotal()
	dt := nt - pt
	if dt <= 0 {
		return 0, false
	}
	r := (nb - pb) / dt
	return min(max(r, 0), 1), true
}
