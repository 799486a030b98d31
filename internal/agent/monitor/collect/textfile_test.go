package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// textfileSet reads dir with the default freshness of an hour.
func textfileSet(t *testing.T, dir string) *Set {
	t.Helper()
	return mustSet(t, newTextfileCollector(dir, time.Hour))
}

func TestTextfile_malformedLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	good := writeFile(t, dir, "good.prom", "# HELP apt_upgrades_pending Pending upgrades.\n# TYPE apt_upgrades_pending gauge\napt_upgrades_pending 4\n", now)
	bad := writeFile(t, dir, "bad.prom", "smart_ok{disk=\"sda\"} 1\nsmart_ok{disk=\"sdb\"} 1\nsmart_ok{disk=sdc} 0\n", now)
	writeFile(t, dir, "notes.txt", "not a textfile\n", now)
	set := textfileSet(t, dir)
	fams := gather(t, set)

	if value(t, fams, "apt_upgrades_pending") != 4 {
		t.Error("the good file's sample is gone")
	}
	if len(series(fams, "smart_ok")) != 0 {
		t.Error("the malformed file's valid lines were served (want all or nothing)")
	}
	if value(t, fams, "node_textfile_scrape_error") != 1 {
		t.Error("node_textfile_scrape_error is not 1")
	}
	if got := value(t, fams, "node_textfile_mtime_seconds", "file", good); got != float64(now.Unix()) {
		t.Errorf("good mtime = %v", got)
	}
	if len(series(fams, "node_textfile_mtime_seconds", "file", bad)) != 0 {
		t.Error("the malformed file has an mtime, so it looks fresh")
	}
	st := statusOf(t, set, "textfile")
	if st.OK || !strings.Contains(st.Error, bad) || !strings.Contains(st.Error, `line 3 "smart_ok{disk=sdc} 0"`) {
		t.Errorf("status = %+v, want the file and its line 3", st)
	}
}

func TestTextfile_staleFileIsNoData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	stale := writeFile(t, dir, "stale.prom", "backup_last_success_timestamp_seconds 1.7e9\n", old)
	declared := writeFile(t, dir, "daily.prom", "# steward_max_age 26h\ndaily_job_ok 1\n", old)
	short := writeFile(t, dir, "short.prom", "# steward_max_age 1m\nminutely_ok 1\n", now.Add(-5*time.Minute))
	never := writeFile(t, dir, "facts.prom", "# steward_max_age 0\nhardware_dimms 8\n", now.Add(-1000*time.Hour))
	fresh := writeFile(t, dir, "fresh.prom", "fresh_ok 1\n", now)
	set := textfileSet(t, dir)
	fams := gather(t, set)

	for file, name := range map[string]string{stale: "backup_last_success_timestamp_seconds", short: "minutely_ok"} {
		if len(series(fams, name)) != 0 {
			t.Errorf("%s served from stale %s", name, file)
		}
		if value(t, fams, "steward_textfile_stale", "file", file) != 1 {
			t.Errorf("%s not marked stale", file)
		}
	}
	for file, name := range map[string]string{declared: "daily_job_ok", never: "hardware_dimms", fresh: "fresh_ok"} {
		if len(series(fams, name)) != 1 {
			t.Errorf("%s from fresh %s not served", name, file)
		}
		if value(t, fams, "steward_textfile_stale", "file", file) != 0 {
			t.Errorf("%s marked stale", file)
		}
	}
	// The stale file's age is still exported, so "how old" can be alerted on.
	if got := value(t, fams, "node_textfile_mtime_seconds", "file", stale); got != float64(old.Unix()) {
		t.Errorf("stale mtime = %v, want %v", got, old.Unix())
	}
	// Staleness is no data, not an error.
	if value(t, fams, "node_textfile_scrape_error") != 0 || !statusOf(t, set, "textfile").OK {
		t.Errorf("stale files made an error: %+v", statusOf(t, set, "textfile"))
	}

	// Rewritten, the file is served again.
	writeFile(t, dir, "stale.prom", "backup_last_success_timestamp_seconds 1.8e9\n", time.Now())
	fams = gather(t, set)
	if value(t, fams, "backup_last_success_timestamp_seconds") != 1.8e9 {
		t.Error("rewritten file not served")
	}
}

func TestTextfile_conflicts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	writeFile(t, dir, "a.prom", "# TYPE jobs_total counter\njobs_total{job=\"a\"} 1\n", now)
	writeFile(t, dir, "b.prom", "# TYPE jobs_total gauge\njobs_total{job=\"b\"} 2\nb_only 1\n", now)
	writeFile(t, dir, "c.prom", "# TYPE jobs_total counter\njobs_total{job=\"a\",extra=\"\"} 3\n", now)
	writeFile(t, dir, "d.prom", "jobs_total{job=\"d\"} 4\nx 1 1700000000000\n", now)
	writeFile(t, dir, "e.prom", "# TYPE jobs_total counter\njobs_total{job=\"e\"} 5\n", now)
	set := textfileSet(t, dir)
	fams := gather(t, set)
	// a and e merge into one family; b (another type), c (a's series
	// again: an empty label is no label) and d (a timestamp) are refused whole.
	if got := len(series(fams, "jobs_total")); got != 2 || value(t, fams, "jobs_total", "job", "e") != 5 {
		t.Errorf("jobs_total = %v", fams["jobs_total"])
	}
	if len(series(fams, "b_only")) != 0 {
		t.Error("b.prom partly served")
	}
	st := statusOf(t, set, "textfile")
	for _, want := range []string{"b.prom: metric jobs_total has type gauge here but counter in " + filepath.Join(dir, "a.prom"), `c.prom: metric jobs_total{job="a"} is given twice`, "d.prom: metric x has a timestamp"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("status %q lacks %q", st.Error, want)
		}
	}
}

func TestTextfile_directoryAndSize(t *testing.T) {
	t.Parallel()
	// No directory: nothing to serve, no error (the default on a host
	// without textfiles).
	set := textfileSet(t, filepath.Join(t.TempDir(), "missing"))
	fams := gather(t, set)
	if value(t, fams, "node_textfile_scrape_error") != 0 || !statusOf(t, set, "textfile").OK {
		t.Error("missing directory is an error")
	}

	dir := t.TempDir()
	big := strings.Repeat("big_gauge 1\n", MaxTextfileSize/12+1)
	writeFile(t, dir, "big.prom", big, time.Now())
	if err := os.Mkdir(filepath.Join(dir, "dir.prom"), 0o755); err != nil {
		t.Fatal(err)
	}
	set = textfileSet(t, dir)
	fams = gather(t, set)
	if len(series(fams, "big_gauge")) != 0 || value(t, fams, "node_textfile_scrape_error") != 1 {
		t.Error("an oversized textfile was read")
	}
	st := statusOf(t, set, "textfile")
	if !strings.Contains(st.Error, "big.prom: larger than 1048576 bytes") || !strings.Contains(st.Error, "dir.prom: not a regular file") {
		t.Errorf("status = %+v", st)
	}
}
