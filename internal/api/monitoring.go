package api

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Monitoring is what the daemon collects, how long it keeps it, and who may
// read it (steward_host's monitoring block, in agent.json). Zero fields take
// the defaults below.
type Monitoring struct {
	// Interval between two collections (and, later, rule evaluations).
	Interval string `json:"interval,omitempty"`
	// Units are the systemd units whose state is collected.
	Units []string `json:"units,omitempty"`
	// TextfileMaxAge is how old a *.prom file in TextfileDir may be before
	// its samples count as no data; a file may declare its own.
	TextfileMaxAge string `json:"textfile_max_age,omitempty"`
	// History bounds: how long samples are kept at the collection interval,
	// as 1-minute roll-ups and as 1-hour roll-ups, and the most series kept.
	HistoryRaw    string `json:"history_raw,omitempty"`
	HistoryMinute string `json:"history_minute,omitempty"`
	HistoryHour   string `json:"history_hour,omitempty"`
	MaxSeries     int    `json:"max_series,omitempty"`
	// WebConfigFile is a Prometheus exporter-toolkit web configuration on
	// the host (TLS certificate and key, basic auth users with bcrypt
	// hashes). A listen address other than loopback requires one, with both
	// TLS and at least one user.
	WebConfigFile string `json:"web_config_file,omitempty"`
}

// Monitoring defaults.
const (
	DefaultMonitoringInterval = "10s"
	DefaultTextfileMaxAge     = "15m"
	DefaultHistoryRaw         = "48h"
	DefaultHistoryMinute      = "30d"
	DefaultHistoryHour        = "400d"
	DefaultMaxSeries          = 1000
	// TextfileDir is where node_exporter-format custom metrics are read from.
	TextfileDir = StateDir + "/textfile"
)

// unitNamePattern is what systemd accepts as a unit name with its type
// suffix (systemd.unit(5)); escapes such as \x2d are allowed.
var unitNamePattern = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$`)

// WithDefaults returns m with its zero fields set to the defaults; a nil m
// is all defaults.
func (m *Monitoring) WithDefaults() Monitoring {
	var out Monitoring
	if m != nil {
		out = *m
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&out.Interval, DefaultMonitoringInterval)
	def(&out.TextfileMaxAge, DefaultTextfileMaxAge)
	def(&out.HistoryRaw, DefaultHistoryRaw)
	def(&out.HistoryMinute, DefaultHistoryMinute)
	def(&out.HistoryHour, DefaultHistoryHour)
	if out.MaxSeries == 0 {
		out.MaxSeries = DefaultMaxSeries
	}
	return out
}

// Durations returns the interval, textfile age and history bounds, parsed.
func (m Monitoring) Durations() (interval, textfileMaxAge, raw, minute, hour time.Duration, err error) {
	d := m.WithDefaults()
	out := []*time.Duration{&interval, &textfileMaxAge, &raw, &minute, &hour}
	for i, f := range []struct{ name, value string }{
		{"interval", d.Interval}, {"textfile_max_age", d.TextfileMaxAge},
		{"history_raw", d.HistoryRaw}, {"history_minute", d.HistoryMinute}, {"history_hour", d.HistoryHour},
	} {
		v, perr := ParseDuration(f.value)
		if perr != nil {
			return 0, 0, 0, 0, 0, fmt.Errorf("%s: %w", f.name, perr)
		}
		*out[i] = v
	}
	return interval, textfileMaxAge, raw, minute, hour, nil
}

// Validate checks every field, naming it and saying what is accepted.
func (m Monitoring) Validate() error {
	var errs []error
	if err := m.CheckBounds(); err != nil {
		errs = append(errs, err)
	}
	if m.MaxSeries < 0 || m.MaxSeries > 100000 {
		errs = append(errs, fmt.Errorf("max_series %d: want between 1 and 100000", m.MaxSeries))
	}
	for _, u := range m.Units {
		if !unitNamePattern.MatchString(u) {
			errs = append(errs, fmt.Errorf("units: %q is not a systemd unit name with its type, such as \"nginx.service\"", u))
		}
	}
	if f := m.WebConfigFile; f != "" && (!path.IsAbs(f) || path.Clean(f) != f || strings.ContainsAny(f, "\n\x00")) {
		errs = append(errs, fmt.Errorf("web_config_file %q: want a clean absolute path on the host", f))
	}
	return errors.Join(errs...)
}

// CheckBounds checks the durations and how they relate: the interval and
// the history each tier keeps.
func (m Monitoring) CheckBounds() error {
	interval, _, raw, minute, hour, err := m.Durations()
	if err != nil {
		return err
	}
	var errs []error
	if interval < time.Second || interval > time.Hour || interval%time.Second != 0 || time.Hour%interval != 0 {
		errs = append(errs, fmt.Errorf("interval %s: want whole seconds between 1s and 1h that divide an hour (10s, 15s, 30s, 1m, …)", interval))
	}
	// The store builds each roll-up from whole blocks of the finer tier,
	// which must still hold them: these bounds always leave room for that.
	if raw < 2*time.Hour {
		errs = append(errs, fmt.Errorf("history_raw %s: want at least 2h", raw))
	}
	if minute < raw+time.Hour {
		errs = append(errs, fmt.Errorf("history_minute %s: want at least history_raw (%s) plus 1h", minute, raw))
	}
	if hour < minute {
		errs = append(errs, fmt.Errorf("history_hour %s: want at least history_minute (%s)", hour, minute))
	}
	if hour > 3660*24*time.Hour {
		errs = append(errs, fmt.Errorf("history_hour %s: want at most 10 years", hour))
	}
	return errors.Join(errs...)
}
