package alert

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Config configures an Engine. Zero fields take the defaults noted.
type Config struct {
	// StateDir holds the engine's state file (created 0700); empty keeps
	// the state in memory only (rules test, benchmarks).
	StateDir string
	Clock    func() time.Time // default time.Now
	Logger   *slog.Logger     // default slog.Default()
	// Host and HostID (the host's name and machine id) go into every
	// notification; Host also into every alert's host label.
	Host, HostID string
	// Location is the host's time zone, in which recurring silences run;
	// default time.Local.
	Location *time.Location
	// Interval is the collection interval, against which rules are
	// validated (ValidateWithInterval); zero skips those checks.
	Interval time.Duration
	// HistoryLimit bounds the transitions kept (default 1000).
	HistoryLimit int
	// MaxAlertsPerRule bounds the alerts one rule may have at once, so a
	// rule over a label that explodes cannot exhaust memory (default 1000).
	MaxAlertsPerRule int
}

// Engine evaluates alert rules after each collection. Its methods are safe
// for concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu           sync.Mutex
	rules        []*rule               // sorted by name
	states       map[string]*ruleState // by rule name; outlives SetRules
	silences     []*silence
	silenceMarks map[string]silenceMark // active silences, by name
	mute         muteState
	history      []api.AlertTransition
	outbox       []outgoing
	seq          uint64
	lastEval     time.Time
	buf          []Point

	dirty       bool // state changed in a way a restart must not lose
	timersDirty bool // only the observed durations changed
	lastSave    time.Time
	problem     string // what was wrong with the state file at start
}

