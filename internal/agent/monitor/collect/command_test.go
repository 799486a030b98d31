package collect

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func TestCommand_hangs(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	cfg := fixtureConfig(t)
	cfg.Commands = []Command{{
		Name: "stuck",
		// The shell's child, not the shell, holds standard output open: only
		// killing the whole process group stops it.
		Args:    []string{"sh", "-c", `echo half_done 1; sleep 60 & echo $! > ` + pidFile + `; wait`},
		Timeout: 300 * time.Millisecond,
	}}
	set := newFixtureSet(t, cfg)

	start := time.Now()
	fams := gather(t, set)
	if elapsed := time.Since(start); elapsed > 300*time.Millisecond+time.Second {
		t.Errorf("Gather took %s with a 300ms command timeout", elapsed)
	}
	if value(t, fams, "steward_collector_success", "collector", "custom_stuck") != 0 {
		t.Error("hanging command reported as a success")
	}
	if len(series(fams, "half_done")) != 0 {
		t.Error("what the command printed before hanging was served")
	}
	if st := statusOf(t, set, "custom_stuck"); !strings.Contains(st.Error, "timed out after 300ms") {
		t.Errorf("status = %+v", st)
	}
	// The others were on time: all succeeded, each well within the timeout.
	for _, st := range set.Status() {
		if st.Name != "custom_stuck" && (!st.OK || st.Duration > 150*time.Millisecond) {
			t.Errorf("collector %s next to a hanging command: %+v", st.Name, st)
		}
	}
	// The command and its child were killed, not left sleeping.
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("command %d still running after its timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCommand_garbage(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		out, wantErr string
	}{
		"words":             {"hello world\n", `line 1 "hello world"`},
		"good then garbage": {"good_total 1\ngood_total{a=\"b\"} 2\nthis is not a metric\n", `line 3 "this is not a metric"`},
		"bad value":         {"# TYPE x gauge\nx one\n", `line 2 "x one"`},
		"timestamp":         {"x 1 1700000000000\n", "timestamp"},
		"series twice":      {"x{a=\"1\"} 1\nx{a=\"1\"} 2\n", `x{a="1"} is given twice`},
		"only comments":     {"# nothing here\n", "no samples"},
		"empty":             {"  \n", "no output"},
		"binary":            {"\x00\x01\x02\xff", "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(out, []byte(c.out), 0o644); err != nil {
				t.Fatal(err)
			}
			set := mustSet(t, mustCommand(t, Command{Name: "garbage", Args: []string{"cat", out}}))
			fams := gather(t, set)
			for name := range fams {
				if !strings.HasPrefix(name, "steward_collector_") {
					t.Errorf("family %s served from bad output", name)
				}
			}
			st := statusOf(t, set, "custom_garbage")
			t.Log(st.Error)
			if st.OK || !strings.Contains(st.Error, c.wantErr) {
				t.Errorf("status = %+v, want an error with %s", st, c.wantErr)
			}
		})
	}
}

