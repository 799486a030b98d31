package alert

import (
	"bytes"
	"slices"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// entry is the state of one alert: a rule and one series (or, for absent
// rules and no_data = "alert" on a selector matching nothing, the rule as
// a whole). Only alerts that are pending, firing or recently resolved have
// an entry; every other series is inactive. Exported fields are persisted.
type entry struct {
	Rule      string  `json:"rule"`
	Series    []Label `json:"series"`               // the series' labels, the entry's identity in its rule
	RuleLevel bool    `json:"rule_level,omitempty"` // about the selector as a whole, not a series

	Labels      map[string]string `json:"labels"` // the alert's labels, rendered when it became active
	Fingerprint string            `json:"fingerprint"`
	State       string            `json:"state"`
	Value       float64           `json:"value"`
	NoData      bool              `json:"no_data,omitempty"`
	ActiveAt    time.Time         `json:"active_at"`
	FiredAt     time.Time         `json:"fired_at,omitzero"`
	ResolvedAt  time.Time         `json:"resolved_at,omitzero"`

	// Held is how long the condition has been seen holding while pending;
	// NotHeld how long it has been seen not holding since it last held
	// (keep_firing_for, while Releasing); Cleared how long the clear
	// condition has been seen holding without a break (clear_for, while
	// Clearing). They count observed time only, see the package doc.
	Held      time.Duration `json:"held,omitempty"`
	Releasing bool          `json:"releasing,omitempty"`
	NotHeld   time.Duration `json:"not_held,omitempty"`
	Clearing  bool          `json:"clearing,omitempty"`
	Cleared   time.Duration `json:"cleared,omitempty"`

	// Notified are the channels told that the alert fires (they get its
	// resolve); LastSentAt is when it was last handed out.
	Notified   []string  `json:"notified,omitempty"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
	// WasSilenced says a silence held the firing alert back: when it ends
	// the alert goes to every channel again (alertmanager#2896).
	WasSilenced bool `json:"was_silenced,omitempty"`

	lastEval time.Time // zero after a restart: the downtime is not observed time
	seen     uint64    // the evaluation that last saw the series
	key      uint64
}

// input is what one evaluation says about an entry's series.
type input struct {
	held   bool // the firing condition holds
	clear  bool // the clear condition (the resolve threshold's side) holds
	value  float64
	noData bool
	keep   bool // no data with no_data = "keep": change nothing
}

// resolvedKeep is how long a resolved alert stays visible in the status
// before its entry is dropped (its transitions stay in the history).
const resolvedKeep = time.Hour

// ruleState is what the engine keeps of one rule across SetRules calls.
type ruleState struct {
	selector string
	entries  map[uint64]*entry
	level    *entry // the rule-level entry, if any
	lastEval time.Time
	last     *api.AlertTransition
	full     bool // MaxAlertsPerRule reached and reported
}

// all returns the rule's entries, the rule-level one included.
func (rs *ruleState) all() []*entry {
	out := make([]*entry, 0, len(rs.entries)+1)
	for _, ent := range rs.entries {
		out = append(out, ent)
	}
	if rs.level != nil {
		out = append(out, rs.level)
	}
	return out
}

// lookup finds the entry of the series with labels ls and hash key.
// Colliding hashes are told apart by probing the next key.
func (rs *ruleState) lookup(key uint64, ls []Label) (*entry, uint64) {
	for {
		ent, ok := rs.entries[key]
		if !ok {
			return nil, key
		}
		if slices.Equal(ent.Series, ls) {
			return ent, key
		}
		key++
	}
}

// step moves one alert on by one evaluation: ent is nil for a series that
// was inactive. It records every transition and decides the alert's
// notifications.
func (e *Engine) step(r *rule, rs *ruleState, ent *entry, key uint64, series []Label, ruleLevel bool, in input, now time.Time) {
	if ent == nil {
		if !in.held || in.keep {
			return
		}
		if rs.full && len(rs.entries) < e.cfg.MaxAlertsPerRule {
			rs.full = false
		}
		if len(rs.entries) >= e.cfg.MaxAlertsPerRule && !ruleLevel {
			if !rs.full {
				rs.full = true
				e.log.Warn("alert rule has too many alerts; further series stay inactive", "rule", r.spec.Name, "limit", e.cfg.MaxAlertsPerRule)
			}
			return
		}
		ent = &entry{Rule: r.spec.Name, Series: slices.Clone(series), RuleLevel: ruleLevel, State: api.AlertInactive, key: key}
		if ruleLevel {
			rs.level = ent
		} else {
			rs.entries[key] = ent
		}
	}
	ent.seen = e.seq
	var delta time.Duration
	if !ent.lastEval.IsZero() {
		delta = max(now.Sub(ent.lastEval), 0)
	}
	ent.lastEval = now
	if in.keep {
		e.notify(r, ent, now)
		return
	}
	if !in.noData {
		ent.Value = in.value
	}
	ent.NoData = in.noData

	switch ent.State {
	case api.AlertInactive, api.AlertResolved:
		if !in.held {
			if ent.State == api.AlertResolved && now.Sub(ent.ResolvedAt) > resolvedKeep {
				e.drop(rs, ent)
			}
			return
		}
		e.activate(r, ent, now)
		if r.forD == 0 {
			e.fire(r, ent, now)
		} else {
			e.transition(r, rs, ent, api.AlertPending, now, "")
		}
	case api.AlertPending:
		if !in.held {
			e.transition(r, rs, ent, api.AlertInactive, now, "")
			e.drop(rs, ent)
			return
		}
		ent.Held += delta
		e.timersDirty = true
		if ent.Held >= r.forD {
			e.fire(r, ent, now)
		}
	case api.AlertFiring:
		if in.held {
			ent.Releasing, ent.NotHeld, ent.Clearing, ent.Cleared = false, 0, false, 0
			break
		}
		if ent.Releasing {
			ent.NotHeld += delta
		} else {
			ent.Releasing, ent.NotHeld = true, 0
		}
		if !in.clear {
			ent.Clearing, ent.Cleared = false, 0
		} else if ent.Clearing {
			ent.Cleared += delta
		} else {
			ent.Clearing, ent.Cleared = true, 0
		}
		e.timersDirty = true
		if ent.NotHeld >= r.keepFor && ent.Clearing && ent.Cleared >= r.clearFor {
			ent.ResolvedAt = now
			e.transition(r, rs, ent, api.AlertResolved, now, "")
		}
	}
	e.notify(r, ent, now)
}

// activate starts a new episode of an inactive or resolved alert: it
// renders the alert's labels, which stay as they are until it resolves.
func (e *Engine) activate(r *rule, ent *entry, now time.Time) {
	ent.Labels = e.alertLabels(r, ent)
	ent.Fingerprint = api.AlertFingerprint(r.spec.Name, ent.Labels)
	ent.ActiveAt, ent.FiredAt, ent.ResolvedAt = now, time.Time{}, time.Time{}
	ent.Held, ent.Releasing, ent.NotHeld, ent.Clearing, ent.Cleared = 0, false, 0, false, 0
	ent.WasSilenced = false
}

func (e *Engine) fire(r *rule, ent *entry, now time.Time) {
	ent.FiredAt = now
	e.transition(r, e.states[r.spec.Name], ent, api.AlertFiring, now, "")
}

// transition moves ent to state to and records it in the history.
func (e *Engine) transition(r *rule, rs *ruleState, ent *entry, to string, now time.Time, reason string) {
	from := ent.State
	ent.State = to
	silenced, muted := e.suppressed(r, ent.Labels, now)
	t := api.AlertTransition{
		Time: now, Rule: ent.Rule, Fingerprint: ent.Fingerprint, Labels: ent.Labels,
		From: from, To: to, Value: ent.Value, NoData: ent.NoData,
		Silenced: silenced, Muted: muted, Reason: reason,
	}
	e.record(t)
	if rs != nil {
		rs.last = &t
	}
	e.log.Info("alert transition", "rule", ent.Rule, "labels", api.AlertLabelsString(ent.Labels),
		"from", from, "to", to, "value", ent.Value, "silenced", silenced, "muted", muted, "reason", reason)
}

func (e *Engine) record(t api.AlertTransition) {
	e.history = append(e.history, t)
	if over := len(e.history) - e.cfg.HistoryLimit; over > 0 {
		e.history = slices.Delete(e.history, 0, over)
	}
	e.dirty = true
}

func (e *Engine) drop(rs *ruleState, ent *entry) {
	if ent.RuleLevel {
		rs.level = nil
	} else {
		delete(rs.entries, ent.key)
	}
	e.dirty = true
}

// alertLabels are an alert's labels: the series', then the rule's
// (templates over the series' labels and the value), then alertname,
// severity, and host unless the series has a label of that name.
func (e *Engine) alertLabels(r *rule, ent *entry) map[string]string {
	series := ent.Series
	if ent.RuleLevel {
		series = r.eqLabels
	}
	ls := labelsMap(series)
	// Label templates see the series' labels, not each other's results.
	data := e.templateData(r, ent, labelsMap(series))
	for _, t := range r.labelTmpls {
		ls[t.name] = render(e, r, t, data)
	}
	ls[api.AlertLabelName] = r.spec.Name
	if r.spec.Severity != "" {
		ls[api.AlertLabelSeverity] = r.spec.Severity
	}
	if _, ok := ls[api.AlertLabelHost]; !ok && e.cfg.Host != "" {
		ls[api.AlertLabelHost] = e.cfg.Host
	}
	return ls
}

func (e *Engine) templateData(r *rule, ent *entry, labels map[string]string) api.AlertTemplateData {
	return api.AlertTemplateData{
		Rule: r.spec.Name, Value: ent.Value, Threshold: r.threshold, Host: e.cfg.Host, HostID: e.cfg.HostID,
		Severity: r.spec.Severity, Labels: labels, NoData: ent.NoData,
	}
}

// render runs one template; a template that fails at run time (Validate ran
// it on sample data, so this is rare) yields its error, which the operator
// then sees in the notification rather than an empty field.
func render(e *Engine, r *rule, t namedTemplate, data api.AlertTemplateData) string {
	var b bytes.Buffer
	if err := t.tmpl.Execute(&b, data); err != nil {
		e.log.Warn("alert template failed", "rule", r.spec.Name, "template", t.name, "error", err)
		return "template " + t.name + " failed: " + err.Error()
	}
	return b.String()
}
