// Package alert is the on-host rule engine: it evaluates the alert rules
// (api.AlertRule, steward_alert_rule) right after each collection, moves
// each alert through its states, applies silences (api.Silence,
// steward_silence) and the mute during Steward's own changes, keeps the
// history of transitions, and hands the notifications to send, per
// channel, to the daemon, which enqueues them for the notifiers.
//
// # API
//
//	e, err := alert.New(alert.Config{StateDir: ..., Clock: ..., Logger: ..., Host: ..., HostID: ..., Interval: ...})
//	err = e.SetRules(rules)          // on start and whenever /etc/steward/alert_rules changes
//	err = e.SetSilences(silences)    // likewise for /etc/steward/silences
//	ns, err := e.Evaluate(now, src)  // after each collection; enqueue ns, then
//	err = e.Save()                   // so a crash repeats a notification rather than losing it
//	e.Mute(until, reason); e.Unmute() // around Steward's own deploys and restarts
//	err = e.Close()                  // when the daemon stops
//	e.RuleStatus(name), e.Alerts(), e.History(q), e.SilenceStatus(name, now), e.Muted(), e.Problem()
//	alert.RunTestFile(path, w)       // steward-agent rules test FILE
//
// Source is the engine's view of the metrics: the latest sample of every
// series of a metric (stale ones marked, so a series without current data
// is no data, not a missing series) and the points of one series in a
// window. The daemon adapts the collector and the history store to it.
//
// # States
//
// Each rule has one alert per series it selects (for absent rules, and for
// no_data = "alert" on a selector that matches nothing, one for the rule
// as a whole, labelled with the selector's equality matchers):
//
//	inactive → pending   the condition holds (value op threshold)
//	pending  → firing    it has been seen holding for `for` (at once when for is 0)
//	pending  → inactive  it stopped holding before that
//	firing   → resolved  it has not held for keep_firing_for, and the value has been
//	                     on the clear side of resolve_threshold (threshold without
//	                     one) for clear_for
//	resolved → pending   the condition holds again (a new episode)
//
// A resolve threshold is hysteresis: with op ">" 90 and resolve 80, a
// value hovering between 80 and 90 keeps a firing alert firing, so it is
// notified once per real crossing, not once per wobble. Every transition
// goes into the history (bounded, HistoryLimit), silenced and muted ones
// marked as such. A resolved alert stays visible for an hour.
//
// # Timers count observed time
//
// `for`, keep_firing_for and clear_for measure the time the engine saw the
// condition, from one evaluation to the next. Time nobody observed does
// not count: across an agent restart a pending alert resumes with the time
// it had been seen pending when the agent stopped; the downtime is not
// added (no one saw the condition then) and the timer does not start over
// (what was seen still counts). So a rule with `for = "1m"` that had been
// pending for 30 s fires once the condition has been seen holding for 30 s
// more after the restart, and goes inactive at once if it no longer holds.
// Close writes the timers; a crash loses at most the last minute of them
// (they are written at most once a minute), which can only make the alert
// fire later. With no_data = "keep" the time without data is not observed
// time either.
//
// # No data
//
// A series has no data when the source marks it stale (its collector
// failed, its textfile is older than its freshness, node_exporter#713), a
// window holds no points (or fewer than two for rate and increase), its
// value is NaN, or it vanished from the source while its alert was
// pending or firing. no_data decides: "ok" (default) counts it as the
// condition not holding, "alert" as holding (the alert carries NoData),
// "keep" leaves the alert as it is.
//
// # Notifications
//
// A firing alert goes to every channel of its rule that has not been told
// yet: when it fires, to a channel added to the rule later, and, after a
// silence or a mute that held it back, at the first evaluation after it
// ends (alertmanager#2896). After repeat_interval it goes again (IsRepeat).
// Its resolve goes to every channel that was told it fires, silence or
// not. A rule removed, or whose selector changes, resolves its alerts. A
// silence with notify_channels announces its start and end as an alert of
// its own, "silence:<name>" (alertmanager#730). Labels are rendered when
// an alert becomes active and kept until it resolves (so the fingerprint
// is stable); annotations are rendered for each notification, with the
// current value. Every alert carries the labels alertname, severity (when
// set) and host (unless the series has one).
//
// # State on disk
//
// Config.StateDir/rule-state.json (0600, in a 0700 directory) holds the
// alerts that are not inactive, the history, notifications made outside an
// evaluation, the active silences and the mute. It is written whole and
// atomically, only when something a restart must not lose changed, so a
// power cut leaves the previous version or the new one. A file that does
// not decode or holds what the engine never writes is moved aside as
// rule-state.json.damaged-<time>, reported by Problem and the log, and the
// engine starts clean.
//
// # Rule test files
//
// `steward-agent rules test FILE` (RunTestFile) reads YAML (or JSON) with
// the rules' JSON field names:
//
//	rule_files: [disk.json]            # specs as in /etc/steward/alert_rules, relative to the file
//	rules: [...]                       # or rules inline
//	tests:
//	  - name: root fills up
//	    interval: 10s                  # the collection interval (default 10s)
//	    host: web1
//	    series:
//	      - metric: node_filesystem_avail_bytes
//	        labels: {mountpoint: /}
//	        values: 3e9x5 9e8x8 _ stale  # promtool's notation: a+bxn, a-bxn, axn, _xn, _, stale
//	    expect:
//	      - at: 2m                      # a multiple of the interval, from 0
//	        alerts:                     # all pending and firing alerts (resolved ones if listed)
//	          - {labels: {mountpoint: /}, state: firing}
//	        notifications:              # all alerts handed out at that evaluation
//	          - {channel: ops, state: firing, labels: {mountpoint: /}, annotations: {summary: ...}}
//
// Series start at the Unix epoch, as in promtool. It prints every
// transition and notification as it happens and each expectation's
// result, and fails when one is not met. examples/alerting has a rule and
// its test.
package alert