func mustSet(t *testing.T, cs ...Collector) *Set {
	t.Helper()
	s, err := newSet(cs, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCommand_tenMegabytesIsABoundedRead(t *testing.T) {
	t.Parallel()
	cc, err := newCommandCollector(Command{Name: "flood", Args: []string{"head", "-c", "10485760", "/dev/zero"}}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	set := mustSet(t, cc)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fams := gather(t, set)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	st := statusOf(t, set, "custom_flood")
	if st.OK || !strings.Contains(st.Error, "output exceeds 65536 bytes; killed") {
		t.Errorf("status = %+v", st)
	}
	if len(fams) != 2 {
		t.Errorf("%d families from a flooding command", len(fams))
	}
	// Reading all 10 MiB would allocate at least that much; the bounded
	// read keeps about MaxCommandOutput.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("one collection allocated %d bytes reading a 10 MiB output", alloc)
	}
	if elapsed > time.Second {
		t.Errorf("flooding command took %s to stop", elapsed)
	}
}

func TestCommand_output(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := writeFile(t, dir, "text", "# HELP queue_jobs Jobs waiting.\n# TYPE queue_jobs gauge\nqueue_jobs{queue=\"mail\"} 3\nqueue_jobs{queue=\"web\"} 4\n# TYPE latency_seconds histogram\nlatency_seconds_bucket{le=\"0.5\"} 1\nlatency_seconds_bucket{le=\"+Inf\"} 2\nlatency_seconds_sum 1.5\nlatency_seconds_count 2\n", time.Now())
	set := mustSet(t,
		mustCommand(t, Command{Name: "answer", Args: []string{"echo", " 42 "}}),
		mustCommand(t, Command{Name: "text", Args: []string{"cat", text}}),
		mustCommand(t, Command{Name: "fails", Args: []string{"sh", "-c", "echo partial_total 1; echo 'disk not mounted' >&2; exit 3"}}),
		mustCommand(t, Command{Name: "env", Args: []string{"sh", "-c", `test "$LC_ALL" = C && test -z "$HOME" && echo 1`}}),
	)
	fams := gather(t, set)
	if f := fams["steward_custom_answer"]; f == nil || f.GetType() != dto.MetricType_GAUGE || value(t, fams, "steward_custom_answer") != 42 {
		t.Errorf("single number: %v", f)
	}
	if value(t, fams, "queue_jobs", "queue", "web") != 4 || fams["queue_jobs"].GetHelp() != "Jobs waiting." {
		t.Errorf("text format gauge: %v", fams["queue_jobs"])
	}
	if h := fams["latency_seconds"]; h == nil || h.GetType() != dto.MetricType_HISTOGRAM || h.Metric[0].GetHistogram().GetSampleCount() != 2 {
		t.Errorf("text format histogram: %v", h)
	}
	if len(series(fams, "partial_total")) != 0 {
		t.Error("output of a failed command served")
	}
	if st := statusOf(t, set, "custom_fails"); !strings.Contains(st.Error, "exit status 3: disk not mounted") {
		t.Errorf("failed command status = %+v", st)
	}
	if value(t, fams, "steward_custom_env") != 1 {
		t.Error("command environment is not the fixed one")
	}
}

func mustCommand(t *testing.T, c Command) *commandCollector {
	t.Helper()
	cc, err := newCommandCollector(c, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

func TestCommand_cannotDisplaceHostMetric(t *testing.T) {
	t.Parallel()
	cfg := fixtureConfig(t)
	cfg.Commands = []Command{{Name: "liar", Args: []string{"echo", "node_load1 99"}}}
	set := newFixtureSet(t, cfg)
	fams := gather(t, set)
	if got := value(t, fams, "node_load1"); got != fixtureLoad1(t) {
		t.Errorf("node_load1 = %v from a custom command", got)
	}
	if st := statusOf(t, set, "custom_liar"); !strings.Contains(st.Error, "node_load1 is already provided by collector loadavg") {
		t.Errorf("status = %+v", st)
	}
}

// alive reports whether pid runs (a zombie waiting for init to reap it
// does not).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}

// TestSet_SetCommands: custom metric commands come and go between
// collections; an unchanged one keeps its collector.
func TestSet_SetCommands(t *testing.T) {
	t.Parallel()
	set := mustSet(t)
	a := Command{Name: "a", Args: []string{"echo", "1"}}
	if err := set.SetCommands([]Command{a, {Name: "b", Args: []string{"echo", "2"}}}); err != nil {
		t.Fatal(err)
	}
	fams := gather(t, set)
	if value(t, fams, "steward_custom_a") != 1 || value(t, fams, "steward_custom_b") != 2 {
		t.Fatalf("after adding a and b: %v", fams)
	}
	before := set.entries[0].c
	if err := set.SetCommands([]Command{a, {Name: "c", Args: []string{"echo", "3"}}}); err != nil {
		t.Fatal(err)
	}
	fams = gather(t, set)
	if len(series(fams, "steward_custom_b")) != 0 || value(t, fams, "steward_custom_c") != 3 || value(t, fams, "steward_custom_a") != 1 {
		t.Errorf("after replacing b with c: %v", fams)
	}
	if set.entries[0].c != before {
		t.Error("an unchanged command got a new collector")
	}
	if err := set.SetCommands([]Command{{Name: "Bad name", Args: []string{"true"}}}); err == nil {
		t.Error("a command with a bad name was accepted")
	}
	if st := set.Status(); len(st) != len(set.entries) {
		t.Errorf("%d statuses for %d collectors", len(st), len(set.entries))
	}
}
