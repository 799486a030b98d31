package collect

import (
	"context"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// BenchmarkGather is one collection of this host's real /proc and /sys
// with the default collectors (no watched units, no textfiles, no
// commands: node_exporter's default set is comparable). It reports the
// agent's CPU time per collection (user+system, all goroutines), which
// node_exporter 1.5 spends 6.4 ms of per scrape, the series collected, and
// the live heap after the run.
func BenchmarkGather(b *testing.B) {
	benchmarkGather(b, Config{TextfileDir: b.TempDir()})
}

// BenchmarkGather_systemdUnits adds the systemd collector watching six
// units; its systemctl child's CPU is reported apart (children-cpu-ms/op).
// On a host without systemd the child is the tests' fake systemctl, a
// shell script, so only the agent's side of the number is meaningful
// there.
func BenchmarkGather_systemdUnits(b *testing.B) {
	cfg := Config{TextfileDir: b.TempDir(), Units: []string{"ssh", "nginx", "steward-backup", "apt-daily.timer", "srv.mount", "telnet"}}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		cfg.Systemctl = fakeSystemctl(b, "testdata/systemctl-show.txt")
	}
	benchmarkGather(b, cfg)
}

func benchmarkGather(b *testing.B, cfg Config) {
	set, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	fams, err := set.Gather(ctx) // warm up: the delta state, the caches
	if err != nil {
		b.Fatal(err)
	}
	series := len(Flatten(fams))
	var self0, child0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &child0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := set.Gather(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var self1, child1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &child1)
	n := float64(b.N)
	b.ReportMetric(cpuMillis(self0, self1)/n, "cpu-ms/op")
	b.ReportMetric(cpuMillis(child0, child1)/n, "children-cpu-ms/op")
	b.ReportMetric(float64(series), "series")
	for _, st := range set.Status() {
		if !st.OK {
			b.Errorf("collector %s failed: %s", st.Name, st.Error)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MiB")
}

func cpuMillis(a, b syscall.Rusage) float64 {
	d := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return float64(d(b.Utime)-d(a.Utime)+d(b.Stime)-d(a.Stime)) / float64(time.Millisecond)
}
