package api

import (
	"errors"
	"fmt"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/cron"
)

// Silence is /etc/steward/silences/<name>.json (steward_silence): alerts
// whose labels match every matcher are recorded in the history but not
// sent while the silence is active. It is active either once, from
// StartsAt to EndsAt, or in a recurring maintenance window: from each time
// Schedule names (a cron expression in the host's time zone) for Duration.
type Silence struct {
	Name     string         `json:"name"`
	Matchers []LabelMatcher `json:"matchers"`            // against the alert's labels, alertname and host included
	StartsAt string         `json:"starts_at,omitempty"` // RFC 3339
	EndsAt   string         `json:"ends_at,omitempty"`   // RFC 3339
	Schedule string         `json:"schedule,omitempty"`  // cron expression, host time zone
	Duration string         `json:"duration,omitempty"`  // elapsed time from each scheduled start
	Comment  string         `json:"comment"`             // why; required
	// NotifyChannels are told when the silence starts and ends.
	NotifyChannels []string `json:"notify_channels,omitempty"`
}

// SilenceKind is the managed-object kind of steward_silence: the methods
// silence.configure, .remove and .status, and the files
// /etc/steward/silences/<name>.json.
var SilenceKind = Kind[Silence, SilenceObserved]{Name: "silence", Dir: "silences"}

// SilenceObserved is what silence.status observes.
type SilenceObserved struct {
	Active bool `json:"active"`
	// WindowStart and WindowEnd are the window in force, or the next one
	// when the silence is not active (zero when there is none).
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// Silenced are the fingerprints of the alerts it holds back now.
	Silenced []string `json:"silenced,omitempty"`
	// Note says why the rest is empty when the daemon could not be asked
	// (it is down) or does not have the silence loaded.
	Note string `json:"note,omitempty"`
}

// maxSilenceDuration bounds a maintenance window, so a typo such as "30d"
// for "30m" cannot silence a host for good without anyone noticing.
const maxSilenceDuration = 7 * 24 * time.Hour

// ObjectName returns the silence's name.
func (s Silence) ObjectName() string { return s.Name }

// Validate checks every attribute, naming it and saying what is accepted.
func (s Silence) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(ValidateObjectName(s.Name))
	if len(s.Matchers) == 0 {
		add(errors.New(`matchers: want at least one (alertname=~".+" silences every alert of the host)`))
	}
	errs = append(errs, validateMatchers("matchers", s.Matchers)...)
	if s.Comment == "" {
		add(errors.New("comment: required: say why the alerts are silenced, so whoever is paged next knows"))
	}
	once := s.StartsAt != "" || s.EndsAt != ""
	recurring := s.Schedule != "" || s.Duration != ""
	switch {
	case once && recurring:
		add(errors.New("starts_at/ends_at and schedule/duration: set one window, either a fixed one or a recurring one"))
	case once:
		start, end, err := s.FixedWindow()
		add(err)
		if err == nil && !end.After(start) {
			add(fmt.Errorf("ends_at %s: want a time after starts_at %s", s.EndsAt, s.StartsAt))
		}
	case recurring:
		_, d, err := s.RecurringWindow()
		add(err)
		if err == nil && d > maxSilenceDuration {
			add(fmt.Errorf("duration %s: want at most %s for a recurring window", d, maxSilenceDuration))
		}
	default:
		add(errors.New("starts_at and ends_at, or schedule and duration: required (the silence's window)"))
	}
	for i, c := range s.NotifyChannels {
		if err := ValidateObjectName(c); err != nil {
			add(fmt.Errorf("notify_channels[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// FixedWindow parses StartsAt and EndsAt.
func (s Silence) FixedWindow() (start, end time.Time, err error) {
	start, err = time.Parse(time.RFC3339, s.StartsAt)
	if err != nil {
		return start, end, fmt.Errorf("starts_at %q: want an RFC 3339 time such as 2026-03-01T22:00:00Z", s.StartsAt)
	}
	end, err = time.Parse(time.RFC3339, s.EndsAt)
	if err != nil {
		return start, end, fmt.Errorf("ends_at %q: want an RFC 3339 time such as 2026-03-01T23:00:00Z", s.EndsAt)
	}
	return start, end, nil
}

// RecurringWindow parses Schedule and Duration.
func (s Silence) RecurringWindow() (cron.Schedule, time.Duration, error) {
	if s.Schedule == "" || s.Duration == "" {
		return cron.Schedule{}, 0, errors.New("schedule and duration: a recurring window needs both")
	}
	sched, err := cron.Parse(s.Schedule)
	if err != nil {
		return cron.Schedule{}, 0, fmt.Errorf("schedule: %w", err)
	}
	d, err := ParseDuration(s.Duration)
	if err != nil {
		return cron.Schedule{}, 0, fmt.Errorf("duration: %w", err)
	}
	return sched, d, nil
}