// muteState is a mute set by Mute: opted-in rules send nothing until Until.
type muteState struct {
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// timerSaveEvery bounds how often a change of observed durations alone
// (a pending alert's `for` timer) is written: a crash loses at most this
// much of them, which only makes the alert fire later.
const timerSaveEvery = time.Minute

// New returns an engine with the state in cfg.StateDir. A state file that
// cannot be read is moved aside and reported (Problem), and the engine
// starts clean; only a state directory that cannot be made is an error.
func New(cfg Config) (*Engine, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.HistoryLimit <= 0 {
		cfg.HistoryLimit = 1000
	}
	if cfg.MaxAlertsPerRule <= 0 {
		cfg.MaxAlertsPerRule = 1000
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, states: map[string]*ruleState{}, silenceMarks: map[string]silenceMark{}}
	if cfg.StateDir != "" {
		if err := e.load(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// SetRules replaces the rules. Rules that do not validate are left out and
// reported in the error; the others take effect at the next evaluation.
// The alerts of a rule that is gone, or whose selector (kind, metric,
// matchers) changed, end: a pending one goes inactive, a firing one
// resolves, and its resolve goes to the channels told it fired.
func (e *Engine) SetRules(specs []api.AlertRule) error {
	var errs []error
	var rules []*rule
	for _, spec := range specs {
		r, err := compileRule(spec, e.cfg.Interval)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if slices.ContainsFunc(rules, func(o *rule) bool { return o.spec.Name == spec.Name }) {
			errs = append(errs, fmt.Errorf("alert rule %s: defined twice", spec.Name))
			continue
		}
		rules = append(rules, r)
	}
	slices.SortFunc(rules, func(a, b *rule) int { return strings.Compare(a.spec.Name, b.spec.Name) })

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Clock()
	byName := map[string]*rule{}
	for _, r := range rules {
		byName[r.spec.Name] = r
	}
	for name, rs := range e.states {
		r := byName[name]
		switch {
		case r == nil:
			e.endAll(e.ruleOf(name), rs, now, "rule removed")
			delete(e.states, name)
		case r.selector != rs.selector:
			e.endAll(r, rs, now, "rule changed")
			rs.selector = r.selector
		}
	}
	for _, r := range rules {
		if e.states[r.spec.Name] == nil {
			e.states[r.spec.Name] = &ruleState{selector: r.selector, entries: map[uint64]*entry{}}
			e.dirty = true
		}
	}
	e.rules = rules
	return errors.Join(errs...)
}

// ruleOf returns the rule of that name as it is now, or nil.
func (e *Engine) ruleOf(name string) *rule {
	i, ok := slices.BinarySearchFunc(e.rules, name, func(r *rule, n string) int { return strings.Compare(r.spec.Name, n) })
	if !ok {
		return nil
	}
	return e.rules[i]
}

// endAll ends every alert of a rule that is removed or now selects other
// series. r may be nil (a rule the engine has state of but no spec for,
// after a restart).
func (e *Engine) endAll(r *rule, rs *ruleState, now time.Time, reason string) {
	for _, ent := range rs.all() {
		switch ent.State {
		case api.AlertPending:
			e.transition(r, rs, ent, api.AlertInactive, now, reason)
		case api.AlertFiring:
			ent.ResolvedAt = now
			e.transition(r, rs, ent, api.AlertResolved, now, reason)
		}
		if len(ent.Notified) > 0 {
			e.sendResolve(r, ent)
		}
		e.drop(rs, ent)
	}
}

// SetSilences replaces the silences. Silences that do not validate are
// left out and reported in the error.
func (e *Engine) SetSilences(specs []api.Silence) error {
	var errs []error
	var out []*silence
	for _, spec := range specs {
		s, err := compileSilence(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("silence %s: %w", spec.Name, err))
			continue
		}
		out = append(out, s)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.silences = out
	return errors.Join(errs...)
}

// Mute mutes the rules with mute_during_changes until until: the daemon
// calls it when Steward itself starts changing the host (a deploy, an
// agent upgrade, a restart it makes), with a reason for the logs. Their
// alerts still move through their states and are recorded in the history
// as muted; a firing one goes out at the first evaluation after the mute
// ends. A later until extends the mute, an earlier one leaves it; the mute
// is persisted, so it holds across the agent's own restart.
func (e *Engine) Mute(until time.Time, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if until.After(e.mute.Until) {
		e.mute = muteState{Until: until, Reason: reason}
		e.dirty = true
		e.log.Info("alerts muted during changes", "until", until, "reason", reason)
	}
}

// Unmute ends a mute early, when the change it was set for is over.
func (e *Engine) Unmute() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.mute.Until.IsZero() {
		e.mute = muteState{}
		e.dirty = true
		e.log.Info("alerts unmuted")
	}
}

// Evaluate evaluates every rule at now, the time of the collection that
// just ended, against src, and returns the notifications to enqueue: per
// channel, one for alerts that changed state and one (IsRepeat) for
// alerts due again.
//
// The caller enqueues them and then calls Save, so that a crash in between
// repeats a notification rather than losing it; whatever Save did not
// write, Evaluate writes first. The error reports that write only: the
// notifications are valid whatever it says.
func (e *Engine) Evaluate(now time.Time, src Source) ([]api.Notification, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.dirty {
		err = e.saveLocked(now)
	}
	e.seq++
	e.updateSilences(now)
	for _, r := range e.rules {
		e.evalRule(r, e.states[r.spec.Name], now, src)
	}
	if !e.mute.Until.IsZero() && !now.Before(e.mute.Until) {
		e.log.Info("mute during changes ended", "reason", e.mute.Reason)
		e.mute = muteState{}
		e.dirty = true
	}
	e.lastEval = now
	return e.takeNotifications(now), err
}

// evalRule evaluates one rule over the series of its metric.
func (e *Engine) evalRule(r *rule, rs *ruleState, now time.Time, src Source) {
	rs.lastEval = now
	series := src.Latest(r.metric)
	matched, present := 0, 0
	for i := range series {
		s := &series[i]
		if !r.matches(s.Labels) {
			continue
		}
		matched++
		if r.kind == api.AlertRuleAbsent {
			if !s.Stale {
				present++
			}
			continue
		}
		v, ok := r.value(now, s, src, &e.buf)
		in := r.input(v, ok)
		if !in.held && len(rs.entries) == 0 {
			continue // the common case: inactive and staying so
		}
		ls := sortedLabels(s.Labels)
		ent, key := rs.lookup(hashLabels(ls), ls)
		if ent == nil && !in.held {
			continue
		}
		e.step(r, rs, ent, key, ls, false, in, now)
	}
	// A series gone from the source is a series without data. A resolved
	// alert whose series is gone is simply forgotten.
	for _, ent := range rs.entries {
		if ent.seen == e.seq {
			continue
		}
		if ent.State == api.AlertResolved {
			e.drop(rs, ent)
			continue
		}
		e.step(r, rs, ent, ent.key, ent.Series, false, r.input(0, false), now)
	}
	// The rule as a whole: an absent rule fires when no selected series has
	// data; with no_data = "alert" a selector matching nothing fires.
	var level input
	switch {
	case r.kind == api.AlertRuleAbsent:
		level = input{held: present == 0, clear: present > 0, value: float64(present), noData: present == 0}
	case r.noData == api.NoDataAlert:
		level = input{held: matched == 0, clear: matched > 0, noData: matched == 0}
	default:
		level = input{clear: true}
	}
	if rs.level != nil || level.held {
		e.step(r, rs, rs.level, 0, nil, true, level, now)
	}
}

// input turns a series' value, or its lack of data (ok false), into what
// step needs, following the rule's no_data mode.
func (r *rule) input(v float64, ok bool) input {
	if !ok {
		switch r.noData {
		case api.NoDataAlert:
			return input{held: true, noData: true}
		case api.NoDataKeep:
			return input{keep: true, noData: true}
		}
		return input{clear: true, noData: true}
	}
	held := compare(r.op, v, r.threshold)
	return input{held: held, clear: !compare(r.op, v, r.resolve), value: v}
}

// Save writes the state if a restart must not lose what changed (a
// transition, a notification handed out, a silence or mute), and at most
// every minute when only timers moved.
func (e *Engine) Save() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Clock()
	if !e.dirty && (!e.timersDirty || now.Sub(e.lastSave) < timerSaveEvery) {
		return nil
	}
	return e.saveLocked(now)
}

// Close writes whatever changed, timers included: the daemon calls it when
// it stops, so a pending alert resumes exactly where it was.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.dirty && !e.timersDirty {
		return nil
	}
	return e.saveLocked(e.cfg.Clock())
}
