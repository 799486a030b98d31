package monitor

import (
	"bytes"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/audit"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/page"
)

// recentChanges is how many audit entries the status page lists.
const recentChanges = 12

// Routes implements core.Routed: the status page at /, and the history
// summaries api.MetricsQuery reads.
func (m *Monitor) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", m.servePage)
	mux.HandleFunc("POST "+summaryPath, m.serveSummary)
	mux.HandleFunc("GET "+collectorsPath, m.serveCollectors)
}

func (m *Monitor) servePage(w http.ResponseWriter, r *http.Request) {
	win := page.DefaultWindows[0]
	for _, w := range page.DefaultWindows {
		if w.Name == r.URL.Query().Get("window") {
			win = w
		}
	}
	v := m.view(win)
	var b bytes.Buffer
	if err := page.Render(&b, v); err != nil {
		m.deps.Logger.Error("render the status page", "error", err)
		http.Error(w, "cannot render the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'")
	_, _ = w.Write(b.Bytes())
}

// view gathers what the page shows.
func (m *Monitor) view(win page.Window) page.View {
	p := m.deps.Paths
	now := m.deps.Now()
	hostID, _ := core.ReadHostID(p)
	v := page.View{Host: m.hostname, HostID: hostID, AgentVersion: m.version, Now: now, Window: win, Windows: page.DefaultWindows}
	m.mu.RLock()
	last, lastAt, storeErr := m.last, m.lastAt, m.storeErr
	m.mu.RUnlock()
	if lastAt.IsZero() {
		v.Notices = append(v.Notices, "No collection yet: the first one runs when the daemon starts.")
	} else if now.Sub(lastAt) > 3*m.interval {
		v.Notices = append(v.Notices, "The last collection was "+now.Sub(lastAt).Round(time.Second).String()+" ago.")
	}
	if storeErr != nil {
		v.Notices = append(v.Notices, "The history cannot be written ("+storeErr.Error()+"): collection goes on in memory.")
	}
	v.Charts = m.charts(win, now)
	for _, s := range collect.Flatten(last) {
		if s.Name == "node_systemd_unit_state" && s.Value == 1 {
			v.Units = append(v.Units, page.UnitState{Name: s.Label("name"), State: s.Label("state")})
		}
	}
	v.Backups = backups(p)
	if m.alerts != nil {
		v.Alerts = m.alerts()
	}
	if entries, err := audit.Tail(p.AuditLog, recentChanges); err == nil {
		for _, e := range entries {
			who := e.Operator.SSHUser
			if who == "" {
				who = e.Operator.LocalUser
			}
			v.Deploys = append(v.Deploys, page.Deploy{Time: e.Time, Operator: who, Object: e.Object, What: e.Action, OK: e.Result == "ok"})
		}
	}
	return v
}

// backups lists the host's schedules with their last runs.
func backups(p core.Paths) []page.Backup {
	entries, _ := os.ReadDir(schedule.ConfigDir(p))
	var out []page.Backup
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		st := schedule.ReadRunStatus(p, name)
		out = append(out, page.Backup{Name: name, LastSuccess: st.LastSuccessAt, LastSnapshot: st.LastSnapshotID,
			LastError: st.LastError, Stale: st.LastError != "" || st.LastSuccessAt.IsZero()})
	}
	slices.SortFunc(out, func(a, b page.Backup) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// charts are the page's charts over win, from the history.
func (m *Monitor) charts(win page.Window, now time.Time) []page.Chart {
	var out []page.Chart
	for _, c := range pageCharts {
		ch := page.Chart{ID: c.id, Title: c.title, Unit: c.unit, Start: now.Add(-win.Span), End: now}
		if m.history != nil {
			ch.Series = c.series(m.history, ch.Start, ch.End, m.chartStep(win.Span))
		}
		out = append(out, ch)
	}
	return out
}

// chartStep is about span/chartPoints, a whole number of intervals.
func (m *Monitor) chartStep(span time.Duration) time.Duration {
	n := max(int64((span/chartPoints+m.interval-1)/m.interval), 1)
	return time.Duration(n) * m.interval
}
