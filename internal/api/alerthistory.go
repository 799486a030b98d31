package api

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// AlertHistory reads a host's alert history (steward_alert_history,
// `steward-agent alerts`): the rule engine's transitions and the
// notification channels' delivery records, from the running daemon.
var AlertHistory = Method[AlertHistoryParams, AlertHistoryResult]{Name: "alerts.history"}

// MaxAlertHistoryLimit bounds AlertHistoryParams.Limit.
const MaxAlertHistoryLimit = 10000

// AlertHistoryParams filter the history; zero fields match everything.
type AlertHistoryParams struct {
	// Rule keeps the transitions of that rule and the deliveries that
	// carried one of its alerts.
	Rule string `json:"rule,omitempty"`
	// State keeps the transitions into that state and the deliveries that
	// carried an alert in it (firing or resolved).
	State string `json:"state,omitempty"`
	// Channel keeps only the deliveries of that channel (transitions are
	// kept whatever it says).
	Channel string `json:"channel,omitempty"`
	// Since and Until bound the time window, both inclusive.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Limit keeps the newest Limit transitions and the newest Limit
	// deliveries; 0 keeps everything the host holds.
	Limit int `json:"limit,omitempty"`
}

// alertStates lists the states AlertHistoryParams.State accepts.
var alertStates = []string{AlertInactive, AlertPending, AlertFiring, AlertResolved}

// Validate checks the filter, naming the attribute at fault.
func (p AlertHistoryParams) Validate() error {
	var errs []error
	if p.Rule != "" {
		if err := ValidateObjectName(p.Rule); err != nil {
			errs = append(errs, fmt.Errorf("rule: %w", err))
		}
	}
	if p.Channel != "" {
		if err := ValidateObjectName(p.Channel); err != nil {
			errs = append(errs, fmt.Errorf("channel: %w", err))
		}
	}
	if p.State != "" && !slices.Contains(alertStates, p.State) {
		errs = append(errs, fmt.Errorf("state %q: want one of inactive, pending, firing, resolved", p.State))
	}
	if !p.Since.IsZero() && !p.Until.IsZero() && p.Until.Before(p.Since) {
		errs = append(errs, fmt.Errorf("until %s is before since %s", p.Until.Format(time.RFC3339), p.Since.Format(time.RFC3339)))
	}
	if p.Limit < 0 || p.Limit > MaxAlertHistoryLimit {
		errs = append(errs, fmt.Errorf("limit %d: want 0 (everything kept) to %d", p.Limit, MaxAlertHistoryLimit))
	}
	return errors.Join(errs...)
}

// Transitions is the engine's filter for p.
func (p AlertHistoryParams) Transitions() AlertHistoryQuery {
	return AlertHistoryQuery{Rule: p.Rule, State: p.State, Since: p.Since, Until: p.Until, Limit: p.Limit}
}

// Deliveries is the notifier's filter for p.
func (p AlertHistoryParams) Deliveries() DeliveryFilter {
	return DeliveryFilter{Channel: p.Channel, Rule: p.Rule, State: p.State, Since: p.Since, Until: p.Until, Limit: p.Limit}
}

// AlertHistoryResult is the result of AlertHistory.
type AlertHistoryResult struct {
	HostID string    `json:"host_id"`
	At     time.Time `json:"at"` // when the daemon answered
	// Transitions are the alerts' state changes, oldest first.
	Transitions []AlertTransition `json:"transitions"`
	// Deliveries are the channels' delivery records, oldest first.
	Deliveries []DeliveryRecord `json:"deliveries"`
}

// AlertsStatus is what the daemon reports of its alerting as a whole
// (`steward-agent alerts`, the status page).
type AlertsStatus struct {
	HostID string    `json:"host_id"`
	At     time.Time `json:"at"`
	// Alerts are every alert that is not inactive.
	Alerts []AlertInstance `json:"alerts"`
	// LastEvaluation is when the rules were last evaluated (zero: not yet).
	LastEvaluation time.Time `json:"last_evaluation,omitzero"`
	// MutedUntil and MuteReason are the mute during Steward's own changes.
	MutedUntil time.Time `json:"muted_until,omitzero"`
	MuteReason string    `json:"mute_reason,omitempty"`
	// Problems are what is wrong with the alerting configuration or state:
	// rule, silence or channel files that did not load, a damaged state
	// file.
	Problems []string `json:"problems,omitempty"`
}
