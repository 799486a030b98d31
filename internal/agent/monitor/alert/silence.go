package alert

import (
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// silence is an api.Silence compiled: matchers, and its window.
type silence struct {
	spec     api.Silence
	matchers []matcher

	start, end time.Time     // fixed window
	sched      cron.Schedule // or a recurring one
	length     time.Duration
	recurring  bool

	active bool // at the last evaluation
}

// silenceMark is what is persisted of an active silence, so its end is
// announced even when it is removed, and its start is not announced twice
// across a restart.
type silenceMark struct {
	Comment        string    `json:"comment"`
	NotifyChannels []string  `json:"notify_channels,omitempty"`
	StartedAt      time.Time `json:"started_at"`
}

func compileSilence(spec api.Silence) (*silence, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	ms, err := compileMatchers(spec.Matchers)
	if err != nil {
		return nil, err
	}
	s := &silence{spec: spec, matchers: ms}
	if spec.Schedule != "" {
		s.sched, s.length, _ = spec.RecurringWindow()
		s.recurring = true
	} else {
		s.start, s.end, _ = spec.FixedWindow()
	}
	return s, nil
}

func (s *silence) matches(labels map[string]string) bool {
	for i := range s.matchers {
		m := &s.matchers[i]
		v := labels[m.label]
		var ok bool
		if m.re != nil {
			ok = m.re.MatchString(v)
		} else {
			ok = v == m.value
		}
		if ok == m.negate {
			return false
		}
	}
	return true
}

// window returns whether the silence is active at t and the window in
// force then, or else the next one (zero when there is none). A recurring
// window starts at each time the cron expression names in loc, the host's
// time zone, and lasts the silence's duration of elapsed time: across a
// change to or from daylight saving time its end on the wall clock moves
// by the hour that was skipped or repeated. A start that falls in the hour
// skipped when clocks go forward does not happen that day; one in the hour
// repeated when clocks go back happens once, at its first occurrence (as
// internal/cron schedules it).
func (s *silence) window(t time.Time, loc *time.Location) (active bool, start, end time.Time) {
	if !s.recurring {
		return !t.Before(s.start) && t.Before(s.end), s.start, s.end
	}
	// A window holds t when it started in (t-length, t]; the earliest
	// such start is reported (a later one may extend the silence when
	// windows overlap).
	if st := s.sched.Next(t.Add(-s.length).In(loc)); !st.IsZero() && !st.After(t) {
		return true, st, st.Add(s.length)
	}
	next := s.sched.Next(t.In(loc))
	if next.IsZero() {
		return false, time.Time{}, time.Time{}
	}
	return false, next, next.Add(s.length)
}

// updateSilences decides which silences are active at now and announces
// each start and end to the silence's notify channels (alertmanager#730).
func (e *Engine) updateSilences(now time.Time) {
	for _, s := range e.silences {
		s.active, _, _ = s.window(now, e.cfg.Location)
		mark, was := e.silenceMarks[s.spec.Name]
		switch {
		case s.active && !was:
			mark = silenceMark{Comment: s.spec.Comment, NotifyChannels: s.spec.NotifyChannels, StartedAt: now}
			e.silenceMarks[s.spec.Name] = mark
			e.announceSilence(s.spec.Name, mark, api.AlertFiring, now)
		case !s.active && was:
			e.endSilence(s.spec.Name, mark, now)
		case s.active:
			// Follow edits of the comment and channels while it is active.
			mark.Comment, mark.NotifyChannels = s.spec.Comment, s.spec.NotifyChannels
			e.silenceMarks[s.spec.Name] = mark
		}
	}
	for name, mark := range e.silenceMarks {
		if e.silenceByName(name) == nil {
			e.endSilence(name, mark, now) // removed while active
		}
	}
}

func (e *Engine) endSilence(name string, mark silenceMark, now time.Time) {
	delete(e.silenceMarks, name)
	e.announceSilence(name, mark, api.AlertResolved, now)
}

func (e *Engine) silenceByName(name string) *silence {
	for _, s := range e.silences {
		if s.spec.Name == name {
			return s
		}
	}
	return nil
}

// announceSilence queues the start (state firing) or end (resolved) of a
// silence as an alert of its own, "silence:<name>", so every channel can
// carry it without knowing about silences.
func (e *Engine) announceSilence(name string, mark silenceMark, state string, now time.Time) {
	e.dirty = true
	e.log.Info("silence "+map[string]string{api.AlertFiring: "started", api.AlertResolved: "ended"}[state], "silence", name, "comment", mark.Comment)
	if len(mark.NotifyChannels) == 0 {
		return
	}
	rule := "silence:" + name
	labels := map[string]string{api.AlertLabelName: "silence", "silence": name}
	if e.cfg.Host != "" {
		labels[api.AlertLabelHost] = e.cfg.Host
	}
	verb := "started"
	a := api.Alert{Rule: rule, State: state, Labels: labels, StartsAt: mark.StartedAt, Fingerprint: api.AlertFingerprint(rule, labels)}
	if state == api.AlertResolved {
		verb, a.EndsAt = "ended", now
	}
	a.Annotations = map[string]string{"summary": "silence " + name + " " + verb + " on " + e.cfg.Host + ": " + mark.Comment, "comment": mark.Comment}
	for _, ch := range mark.NotifyChannels {
		e.queue(outgoing{Channel: ch, Alert: a})
	}
}
