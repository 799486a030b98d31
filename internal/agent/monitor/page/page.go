package page

import (
	_ "embed"
	"html/template"
	"io"
	"time"
)

// View is everything the status page shows, gathered by the daemon.
type View struct {
	Host, HostID, AgentVersion string
	Now                        time.Time
	// Window is the charts' span; Windows are the spans the page links to.
	Window  Window
	Windows []Window
	Charts  []Chart
	Units   []UnitState
	Backups []Backup
	Deploys []Deploy
	// Alerts are the alerts that are not inactive (pending, firing, and
	// resolved within the hour).
	Alerts []AlertState
	// Notices are conditions the reader must know, such as a history that
	// cannot be written (collection goes on in memory).
	Notices []string
}

// Window is a span of history the page can show.
type Window struct {
	Name string // "1h", "24h", "7d", "30d": the query parameter
	Span time.Duration
}

// DefaultWindows are the spans the page offers.
var DefaultWindows = []Window{
	{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// UnitState is a watched systemd unit.
type UnitState struct{ Name, State string }

// Backup is a backup schedule's freshness.
type Backup struct {
	Name, LastSnapshot, LastError string
	LastSuccess                   time.Time
	Stale                         bool
}

// AlertState is one alert of a rule, as the rule engine has it now.
type AlertState struct {
	Rule, Labels, State string
	Value               string    // the last value, formatted
	Since               time.Time // when it entered State
	// Held says why its notifications are held back ("silenced by x",
	// "muted during changes"); empty when they are not.
	Held string
}

// Deploy is an entry of the audit log.
type Deploy struct {
	Time                   time.Time
	Operator, Object, What string
	OK                     bool
}

//go:embed page.html
var pageHTML string

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Second).String() + " ago"
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(pageHTML))

// Render writes the page for v.
func Render(w io.Writer, v View) error { return tmpl.Execute(w, v) }
