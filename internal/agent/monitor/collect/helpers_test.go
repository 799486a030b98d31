package collect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// fixtureConfig points every collector at testdata: /proc and /sys
// copied from a real host, a root file system in a temporary directory
// with all the fixture's mount points but /mnt/nfs (so its statfs fails),
// a fake systemctl that prints testdata/systemctl-show.txt and logs its
// arguments, and an empty textfile directory.
func fixtureConfig(t *testing.T) Config {
	t.Helper()
	root := t.TempDir()
	for _, mp := range []string{"boot", "run/netns", "var/tmp/steward-bench/mnt", "srv/my data"} {
		if err := os.MkdirAll(filepath.Join(root, mp), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		ProcRoot:    filepath.Join(abs, "proc"),
		SysRoot:     filepath.Join(abs, "sys"),
		RootFS:      root,
		Units:       []string{"ssh", "nginx.service", "steward-backup", "apt-daily.timer", "srv.mount", "telnet"},
		Systemctl:   fakeSystemctl(t, filepath.Join(abs, "systemctl-show.txt")),
		TextfileDir: t.TempDir(),
		Timeout:     2 * time.Second,
	}
}

// fakeSystemctl writes a systemctl stand-in that appends its arguments,
// one per line and then "--end--", to the file systemctlLog returns.
func fakeSystemctl(t testing.TB, output string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "systemctl")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" --end-- >> %s/args\ncat %s\n", dir, output)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func systemctlLog(t *testing.T, systemctl string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(systemctl), "args"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newFixtureSet(t *testing.T, cfg Config, extra ...Collector) *Set {
	t.Helper()
	s, err := New(cfg, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gather runs one collection and indexes it by family name.
func gather(t *testing.T, s *Set) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := s.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		if byName[f.GetName()] != nil {
			t.Fatalf("family %s twice", f.GetName())
		}
		byName[f.GetName()] = f
	}
	return byName
}

// series returns the metrics of family name whose labels include all of
// the name=value pairs in labels.
func series(fams map[string]*dto.MetricFamily, name string, labels ...string) []*dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		if hasLabels(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// value is the value of the one series of name with labels; the test
// fails when there is not exactly one.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	ms := series(fams, name, labels...)
	if len(ms) != 1 {
		t.Fatalf("%s{%s}: %d series, want 1", name, strings.Join(labels, ","), len(ms))
	}
	m := ms[0]
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s is not a plain value", name)
	return 0
}

// statusOf is the named collector's status.
func statusOf(t *testing.T, s *Set, name string) CollectorStatus {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no collector %s in %+v", name, s.Status())
	return CollectorStatus{}
}

// writeFile writes a file under dir with the given modification time.
func writeFile(t *testing.T, dir, name, content string, mtime time.Time) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return path
}
