package alert

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const exampleTest = "../../../../examples/alerting/root_disk_filling.test.yaml"

func TestRunTestFile_example(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	if err := RunTestFile(exampleTest, &out); err != nil {
		t.Fatalf("RunTestFile: %v\n%s", err, out.String())
	}
	// The states over time, as promtool test rules shows them.
	for _, want := range []string{
		"root_disk_filling.test.yaml: root fills up, hovers at the threshold, is cleaned up",
		"1m0s  root_disk_filling    inactive -> pending  value=9e+08",
		"2m0s  root_disk_filling    pending  -> firing   value=9e+08",
		"2m0s  notify ops: firing root_disk_filling {summary=\"/ on web1 has 858.3MiB free (alert below 953.7MiB)\"}",
		"3m10s  root_disk_filling    firing   -> resolved value=3e+09",
		"SUCCESS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "notify ops") != 2 {
		t.Errorf("want exactly one firing and one resolve notification:\n%s", out.String())
	}
}

func TestRunTestFile_mismatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rule, err := os.ReadFile("../../../../examples/alerting/root_disk_filling.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rule.json"), rule, 0o600); err != nil {
		t.Fatal(err)
	}
	test := `
rule_files: [rule.json]
tests:
  - series:
      - metric: node_filesystem_avail_bytes
        labels: {mountpoint: /}
        values: 9e8x10
    expect:
      - at: 30s
        alerts: [{labels: {mountpoint: /}, state: firing}]
      - at: 1m
        notifications: [{channel: pager, state: firing}]
      - at: 1m10s
        alerts: [{labels: {mountpoint: /}, state: firing}]
`
	path := filepath.Join(dir, "t.yaml")
	if err := os.WriteFile(path, []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = RunTestFile(path, &out)
	if err == nil || !strings.Contains(err.Error(), "2 expectation(s) not met") {
		t.Fatalf("RunTestFile = %v, want 2 expectations not met\n%s", err, out.String())
	}
	for _, want := range []string{
		`30s  FAILED: want firing alert root_disk_filling{mountpoint="/"}, got pending root_disk_filling{`,
		`30s  FAILED: unexpected pending alert root_disk_filling{`,
		`1m0s  FAILED: want notification to pager: firing root_disk_filling{}{}, got ops: firing root_disk_filling{`,
		`1m0s  FAILED: unexpected notification to ops: firing root_disk_filling{`,
		"1m10s  ok",
		"FAILED: 2 expectation(s) not met",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunTestFile_badFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown field", "rules: [{name: r, metric: m, op: '>', threshold: 1}]\ntests: [{serie: []}]", `unknown field "serie"`},
		{"invalid rule", "rules: [{name: r, metric: m, op: '>', threshold: 1, for: 5s}]\ntests: [{interval: 10s}]", "for 5s is shorter than the collection interval 10s"},
		{"bad values", "rules: [{name: r, metric: m, op: '>', threshold: 1}]\ntests: [{series: [{metric: m, values: '1 two'}]}]", `value "two": want a number`},
		{"off-step expectation", "rules: [{name: r, metric: m, op: '>', threshold: 1}]\ntests: [{expect: [{at: 15s}]}]", "expect at 15s: want a multiple of the interval 10s"},
		{"no tests", "rules: [{name: r, metric: m, op: '>', threshold: 1}]", "want rule_files (or rules) and tests"},
		{"missing rule file", "rule_files: [nope.json]\ntests: [{}]", "read rule file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "t.yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			err := RunTestFile(path, &strings.Builder{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("RunTestFile = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestExpandValues(t *testing.T) {
	t.Parallel()
	show := func(vs []testValue) string {
		var parts []string
		for _, v := range vs {
			switch {
			case v.missing:
				parts = append(parts, "_")
			case v.stale:
				parts = append(parts, "stale")
			default:
				parts = append(parts, strconv.FormatFloat(v.v, 'g', -1, 64))
			}
		}
		return strings.Join(parts, " ")
	}
	for in, want := range map[string]string{
		"-2+4x3":        "-2 2 6 10",
		"1-1x2":         "1 0 -1",
		"5x2":           "5 5 5",
		"1 _x3 stale 4": "1 _ _ _ stale 4",
		"1e3+1e2x1":     "1000 1100",
		"2e-1":          "0.2",
	} {
		got, err := expandValues(in)
		if err != nil {
			t.Errorf("expandValues(%q): %v", in, err)
			continue
		}
		if d := cmp.Diff(want, show(got)); d != "" {
			t.Errorf("expandValues(%q) (-want +got):\n%s", in, d)
		}
	}
	for _, bad := range []string{"1+x3", "ax3", "1+1xz", "1+1x-1"} {
		if _, err := expandValues(bad); err == nil {
			t.Errorf("expandValues(%q) = nil error", bad)
		}
	}
}
