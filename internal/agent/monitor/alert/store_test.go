package alert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func TestEngine_restartWhileFiring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := diskRuleForZero()
	r.RepeatInterval = "5m"
	h := newHarness(t, dir, r)
	h.runDisk(root, 95, 95)
	// The agent dies without Close (a crash, a power cut after the write).
	h.now = h.now.Add(2 * time.Minute)
	h.start(r)
	h.runDisk(root, 95, 95, 95)
	if got := h.state("disk_full"); got != "firing" {
		t.Errorf("state after restart = %s, want firing", got)
	}
	h.runDisk(root, 50)
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent across the restart (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"inactive>firing", "firing>resolved"}, transitions(h.e.History(api.AlertHistoryQuery{}))); d != "" {
		t.Errorf("history across the restart (-want +got):\n%s", d)
	}
}

func TestEngine_restartKeepsRepeatSchedule(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.RepeatInterval = "1m"
	h := newHarness(t, t.TempDir(), r)
	h.runDisk(root, 95, 95, 95) // sent at 0s
	h.start(r)
	at := h.runDiskAt(root, 95, 95, 95, 95, 95) // 30s..70s
	if d := cmp.Diff([]string{"1m0s ops:firing(repeat)"}, at); d != "" {
		t.Errorf("sent after restart (-want +got):\n%s", d)
	}
}

// TestEngine_restartWhilePending: the pending time seen before the stop
// counts, the downtime does not; the alert fires once the condition has
// been seen holding for `for` in total.
func TestEngine_restartWhilePending(t *testing.T) {
	t.Parallel()
	r := diskRule()
	r.For = "1m"
	h := newHarness(t, t.TempDir(), r)
	h.runDisk(root, 95, 95, 95, 95)     // pending from 0s, seen holding 30s at 30s
	if err := h.e.Close(); err != nil { // a clean stop
		t.Fatal(err)
	}
	h.now = h.now.Add(5 * time.Minute) // down for five minutes
	h.start(r)
	var states []string
	for range 5 {
		h.runDisk(root, 95)
		states = append(states, h.state("disk_full"))
	}
	// Seen holding 30s, 40s, 50s, 60s: fires at the fourth evaluation, not
	// at the first (the downtime counted) nor at the seventh (restarted).
	if d := cmp.Diff([]string{"pending", "pending", "pending", "firing", "firing"}, states); d != "" {
		t.Errorf("states after restart (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"inactive>pending", "pending>firing"}, transitions(h.e.History(api.AlertHistoryQuery{}))); d != "" {
		t.Errorf("history (-want +got):\n%s", d)
	}
}

func TestEngine_crashWhilePendingLosesAtMostAMinute(t *testing.T) {
	t.Parallel()
	r := diskRule()
	r.For = "5m"
	h := newHarness(t, t.TempDir(), r)
	for range 10 { // 0s..90s; the timer is written at 60s
		h.runDisk(root, 95)
	}
	h.start(r) // crash: no Close
	fired := time.Duration(0)
	for i := 0; fired == 0 && i < 60; i++ {
		h.runDisk(root, 95)
		if h.state("disk_full") == "firing" {
			fired = time.Duration(i) * step
		}
	}
	// 60s of the 5m were saved: 240s more must be seen.
	if fired != 240*time.Second {
		t.Errorf("fired %s after the restart, want 4m0s", fired)
	}
}

func TestEngine_restartWhilePendingConditionGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), diskRule())
	h.runDisk(root, 95, 95)
	h.start(diskRule())
	h.runDisk(root, 50)
	if got := h.state("disk_full"); got != "inactive" {
		t.Errorf("state = %s, want inactive", got)
	}
}

func TestEngine_ruleRemovedWhileAgentDown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), diskRuleForZero())
	h.runDisk(root, 95)
	h.start() // the rule file was deleted while the agent was down
	h.eval()
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_damagedState(t *testing.T) {
	t.Parallel()
	valid := func(t *testing.T) []byte {
		dir := t.TempDir()
		h := newHarness(t, dir, diskRuleForZero())
		h.runDisk(root, 95)
		b, err := os.ReadFile(filepath.Join(dir, StateFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data func(t *testing.T) []byte
		want string
	}{
		{"garbage", func(*testing.T) []byte { return []byte("\x00\x01 not json") }, "decode"},
		{"truncated", func(t *testing.T) []byte { b := valid(t); return b[:len(b)/2] }, "decode"},
		{"empty", func(*testing.T) []byte { return nil }, "decode"},
		{"unknown state", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(valid(t)), `"state":"firing"`, `"state":"on fire"`, 1))
		}, "not an alert the engine writes"},
		{"other version", func(t *testing.T) []byte {
			return []byte(strings.Replace(string(valid(t)), `"version":1`, `"version":7`, 1))
		}, "version 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			data := tc.data(t)
			if err := os.WriteFile(filepath.Join(dir, StateFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, dir, diskRuleForZero())
			problem := h.e.Problem()
			if !strings.Contains(problem, tc.want) || !strings.Contains(problem, "damaged file is") {
				t.Errorf("Problem() = %q, want it to report %q and where the file went", problem, tc.want)
			}
			aside, _ := filepath.Glob(filepath.Join(dir, StateFile+".damaged-*"))
			if len(aside) != 1 {
				t.Fatalf("files moved aside: %v, want one", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != string(data) {
				t.Errorf("the file moved aside does not hold the damaged content")
			}
			// The engine starts clean and works: the alert fires anew, and
			// the state it writes reads back.
			h.runDisk(root, 95)
			if d := cmp.Diff([]string{"ops:firing"}, sentStates(h.sent)); d != "" {
				t.Errorf("sent (-want +got):\n%s", d)
			}
			h.start(diskRuleForZero())
			if p := h.e.Problem(); p != "" {
				t.Errorf("Problem() after a clean write = %q", p)
			}
		})
	}
}

func TestEngine_stateFileModesAndBound(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "alerts")
	h := newHarness(t, dir, diskRuleForZero())
	h.cfg.HistoryLimit = 5
	h.start(diskRuleForZero())
	for range 20 {
		h.runDisk(root, 95, 50)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
	fi, err := os.Stat(filepath.Join(dir, StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil || len(sf.History) != 5 {
		t.Errorf("persisted history: %d entries (%v), want the 5 newest", len(sf.History), err)
	}
	if got := len(h.e.History(api.AlertHistoryQuery{})); got != 5 {
		t.Errorf("History() = %d entries, want 5", got)
	}
}
