package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alert"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alerting"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const alertsUsage = `usage: steward-agent alerts [--rule NAME] [--state STATE] [--since DURATION] [--limit N] [--json]
  the running daemon's alerts (pending, firing, recently resolved) and the
  recent transitions and deliveries, filtered by rule, state and age
`

const rulesUsage = `usage: steward-agent rules test FILE
  run the rule tests in FILE (YAML or JSON, as promtool test rules) and
  print the states over time; exits 1 when an expectation fails
`

// alerts prints the daemon's alert states and recent history.
func (c *cli) alerts(ctx context.Context, args []string) int {
	fs := c.newFlags("alerts")
	fs.Usage = func() { fmt.Fprint(c.stderr, alertsUsage) }
	rule := fs.String("rule", "", "only this rule")
	state := fs.String("state", "", "only transitions into (and deliveries of alerts in) this state")
	since := fs.String("since", "24h", "history this far back (e.g. 1h, 7d)")
	limit := fs.Int("limit", 20, "at most this many transitions and deliveries")
	asJSON := fs.Bool("json", false, "print status and history as JSON")
	if code := c.parse(fs, args); code >= 0 {
		return code
	}
	back, err := api.ParseDuration(*since)
	if err != nil {
		fmt.Fprintf(c.stderr, "steward-agent alerts: --since: %v\n", err)
		return exitUsage
	}
	q := api.AlertHistoryParams{Rule: *rule, State: *state, Since: time.Now().Add(-back), Limit: *limit}
	if err := q.Validate(); err != nil {
		fmt.Fprintf(c.stderr, "steward-agent alerts: %v\n", err)
		return exitUsage
	}
	st, err := alerting.QueryStatus(ctx, c.paths)
	if err != nil {
		return c.fail("alerts", err)
	}
	hist, err := alerting.QueryHistory(ctx, c.paths, q)
	if err != nil {
		return c.fail("alerts", err)
	}
	if *asJSON {
		return c.printJSON(struct {
			Status  api.AlertsStatus       `json:"status"`
			History api.AlertHistoryResult `json:"history"`
		}{st, hist})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, p := range st.Problems {
		fmt.Fprintf(tw, "problem: %s\n", p)
	}
	if !st.MutedUntil.IsZero() {
		fmt.Fprintf(tw, "muted during changes until %s (%s)\n", st.MutedUntil.Local().Format(time.DateTime), st.MuteReason)
	}
	fmt.Fprintf(tw, "ALERT\tLABELS\tSTATE\tVALUE\tSINCE\tNOTIFIED\n")
	n := 0
	for _, a := range st.Alerts {
		if *rule != "" && a.Rule != *rule {
			continue
		}
		n++
		since := a.ActiveAt
		switch a.State {
		case api.AlertFiring:
			since = a.FiredAt
		case api.AlertResolved:
			since = a.ResolvedAt
		}
		state := a.State
		if len(a.Silenced) > 0 {
			state += " (silenced)"
		} else if a.Muted {
			state += " (muted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Rule, api.AlertLabelsString(a.Labels), state,
			strconv.FormatFloat(a.Value, 'g', 6, 64), since.Local().Format(time.DateTime), strings.Join(a.Notified, ","))
	}
	if n == 0 {
		fmt.Fprintf(tw, "(none pending or firing)\n")
	}
	fmt.Fprintf(tw, "\nTIME\tALERT\tLABELS\tTRANSITION\tVALUE\tNOTE\n")
	for _, t := range hist.Transitions {
		note := t.Reason
		if len(t.Silenced) > 0 {
			note = strings.TrimSpace(note + " silenced by " + strings.Join(t.Silenced, ","))
		} else if t.Muted {
			note = strings.TrimSpace(note + " muted")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s → %s\t%s\t%s\n", t.Time.Local().Format(time.DateTime), t.Rule,
			api.AlertLabelsString(t.Labels), t.From, t.To, strconv.FormatFloat(t.Value, 'g', 6, 64), note)
	}
	fmt.Fprintf(tw, "\nTIME\tCHANNEL\tEVENT\tRESULT\tALERTS\tERROR\n")
	for _, d := range hist.Deliveries {
		var as []string
		for _, a := range d.Alerts {
			as = append(as, a.Rule+":"+a.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Time.Local().Format(time.DateTime), d.Channel, d.Event, d.Result,
			strings.Join(as, ","), d.Error)
	}
	if err := tw.Flush(); err != nil {
		return c.fail("alerts", err)
	}
	return exitOK
}

// rules runs `steward-agent rules test FILE`.
func (c *cli) rules(args []string) int {
	if len(args) != 2 || args[0] != "test" {
		fmt.Fprint(c.stderr, rulesUsage)
		return exitUsage
	}
	if err := alert.RunTestFile(args[1], c.stdout); err != nil {
		return c.fail("rules test", err)
	}
	return exitOK
}
