package alert

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// RuleStatus returns what alert_rule.status observes of the rule name: its
// alerts that are not inactive, its last transition and evaluation. A rule
// the engine does not know has no alerts.
func (e *Engine) RuleStatus(name string) api.AlertRuleObserved {
	e.mu.Lock()
	defer e.mu.Unlock()
	obs := api.AlertRuleObserved{Alerts: []api.AlertInstance{}}
	rs := e.states[name]
	if rs == nil {
		return obs
	}
	obs.Alerts = e.instances(name, rs)
	obs.LastEvaluation = rs.lastEval
	if rs.last != nil {
		t := *rs.last
		obs.LastTransition = &t
	}
	return obs
}

// Alerts returns every alert that is not inactive, by rule and labels
// (steward-agent alerts, the status page).
func (e *Engine) Alerts() []api.AlertInstance {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []api.AlertInstance{}
	for _, name := range slices.Sorted(maps.Keys(e.states)) {
		out = append(out, e.instances(name, e.states[name])...)
	}
	return out
}

func (e *Engine) instances(name string, rs *ruleState) []api.AlertInstance {
	r := e.ruleOf(name)
	now := e.lastEval
	var out []api.AlertInstance
	add := func(ent *entry) {
		silenced, muted := e.suppressed(r, ent.Labels, now)
		out = append(out, api.AlertInstance{
			Rule: ent.Rule, Fingerprint: ent.Fingerprint, Labels: ent.Labels, State: ent.State,
			Value: ent.Value, NoData: ent.NoData, ActiveAt: ent.ActiveAt, FiredAt: ent.FiredAt, ResolvedAt: ent.ResolvedAt,
			Silenced: silenced, Muted: muted, Notified: slices.Clone(ent.Notified),
		})
	}
	for _, ent := range rs.all() {
		add(ent)
	}
	slices.SortFunc(out, func(a, b api.AlertInstance) int {
		return strings.Compare(api.AlertLabelsString(a.Labels), api.AlertLabelsString(b.Labels))
	})
	return out
}

// History returns the transitions q selects, oldest first.
func (e *Engine) History(q api.AlertHistoryQuery) []api.AlertTransition {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []api.AlertTransition{}
	for _, t := range e.history {
		if q.Rule != "" && t.Rule != q.Rule || q.State != "" && t.To != q.State ||
			!q.Since.IsZero() && t.Time.Before(q.Since) || !q.Until.IsZero() && t.Time.After(q.Until) {
			continue
		}
		out = append(out, t)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out
}

// SilenceStatus returns what silence.status observes of the silence name
// at now, and false when the engine does not have it.
func (e *Engine) SilenceStatus(name string, now time.Time) (api.SilenceObserved, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.silenceByName(name)
	if s == nil {
		return api.SilenceObserved{}, false
	}
	var obs api.SilenceObserved
	obs.Active, obs.WindowStart, obs.WindowEnd = s.window(now, e.cfg.Location)
	if obs.Active {
		for _, rs := range e.states {
			for _, ent := range rs.all() {
				if ent.State == api.AlertFiring && s.matches(ent.Labels) {
					obs.Silenced = append(obs.Silenced, ent.Fingerprint)
				}
			}
		}
		slices.Sort(obs.Silenced)
	}
	return obs, true
}

// Muted returns the mute in force (zero until when there is none).
func (e *Engine) Muted() (until time.Time, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mute.Until, e.mute.Reason
}

// Problem describes what was wrong with the state file when the engine
// started ("" when nothing was), for the daemon's status and logs.
func (e *Engine) Problem() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.problem
}
