package collect

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

// camelCaseComplaint is the one finding promtool has on node_exporter's own
// output: /proc/meminfo's field names (node_memory_MemAvailable_bytes),
// which node_exporter keeps and so do we, so that dashboards and rules
// work unchanged.
var camelCaseComplaint = regexp.MustCompile(`^node_memory_[A-Za-z0-9_]+ metric names should be written in 'snake_case' not 'camelCase'$`)

// TestGather_promtoolCheckMetrics runs `promtool check metrics` (Debian
// package prometheus) on a full collection: this host's /proc and /sys,
// the fixture units, a textfile and custom commands of both kinds.
func TestGather_promtoolCheckMetrics(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	fixture := fixtureConfig(t)
	host := Config{
		Units:       fixture.Units,
		Systemctl:   fixture.Systemctl, // this host may run without systemd
		TextfileDir: fixture.TextfileDir,
		Commands: []Command{
			{Name: "queue_depth", Args: []string{"echo", "12"}},
			{Name: "jobs", Args: []string{"printf", "# HELP app_jobs_total Jobs done.\n# TYPE app_jobs_total counter\napp_jobs_total{queue=\"mail\"} 5\n"}},
		},
	}
	writeFile(t, host.TextfileDir, "apt.prom", "# HELP apt_upgrades_pending Apt packages pending updates.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending{origin=\"Debian\"} 3\n", time.Now())
	for name, cfg := range map[string]Config{"host": host, "fixture": fixture} {
		t.Run(name, func(t *testing.T) {
			set := newFixtureSet(t, cfg)
			// Twice, so that the utilisation gauge (a delta) is in it.
			_, _ = set.Gather(context.Background())
			time.Sleep(20 * time.Millisecond)
			fams, err := set.Gather(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range set.Status() {
				if !st.OK {
					t.Errorf("collector %s failed: %s", st.Name, st.Error)
				}
			}
			var text bytes.Buffer
			enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range fams {
				if err := enc.Encode(f); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = &text
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			var camel int
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				switch {
				case line == "":
				case camelCaseComplaint.MatchString(line):
					camel++
				default:
					t.Errorf("promtool: %s", line)
				}
			}
			// Only the meminfo families, each once: nothing else was excused.
			var meminfo int
			for _, f := range fams {
				if strings.HasPrefix(f.GetName(), "node_memory_") && regexp.MustCompile(`[a-z][A-Z]`).MatchString(f.GetName()) {
					meminfo++
				}
			}
			if camel != meminfo {
				t.Errorf("promtool complained of camelCase %d times for %d camelCase meminfo families", camel, meminfo)
			}
		})
	}
}
