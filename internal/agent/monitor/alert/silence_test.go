package alert

import (
	"testing"
	"time"
	_ "time/tzdata" // the DST test needs Europe/Berlin whatever the machine has

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func fixedSilence(name string, from, to time.Time, ms ...api.LabelMatcher) api.Silence {
	return api.Silence{Name: name, Matchers: ms, StartsAt: from.Format(time.RFC3339), EndsAt: to.Format(time.RFC3339), Comment: "disk swap"}
}

var onDisk = api.LabelMatcher{Label: "alertname", Op: "=", Value: "disk_full"}

// TestEngine_silenceExpiresWhileFiring: an alert that fires under a
// silence is recorded but not sent, and goes out as soon as the silence
// expires while it still fires (alertmanager#2896).
func TestEngine_silenceExpiresWhileFiring(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	if err := h.e.SetSilences([]api.Silence{fixedSilence("maint", t0.Add(-time.Hour), t0.Add(30*time.Second), onDisk)}); err != nil {
		t.Fatal(err)
	}
	h.runDisk(root, 95, 95)
	if len(h.sent) != 0 {
		t.Fatalf("sent %v under the silence", sentStates(h.sent))
	}
	hist := h.e.History(api.AlertHistoryQuery{})
	if len(hist) != 1 || hist[0].To != api.AlertFiring || !cmp.Equal(hist[0].Silenced, []string{"maint"}) {
		t.Errorf("history = %+v, want the firing recorded as silenced by maint", hist)
	}
	if a := h.e.Alerts(); len(a) != 1 || !cmp.Equal(a[0].Silenced, []string{"maint"}) {
		t.Errorf("Alerts() = %+v, want the alert shown as silenced", a)
	}
	obs, ok := h.e.SilenceStatus("maint", h.now)
	if !ok || !obs.Active || len(obs.Silenced) != 1 {
		t.Errorf("SilenceStatus = %+v, %v", obs, ok)
	}
	h.runDisk(root, 95) // 20s: still silenced
	h.runDisk(root, 95) // 30s: the silence has ended
	if d := cmp.Diff([]string{"ops:firing"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
	if !h.sent[0].Time.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("sent at %s, want at the first evaluation after the silence, 30s", h.sent[0].Time.Sub(t0))
	}
}

// TestEngine_silenceOverFiringAlertExpires: an alert already notified is
// silenced while it fires; when the silence expires and it still fires,
// it goes out again at once, not after repeat_interval (alertmanager#2896).
func TestEngine_silenceOverFiringAlertExpires(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.RepeatInterval = "4h"
	h := newHarness(t, t.TempDir(), r)
	at := h.runDiskAt(root, 95) // notified at 0s
	if err := h.e.SetSilences([]api.Silence{fixedSilence("ack", t0.Add(step), t0.Add(4*step), onDisk)}); err != nil {
		t.Fatal(err)
	}
	at = append(at, h.runDiskAt(root, 95, 95)...) // 10s, 20s: silenced
	h.start(r)                                    // survives a restart
	if err := h.e.SetSilences([]api.Silence{fixedSilence("ack", t0.Add(step), t0.Add(4*step), onDisk)}); err != nil {
		t.Fatal(err)
	}
	at = append(at, h.runDiskAt(root, 95, 95, 95)...) // 30s silenced, 40s expired, 50s
	if d := cmp.Diff([]string{"0s ops:firing", "40s ops:firing"}, at); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_silenceHoldsRepeatsButNotResolves(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.RepeatInterval = "1m"
	h := newHarness(t, "", r)
	h.runDisk(root, 95) // sent at 0s
	if err := h.e.SetSilences([]api.Silence{fixedSilence("maint", t0, t0.Add(time.Hour), onDisk)}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		h.runDisk(root, 95)
	}
	h.runDisk(root, 50)
	// No repeat under the silence; the resolve of an alert the channel knows
	// fires still goes out.
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}

func TestEngine_silenceOnlyMatching(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	s := fixedSilence("srv", t0, t0.Add(time.Hour), onDisk, api.LabelMatcher{Label: "mountpoint", Op: "=~", Value: "/srv.*"})
	if err := h.e.SetSilences([]api.Silence{s}); err != nil {
		t.Fatal(err)
	}
	h.set("disk_used_percent", map[string]string{"mountpoint": "/srv/data"}, 95)
	h.set("disk_used_percent", root, 95)
	h.eval()
	if len(h.sent) != 1 || len(h.sent[0].Alerts) != 1 || h.sent[0].Alerts[0].Labels["mountpoint"] != "/" {
		t.Errorf("sent %+v, want only the alert of / (not silenced)", h.sent)
	}
}

func TestEngine_silenceAnnouncements(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), diskRuleForZero())
	s := fixedSilence("maint", t0.Add(step), t0.Add(3*step), onDisk)
	s.NotifyChannels = []string{"ops"}
	set := func() {
		if err := h.e.SetSilences([]api.Silence{s}); err != nil {
			t.Fatal(err)
		}
	}
	set()
	h.eval() // 0s: not yet
	h.eval() // 10s: starts
	h.start(diskRuleForZero())
	set()
	h.eval() // 20s: a restart does not announce it again
	h.eval() // 30s: ends
	var got []string
	for _, n := range h.sent {
		for _, a := range n.Alerts {
			got = append(got, n.Time.Sub(t0).String()+" "+a.Rule+" "+a.State+" "+a.Annotations["summary"])
		}
	}
	want := []string{
		"10s silence:maint firing silence maint started on web1: disk swap",
		"30s silence:maint resolved silence maint ended on web1: disk swap",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("announcements (-want +got):\n%s", d)
	}
}

func TestEngine_silenceRemovedWhileActiveIsAnnouncedEnded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "", diskRuleForZero())
	s := fixedSilence("maint", t0, t0.Add(time.Hour), onDisk)
	s.NotifyChannels = []string{"ops"}
	if err := h.e.SetSilences([]api.Silence{s}); err != nil {
		t.Fatal(err)
	}
	h.eval()
	if err := h.e.SetSilences(nil); err != nil {
		t.Fatal(err)
	}
	h.eval()
	if d := cmp.Diff([]string{"ops:firing", "ops:resolved"}, sentStates(h.sent)); d != "" {
		t.Errorf("announcements (-want +got):\n%s", d)
	}
}

