package collect

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProcStat_fixture(t *testing.T) {
	t.Parallel()
	var st procStat
	if err := parseProcStat(readFixture(t, "proc/stat"), &st); err != nil {
		t.Fatal(err)
	}
	// The fixture's lines: "cpu0 375384 0 194399 503073 61808 0 1492 3451 0 0", "btime 1796156768".
	want := []cpuStat{
		{ID: "0", cpuTimes: cpuTimes{User: 3753.84, System: 1943.99, Idle: 5030.73, Iowait: 618.08, SoftIRQ: 14.92, Steal: 34.51}},
		{ID: "1", cpuTimes: cpuTimes{User: 3875.55, System: 2330.75, Idle: 3750.31, Iowait: 1345.91, SoftIRQ: 96.54, Steal: 35.11}},
	}
	if diff := cmp.Diff(want, st.CPUs, cmp.AllowUnexported(cpuStat{}), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("CPUs (-want +got):\n%s", diff)
	}
	if math.Abs(st.Total.User-7629.39) > 1e-9 || st.BootTime != 1796156768 || !st.hasBootTime || st.ProcsRunning != 1 || st.ProcsBlocked != 0 || st.Forks == 0 || st.ContextSwitches == 0 || st.Interrupts == 0 {
		t.Errorf("totals = %+v", st)
	}
}

func TestParseProcStat_errors(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"no cpu line":      "btime 1\n",
		"cpu not a number": "cpu  1 2 x 4\n",
		"cpu too short":    "cpu  1 2 3\n",
		"btime negative":   "cpu 1 2 3 4\nbtime -5\n",
		"procs two fields": "cpu 1 2 3 4\nprocs_running 1 2\n",
	} {
		if err := parseProcStat([]byte(in), &procStat{}); err == nil {
			t.Errorf("%s: parsed %q without error", name, in)
		}
	}
	// An old kernel's four columns are enough.
	var st procStat
	if err := parseProcStat([]byte("cpu  100 0 100 800\ncpu0 100 0 100 800\n"), &st); err != nil || st.CPUs[0].Idle != 8 {
		t.Errorf("four columns: %+v, %v", st, err)
	}
}

func TestParseMeminfo_fixture(t *testing.T) {
	t.Parallel()
	fields, err := parseMeminfo(nil, readFixture(t, "proc/meminfo"), map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fields {
		got[f.Name] = f.Value
	}
	// Expected values are the fixture's kB lines times 1024.
	for line, want := range map[string]string{
		"MemTotal:":       "MemTotal_bytes",
		"MemAvailable:":   "MemAvailable_bytes",
		"SwapTotal:":      "SwapTotal_bytes",
		"SwapFree:":       "SwapFree_bytes",
		"Active(anon):":   "Active_anon_bytes",
		"HugePages_Total": "HugePages_Total",
	} {
		v, ok := got[want]
		if !ok {
			t.Errorf("no %s (from %s) in %v", want, line, got)
			continue
		}
		raw := fixtureField(t, "proc/meminfo", line)
		if strings.HasSuffix(want, "_bytes") {
			raw *= 1024
		}
		if v != raw {
			t.Errorf("%s = %v, want %v", want, v, raw)
		}
	}
	if len(fields) != strings.Count(string(readFixture(t, "proc/meminfo")), "\n") {
		t.Errorf("%d fields for the fixture's lines", len(fields))
	}
}

// fixtureField is the first number on the fixture line that starts with prefix.
func fixtureField(t *testing.T, path, prefix string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(readFixture(t, path)), "\n") {
		if strings.HasPrefix(line, prefix) {
			rest := strings.TrimPrefix(line, prefix)
			rest = strings.TrimPrefix(rest, ":")
			f, _ := nextField([]byte(rest))
			v, ok := parseUint(f)
			if !ok {
				t.Fatalf("fixture line %q", line)
			}
			return float64(v)
		}
	}
	t.Fatalf("no line %q in %s", prefix, path)
	return 0
}

