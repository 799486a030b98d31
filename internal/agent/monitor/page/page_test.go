package page

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testChart(n int, step time.Duration, gapAt int) Chart {
	end := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	start := end.Add(-time.Duration(n) * step)
	var pts []Point
	for i := range n {
		v := 40 + 10*math.Sin(float64(i)/5)
		if i == gapAt {
			v = math.NaN()
		}
		pts = append(pts, Point{T: start.Add(time.Duration(i) * step), V: v})
	}
	return Chart{ID: "cpu", Title: "CPU <busy>", Unit: Percent, Start: start, End: end, Series: []Series{{Label: "busy", Points: pts}}}
}

func TestChart_SVG(t *testing.T) {
	t.Parallel()
	c := testChart(60, time.Minute, 30)
	if got := c.Points(); got != 59 {
		t.Errorf("Points() = %d, want 59 (60 less the gap)", got)
	}
	svg := string(c.SVG())
	lines := regexp.MustCompile(`<polyline [^>]*points="([^"]*)"`).FindAllStringSubmatch(svg, -1)
	if len(lines) != 2 {
		t.Fatalf("%d polylines, want 2 (split at the gap): %s", len(lines), svg)
	}
	total := 0
	for _, l := range lines {
		total += len(strings.Fields(l[1]))
	}
	if total != 59 {
		t.Errorf("the polylines hold %d points, want 59", total)
	}
	if !strings.Contains(svg, `aria-label="CPU &lt;busy&gt;"`) {
		t.Error("the title is not escaped in the SVG")
	}
	for _, want := range []string{">0 %<", ">100 %<", ">11:10<", ">12:00<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("no axis label %q in %s", want, svg)
		}
	}
}

func TestChart_gapWhenAgentWasDown(t *testing.T) {
	t.Parallel()
	c := testChart(30, 10*time.Second, -1)
	pts := c.Series[0].Points
	// The agent was down for ten minutes after the 10th point.
	for i := 10; i < len(pts); i++ {
		pts[i].T = pts[i].T.Add(10 * time.Minute)
	}
	c.End = pts[len(pts)-1].T
	if n := len(runs(pts)); n != 2 {
		t.Errorf("%d runs, want 2: a ten-minute hole is a gap, not a line", n)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		u    Unit
		want string
	}{
		{0, Percent, "0 %"}, {99.95, Percent, "100 %"}, {12.34, Percent, "12.3 %"},
		{512, Bytes, "512 B"}, {1536, Bytes, "1.5 KiB"}, {8 << 30, Bytes, "8 GiB"},
		{2.5 * 1024 * 1024, BytesPerSec, "2.5 MiB/s"}, {0.75, Plain, "0.8"}, {3e9, Plain, "3e+09"},
	} {
		if got := Format(tc.v, tc.u); got != tc.want {
			t.Errorf("Format(%v, %v) = %q, want %q", tc.v, tc.u, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	v := View{Host: "h1 <x>", HostID: "0123", AgentVersion: "1.0.0", Now: now, Window: DefaultWindows[0], Windows: DefaultWindows,
		Charts:  []Chart{testChart(60, time.Minute, -1)},
		Units:   []UnitState{{Name: "ssh.service", State: "active"}, {Name: "cron.service", State: "failed"}},
		Backups: []Backup{{Name: "etc", LastSuccess: now.Add(-time.Hour), LastSnapshot: "s1"}},
		Deploys: []Deploy{{Time: now.Add(-time.Minute), Operator: "deploy", Object: "agent", What: "install", OK: true}},
		Notices: []string{"history cannot be written: disk full"}}
	var b strings.Builder
	if err := Render(&b, v); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`data-chart="cpu" data-points="60"`, `h1 &lt;x&gt;`, `class="bad">failed`, `1h0m0s ago`, `role="alert">history cannot be written`,
		`style="background:#2563eb"`, `aria-current="page">1h`} {
		if !strings.Contains(out, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(out, "ZgotmplZ") {
		t.Error("the template refused a value (ZgotmplZ)")
	}
}

// The page lists the alerts with their state, escaped, and says when
// there are none.
func TestRender_alerts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	if err := Render(&b, View{Now: now}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "No alerts pending or firing.") {
		t.Error("no alerts: the page does not say so")
	}
	b.Reset()
	v := View{Now: now, Alerts: []AlertState{{Rule: "disk_full", Labels: `{mountpoint="/<x>"}`, State: "firing", Value: "97.5",
		Since: now.Add(-90 * time.Second), Held: "silenced by maint"}}}
	if err := Render(&b, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"disk_full", `{mountpoint=&#34;/&lt;x&gt;&#34;}`, `class="bad">firing`, "silenced by maint", "97.5", "1m30s ago"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