// TestSilence_recurringAcrossDST: a maintenance window runs from each
// scheduled wall-clock time in the host's zone for the duration of elapsed
// time, across both changes of daylight saving time in Europe/Berlin (2026:
// 29 March 02:00 CET → 03:00 CEST; 25 October 03:00 CEST → 02:00 CET).
func TestSilence_recurringAcrossDST(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	compile := func(sched, dur string) *silence {
		s, err := compileSilence(api.Silence{Name: "w", Matchers: []api.LabelMatcher{onDisk}, Schedule: sched, Duration: dur, Comment: "nightly"})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	nightly := compile("0 1 * * *", "3h")
	late := compile("30 2 * * *", "1h")
	for _, tc := range []struct {
		s      *silence
		at     string
		active bool
		start  string // the window in force or next, as RFC 3339 in Berlin
	}{
		// A day in winter time: 01:00-04:00 CET.
		{nightly, "2026-03-28T03:59:00+01:00", true, "2026-03-28T01:00:00+01:00"},
		{nightly, "2026-03-28T04:00:00+01:00", false, "2026-03-29T01:00:00+01:00"},
		// Clocks go forward at 02:00: three hours from 01:00 CET end at 05:00 CEST.
		{nightly, "2026-03-29T04:30:00+02:00", true, "2026-03-29T01:00:00+01:00"},
		{nightly, "2026-03-29T05:00:00+02:00", false, "2026-03-30T01:00:00+02:00"},
		// Summer time: 01:00-04:00 CEST.
		{nightly, "2026-03-30T03:59:00+02:00", true, "2026-03-30T01:00:00+02:00"},
		{nightly, "2026-03-30T04:00:00+02:00", false, "2026-03-31T01:00:00+02:00"},
		// 02:30 does not exist on 29 March: no window that day.
		{late, "2026-03-28T02:45:00+01:00", true, "2026-03-28T02:30:00+01:00"},
		{late, "2026-03-29T03:15:00+02:00", false, "2026-03-30T02:30:00+02:00"},
		// Clocks go back at 03:00: 02:30 happens twice; the window starts at
		// the first and lasts one hour, to the second.
		{late, "2026-10-25T02:15:00+01:00", true, "2026-10-25T02:30:00+02:00"},
		{late, "2026-10-25T02:45:00+01:00", false, "2026-10-26T02:30:00+01:00"},
		// Back in winter time three hours span 01:00-04:00 CET again; on the
		// night the clocks go back they end at 03:00 CET.
		{nightly, "2026-10-25T02:59:00+01:00", true, "2026-10-25T01:00:00+02:00"},
		{nightly, "2026-10-25T03:00:00+01:00", false, "2026-10-26T01:00:00+01:00"},
		{nightly, "2026-10-26T03:59:00+01:00", true, "2026-10-26T01:00:00+01:00"},
	} {
		active, start, end := tc.s.window(at(tc.at), berlin)
		if active != tc.active || !start.Equal(at(tc.start)) || !end.Equal(start.Add(tc.s.length)) {
			t.Errorf("%s at %s: active=%v window %s..%s; want active=%v from %s",
				tc.s.spec.Schedule, tc.at, active, start.In(berlin).Format(time.RFC3339), end.In(berlin).Format(time.RFC3339), tc.active, tc.start)
		}
	}

	// Through the engine, in the host's zone: an alert that fires during the
	// window is held back and goes out when the window closes.
	h := newHarness(t, "", diskRuleForZero())
	h.cfg.Location = berlin
	h.start(diskRuleForZero())
	if err := h.e.SetSilences([]api.Silence{{Name: "w", Matchers: []api.LabelMatcher{onDisk}, Schedule: "0 1 * * *", Duration: "3h", Comment: "nightly"}}); err != nil {
		t.Fatal(err)
	}
	h.now = at("2026-03-29T04:59:40+02:00")
	h.runDisk(root, 95, 95)
	if len(h.sent) != 0 {
		t.Fatalf("sent %v inside the window", sentStates(h.sent))
	}
	h.runDisk(root, 95)
	if len(h.sent) != 1 || !h.sent[0].Time.Equal(at("2026-03-29T05:00:00+02:00")) {
		t.Errorf("sent %+v, want the alert at 05:00 CEST when the window closes", h.sent)
	}
}

func TestEngine_muteDuringChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agent := api.AlertRule{Name: "agent_broken", Kind: "component_down", Channels: []string{"ops"}, MuteDuringChanges: true}
	disk := diskRuleForZero()
	h := newHarness(t, dir, agent, disk)
	h.e.Mute(t0.Add(time.Minute), "agent upgrade")
	h.set(api.MetricComponentUp, map[string]string{"component": "collector"}, 0)
	h.runDisk(root, 95)
	// Only the rule that did not opt in pages.
	if len(h.sent) != 1 || h.sent[0].Alerts[0].Rule != "disk_full" {
		t.Fatalf("sent %+v, want only disk_full", h.sent)
	}
	hist := h.e.History(api.AlertHistoryQuery{Rule: "agent_broken"})
	if len(hist) != 1 || !hist[0].Muted {
		t.Errorf("history = %+v, want the firing recorded as muted", hist)
	}
	// The upgrade restarts the agent: the mute holds across it.
	h.start(agent, disk)
	if until, reason := h.e.Muted(); !until.Equal(t0.Add(time.Minute)) || reason != "agent upgrade" {
		t.Errorf("Muted() after restart = %s, %q", until, reason)
	}
	for h.now.Before(t0.Add(time.Minute)) {
		h.runDisk(root, 95)
	}
	if len(h.sent) != 1 {
		t.Fatalf("sent %v while muted", sentStates(h.sent))
	}
	// The component is still down when the mute ends: now it pages.
	h.runDisk(root, 95)
	if len(h.sent) != 2 || h.sent[1].Alerts[0].Rule != "agent_broken" || !h.sent[1].Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("sent %+v, want agent_broken at 1m", h.sent)
	}
	if until, _ := h.e.Muted(); !until.IsZero() {
		t.Errorf("mute still set after it ended: %s", until)
	}
}

func TestEngine_unmuteEndsMuteEarly(t *testing.T) {
	t.Parallel()
	r := diskRuleForZero()
	r.MuteDuringChanges = true
	h := newHarness(t, "", r)
	h.e.Mute(t0.Add(time.Hour), "deploy")
	h.e.Mute(t0.Add(time.Minute), "shorter") // does not shorten it
	h.runDisk(root, 95)
	if until, reason := h.e.Muted(); !until.Equal(t0.Add(time.Hour)) || reason != "deploy" || len(h.sent) != 0 {
		t.Fatalf("Muted() = %s, %q; sent %v", until, reason, sentStates(h.sent))
	}
	h.e.Unmute()
	h.runDisk(root, 95)
	if d := cmp.Diff([]string{"ops:firing"}, sentStates(h.sent)); d != "" {
		t.Errorf("sent (-want +got):\n%s", d)
	}
}