func TestParseMeminfo_errors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "MemTotal 10 kB\n", "MemTotal: ten kB\n", "MemTotal: 10 MB\n", "MemTotal: 10 kB extra\n"} {
		if _, err := parseMeminfo(nil, []byte(in), map[string]string{}); err == nil {
			t.Errorf("parsed %q without error", in)
		}
	}
}

func TestParseLoadAvg(t *testing.T) {
	t.Parallel()
	la, err := parseLoadAvg([]byte("0.95 0.72 2.16 1/108 21860\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loadAvg{Load1: 0.95, Load5: 0.72, Load15: 2.16, Threads: 108}, la); diff != "" {
		t.Error(diff)
	}
	if _, err := parseLoadAvg([]byte("0.95 0.72\n")); err == nil {
		t.Error("short loadavg parsed")
	}
}

func TestParseNetDev_fixture(t *testing.T) {
	t.Parallel()
	devs, err := parseNetDev(nil, readFixture(t, "proc/net/dev"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Device)
	}
	if diff := cmp.Diff([]string{"lo", "ifb0", "ifb1", "eth0", "stwbr0", "stwv-h1", "stwv-h3", "stwv-h2"}, names); diff != "" {
		t.Error(diff)
	}
	// "eth0: 935692229   59279    0    0    0     0          0         0  4715137   43912 …"
	eth0 := devs[3].Values
	if eth0[0] != 935692229 || eth0[1] != 59279 || eth0[8] != 4715137 || eth0[9] != 43912 {
		t.Errorf("eth0 = %v", eth0)
	}
	if _, err := parseNetDev(nil, []byte("h\nh\n eth0: 1 2 3\n")); err == nil {
		t.Error("short line parsed")
	}
}

func TestParseDiskstats_fixture(t *testing.T) {
	t.Parallel()
	disks, err := parseDiskstats(nil, readFixture(t, "proc/diskstats"))
	if err != nil {
		t.Fatal(err)
	}
	// loop0, loop1 and zram0 are left out, as node_exporter does.
	if len(disks) != 1 || disks[0].Device != "vda" || disks[0].N != 17 {
		t.Fatalf("disks = %+v", disks)
	}
	// "254 0 vda 1464351 134980 31061570 53010851 3500643 …"
	if v := disks[0].Values; v[0] != 1464351 || v[2] != 31061570 || v[4] != 3500643 || v[16] != 89074 {
		t.Errorf("vda = %v", v)
	}
	for _, name := range []string{"sda1", "nvme0n1p2", "ram0", "zram1", "loop12", "fd0", "xvda3"} {
		if !diskIgnored.MatchString(name) {
			t.Errorf("%s not ignored", name)
		}
	}
	for _, name := range []string{"sda", "nvme0n1", "vda", "dm-0", "md0", "xvda"} {
		if diskIgnored.MatchString(name) {
			t.Errorf("%s ignored", name)
		}
	}
	if _, err := parseDiskstats(nil, []byte("8 0 sda 1 2 3\n")); err == nil {
		t.Error("short line parsed")
	}
}

func TestParseMountinfo_fixture(t *testing.T) {
	t.Parallel()
	mounts, err := parseMountinfo(readFixture(t, "proc/1/mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	want := []mount{
		{Device: "/dev/vda", MountPoint: "/", FSType: "ext4"},
		{Device: "/dev/vdb1", MountPoint: "/boot", FSType: "ext4", ReadOnly: true},
		{Device: "/dev/vda", MountPoint: "/run/netns", FSType: "ext4"},
		{Device: "/dev/loop0", MountPoint: "/var/tmp/steward-bench/mnt", FSType: "ext4"},
		{Device: "tmpfs", MountPoint: "/srv/my data", FSType: "tmpfs"},
		{Device: "server:/export", MountPoint: "/mnt/nfs", FSType: "nfs4"},
	}
	if diff := cmp.Diff(want, mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if _, err := parseMountinfo([]byte("36 35 98:0 / /mnt rw\n")); err == nil {
		t.Error("line without separator parsed")
	}
	if got := unescapeMount(`/a\040b\011c\134d\04`); got != "/a b\tc\\d\\04" {
		t.Errorf("unescape = %q", got)
	}
}

func TestParseSystemctlShow_fixture(t *testing.T) {
	t.Parallel()
	units := []string{"ssh.service", "nginx.service", "steward-backup.service", "apt-daily.timer", "srv.mount", "telnet.service"}
	states, err := parseSystemctlShow(readFixture(t, "systemctl-show.txt"), units)
	if err != nil {
		t.Fatal(err)
	}
	want := []unitState{
		{Name: "ssh.service", LoadState: "loaded", ActiveState: "active", SubState: "running", Type: "notify"},
		{Name: "nginx.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead", Type: "simple"},
		{Name: "steward-backup.service", LoadState: "loaded", ActiveState: "failed", SubState: "failed", Type: "oneshot"},
		{Name: "apt-daily.timer", LoadState: "loaded", ActiveState: "active", SubState: "waiting"},
		{Name: "srv.mount", LoadState: "loaded", ActiveState: "activating", SubState: "mounting", Type: "ext4"},
		{Name: "telnet.service", LoadState: "masked", ActiveState: "inactive", SubState: "dead", Type: "simple"},
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if _, err := parseSystemctlShow(readFixture(t, "systemctl-show.txt"), units[:2]); err == nil {
		t.Error("six blocks for two units parsed")
	}
	if _, err := parseSystemctlShow([]byte("Id=a.service\nSubState=dead\n"), units[:1]); err == nil {
		t.Error("block without states parsed")
	}
}

func TestUnitName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ssh": "ssh.service", "ssh.service": "ssh.service", "getty@tty1": "getty@tty1.service", "apt-daily.timer": "apt-daily.timer", "var-lib\\x2dx.mount": "var-lib\\x2dx.mount"} {
		if got, err := unitName(in); err != nil || got != want {
			t.Errorf("unitName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "--all", "ssh*", "a b", "a;b", "a/b", strings.Repeat("a", 256)} {
		if _, err := unitName(bad); err == nil {
			t.Errorf("unitName(%q) accepted", bad)
		}
	}
}

func TestDeclaredMaxAge(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"a 1\n":                              time.Hour,
		"# steward_max_age 5m\na 1\n":        5 * time.Minute,
		"a 1\n  # steward_max_age 26h\n":     26 * time.Hour,
		"# steward_max_age 0\n":              0,
		"# HELP a steward_max_age 5m\na 1\n": time.Hour,
	} {
		if got, err := declaredMaxAge([]byte(in), time.Hour); err != nil || got != want {
			t.Errorf("declaredMaxAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"# steward_max_age\n", "# steward_max_age soon\n", "# steward_max_age -5m\n", "# steward_max_age 5m 6m\n"} {
		if _, err := declaredMaxAge([]byte(bad), time.Hour); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("declaredMaxAge(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

// TestParseMountinfo_containerRoot: a container's overlay root is reported
// (node_exporter leaves it out), other overlays are not.
func TestParseMountinfo_containerRoot(t *testing.T) {
	t.Parallel()
	in := "106 83 0:39 / / rw,relatime shared:3 - overlay overlay rw,lowerdir=/a,upperdir=/b,workdir=/c\n" +
		"120 106 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw\n" +
		"121 106 0:51 / /srv/image rw - overlay overlay rw\n"
	mounts, err := parseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []mount{{Device: "overlay", MountPoint: "/", FSType: "overlay"}}; !cmp.Equal(want, mounts) {
		t.Errorf("mounts = %+v, want only the overlay root", mounts)
	}
}
