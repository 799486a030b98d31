package collect

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestGather_nodeExporterNames checks that the families node_exporter's
// dashboards and rules use exist with node_exporter's type and labels,
// and carry the fixture's values in node_exporter's units.
func TestGather_nodeExporterNames(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t)
	set := newFixtureSet(t, cfg)
	fams := gather(t, set)

	for name, want := range map[string]struct {
		typ    dto.MetricType
		labels []string
	}{
		"node_cpu_seconds_total":                   {dto.MetricType_COUNTER, []string{"cpu", "mode"}},
		"node_cpu_guest_seconds_total":             {dto.MetricType_COUNTER, []string{"cpu", "mode"}},
		"node_memory_MemTotal_bytes":               {dto.MetricType_GAUGE, nil},
		"node_memory_MemAvailable_bytes":           {dto.MetricType_GAUGE, nil},
		"node_memory_MemFree_bytes":                {dto.MetricType_GAUGE, nil},
		"node_memory_Cached_bytes":                 {dto.MetricType_GAUGE, nil},
		"node_memory_Buffers_bytes":                {dto.MetricType_GAUGE, nil},
		"node_memory_SwapTotal_bytes":              {dto.MetricType_GAUGE, nil},
		"node_memory_SwapFree_bytes":               {dto.MetricType_GAUGE, nil},
		"node_filesystem_size_bytes":               {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_free_bytes":               {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_avail_bytes":              {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_files":                    {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_files_free":               {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_readonly":                 {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_filesystem_device_error":             {dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		"node_disk_read_bytes_total":               {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_written_bytes_total":            {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_reads_completed_total":          {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_writes_completed_total":         {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_io_time_seconds_total":          {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_io_time_weighted_seconds_total": {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_read_time_seconds_total":        {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_write_time_seconds_total":       {dto.MetricType_COUNTER, []string{"device"}},
		"node_disk_io_now":                         {dto.MetricType_GAUGE, []string{"device"}},
		"node_load1":                               {dto.MetricType_GAUGE, nil},
		"node_load5":                               {dto.MetricType_GAUGE, nil},
		"node_load15":                              {dto.MetricType_GAUGE, nil},
		"node_network_receive_bytes_total":         {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_transmit_bytes_total":        {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_receive_packets_total":       {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_transmit_packets_total":      {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_receive_errs_total":          {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_transmit_errs_total":         {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_receive_drop_total":          {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_transmit_drop_total":         {dto.MetricType_COUNTER, []string{"device"}},
		"node_network_up":                          {dto.MetricType_GAUGE, []string{"device"}},
		"node_boot_time_seconds":                   {dto.MetricType_GAUGE, nil},
		"node_time_seconds":                        {dto.MetricType_GAUGE, nil},
		"node_context_switches_total":              {dto.MetricType_COUNTER, nil},
		"node_forks_total":                         {dto.MetricType_COUNTER, nil},
		"node_intr_total":                          {dto.MetricType_COUNTER, nil},
		"node_procs_running":                       {dto.MetricType_GAUGE, nil},
		"node_procs_blocked":                       {dto.MetricType_GAUGE, nil},
		"node_processes_threads":                   {dto.MetricType_GAUGE, nil},
		"node_systemd_unit_state":                  {dto.MetricType_GAUGE, []string{"name", "state", "type"}},
		"node_textfile_scrape_error":               {dto.MetricType_GAUGE, nil},
		"steward_systemd_unit_load_state":          {dto.MetricType_GAUGE, []string{"name", "state"}},
		"steward_collector_success":                {dto.MetricType_GAUGE, []string{"collector"}},
		"steward_collector_duration_seconds":       {dto.MetricType_GAUGE, []string{"collector"}},
	} {
		f := fams[name]
		if f == nil {
			t.Errorf("no family %s", name)
			continue
		}
		if f.GetType() != want.typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), want.typ)
		}
		for _, m := range f.Metric {
			var got []string
			for _, l := range m.Label {
				got = append(got, l.GetName())
			}
			if !slices.Equal(got, want.labels) {
				t.Errorf("%s has labels %v, want %v", name, got, want.labels)
				break
			}
		}
	}

	// Values in node_exporter's units, from the fixture lines.
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"node_cpu_seconds_total", []string{"cpu", "0", "mode", "user"}, 375384.0 / 100},
		{"node_cpu_seconds_total", []string{"cpu", "1", "mode", "iowait"}, 134591.0 / 100},
		{"node_memory_MemTotal_bytes", nil, fixtureField(t, "proc/meminfo", "MemTotal") * 1024},
		{"node_memory_MemAvailable_bytes", nil, fixtureField(t, "proc/meminfo", "MemAvailable") * 1024},
		{"node_disk_read_bytes_total", []string{"device", "vda"}, 31061570 * 512},
		{"node_disk_written_bytes_total", []string{"device", "vda"}, 203183248 * 512},
		{"node_disk_io_time_seconds_total", []string{"device", "vda"}, 2446.836},
		{"node_network_receive_bytes_total", []string{"device", "eth0"}, 935692229},
		{"node_network_transmit_packets_total", []string{"device", "eth0"}, 43912},
		{"node_network_up", []string{"device", "eth0"}, 1},
		{"node_network_up", []string{"device", "lo"}, 0},
		{"node_boot_time_seconds", nil, 1796156768},
		{"node_procs_running", nil, 1},
		{"node_processes_threads", nil, fixtureLoadAvg(t).Threads},
		{"node_filesystem_readonly", []string{"mountpoint", "/boot"}, 1},
		{"node_filesystem_device_error", []string{"mountpoint", "/"}, 0},
		{"node_filesystem_device_error", []string{"mountpoint", "/mnt/nfs"}, 1},
		{"node_systemd_unit_state", []string{"name", "ssh.service", "state", "active", "type", "notify"}, 1},
		{"node_systemd_unit_state", []string{"name", "ssh.service", "state", "failed"}, 0},
		{"node_systemd_unit_state", []string{"name", "steward-backup.service", "state", "failed"}, 1},
		{"node_systemd_unit_state", []string{"name", "apt-daily.timer", "state", "active", "type", ""}, 1},
		{"steward_systemd_unit_load_state", []string{"name", "nginx.service", "state", "not-found"}, 1},
		{"steward_systemd_unit_load_state", []string{"name", "nginx.service", "state", "loaded"}, 0},
		{"steward_systemd_unit_load_state", []string{"name", "telnet.service", "state", "masked"}, 1},
		{"node_textfile_scrape_error", nil, 0},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(series(fams, "node_cpu_seconds_total")); n != 2*8 {
		t.Errorf("%d node_cpu_seconds_total series, want 2 CPUs x 8 modes", n)
	}
	for _, ignored := range []string{"loop0", "zram0"} {
		if len(series(fams, "node_disk_read_bytes_total", "device", ignored)) != 0 {
			t.Errorf("disk %s reported", ignored)
		}
	}
	for _, ignored := range []string{"/proc", "/sys/fs/cgroup", "/dev/shm", "/run/netns/stw-h1", "/snap/core/1", "/run/credentials/ssh.service"} {
		if len(series(fams, "node_filesystem_readonly", "mountpoint", ignored)) != 0 {
			t.Errorf("mount point %s reported", ignored)
		}
	}
	// A failed statfs has no size, as in node_exporter, rather than a zero.
	if len(series(fams, "node_filesystem_size_bytes", "mountpoint", "/mnt/nfs")) != 0 {
		t.Error("/mnt/nfs has a size")
	}
	if value(t, fams, "node_filesystem_size_bytes", "mountpoint", "/srv/my data", "fstype", "tmpfs") <= 0 {
		t.Error("/srv/my data (escaped in mountinfo) has no size")
	}
	if now := float64(time.Now().Unix()); math.Abs(value(t, fams, "node_time_seconds")-now) > 5 {
		t.Errorf("node_time_seconds far from now")
	}
	for _, f := range fams["steward_collector_success"].Metric {
		if f.Gauge.GetValue() != 1 {
			t.Errorf("collector %s failed: %+v", f.Label[0].GetValue(), set.Status())
		}
	}
	// One systemctl per collection, units as arguments after "--".
	want := "show\n--property=Id,LoadState,ActiveState,SubState,Type\n--\nssh.service\nnginx.service\nsteward-backup.service\napt-daily.timer\nsrv.mount\ntelnet.service\n--end--\n"
	if got := systemctlLog(t, cfg.Systemctl); got != want {
		t.Errorf("systemctl called with\n%s\nwant\n%s", got, want)
	}
}

func TestCPU_utilisationFromDeltas(t *testing.T) {
	t.Parallel()
	proc := t.TempDir()
	write := func(stat string) {
		if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := newCPUCollector(proc)
	set, err := newSet([]Collector{c}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	write("cpu  1000 0 1000 8000 0 0 0 0 0 0\ncpu0 1000 0 1000 8000 0 0 0 0 0 0\n")
	fams := gather(t, set)
	if len(series(fams, "steward_cpu_utilisation_ratio")) != 0 {
		t.Error("utilisation without a previous collection")
	}
	// 1000 ticks pass: 300 user, 100 system, 500 idle, 100 iowait, plus
	// 50 guest ticks that are already inside user.
	write("cpu  1300 0 1100 8500 100 0 0 0 50 0\ncpu0 1300 0 1100 8500 100 0 0 0 50 0\n")
	fams = gather(t, set)
	if got := value(t, fams, "steward_cpu_utilisation_ratio"); math.Abs(got-0.4) > 1e-9 {
		t.Errorf("utilisation = %v, want 0.4", got)
	}
	// Idle stepping back a little is held; the counter stays monotonic.
	write("cpu  1400 0 1100 8499 100 0 0 0 50 0\ncpu0 1400 0 1100 8499 100 0 0 0 50 0\n")
	fams = gather(t, set)
	if got := value(t, fams, "node_cpu_seconds_total", "cpu", "0", "mode", "idle"); got != 85 {
		t.Errorf("idle = %v, want held at 85", got)
	}
	// A CPU replaced by hot-plug (idle far back) restarts from its new counters.
	write("cpu  10 0 10 10 0 0 0 0 0 0\ncpu0 10 0 10 10 0 0 0 0 0 0\n")
	fams = gather(t, set)
	if got := value(t, fams, "node_cpu_seconds_total", "cpu", "0", "mode", "idle"); got != 0.1 {
		t.Errorf("idle after hot-plug = %v, want 0.1", got)
	}
	if len(series(fams, "steward_cpu_utilisation_ratio")) != 0 {
		t.Error("utilisation across counters that went back")
	}
}

func TestNew_rejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*Config){
		"unit option":     func(c *Config) { c.Units = []string{"--all"} },
		"unit glob":       func(c *Config) { c.Units = []string{"ssh*"} },
		"command name":    func(c *Config) { c.Commands = []Command{{Name: "Bad-Name", Args: []string{"true"}}} },
		"command no args": func(c *Config) { c.Commands = []Command{{Name: "x"}} },
		"command twice": func(c *Config) {
			c.Commands = []Command{{Name: "x", Args: []string{"true"}}, {Name: "x", Args: []string{"true"}}}
		},
	} {
		cfg := fixtureConfig(t)
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		} else if !strings.Contains(err.Error(), "\"") {
			t.Errorf("%s: error %q does not name the value", name, err)
		}
	}
}
