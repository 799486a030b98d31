package api

import "time"

// The delivery history of notification channels (steward_alert_history,
// `steward-agent alerts`): every attempt to deliver a notification and its
// result, and every notification dropped or found damaged.

// Delivery record events: what a DeliveryRecord is about.
const (
	DeliveryNotification = "notification" // A notification from the rule engine.
	DeliveryRepeat       = "repeat"       // A still-firing alert's repeat (RepeatInterval).
	DeliveryResend       = "resend"       // An Alertmanager channel's periodic re-send.
	DeliveryTest         = "test"         // A test send (test_on_create).
	DeliveryHeartbeat    = "heartbeat"    // A dead-man's-switch request.
	DeliveryQueue        = "queue"        // The channel's stored queue or state, found damaged.
)

// Delivery record results.
const (
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"   // The attempt failed; the notification stays queued.
	DeliveryRejected  = "rejected" // The receiver refused it as malformed; it is not retried.
	DeliveryDropped   = "dropped"  // Past the queue's bounds; never sent.
	DeliveryDamaged   = "damaged"  // Its queue file could not be read; moved aside.
)

// DeliveryRecord is one entry of a channel's delivery history: one attempt
// and its result, or a notification dropped or found damaged.
type DeliveryRecord struct {
	Time    time.Time `json:"time"`
	Channel string    `json:"channel"`
	Type    string    `json:"type"`
	Event   string    `json:"event"`  // One of the Delivery* events.
	Result  string    `json:"result"` // One of the Delivery* results.
	// ID names the queued notification; every attempt at it carries the
	// same, also in DeliveryIDHeader, so a receiver can drop a repeat of a
	// request whose answer was lost.
	ID       string          `json:"id,omitempty"`
	Attempt  int             `json:"attempt,omitempty"`
	QueuedAt time.Time       `json:"queued_at,omitzero"`
	Duration float64         `json:"duration_seconds,omitempty"`
	Error    string          `json:"error,omitempty"`
	Alerts   []DeliveryAlert `json:"alerts,omitempty"`
}

// DeliveryAlert names one alert a delivery carried.
type DeliveryAlert struct {
	Rule        string `json:"rule"`
	State       string `json:"state"`
	Fingerprint string `json:"fingerprint"`
}

// DeliveryFilter selects delivery records; zero fields select everything.
type DeliveryFilter struct {
	Channel string    `json:"channel,omitempty"`
	Rule    string    `json:"rule,omitempty"`  // Records carrying an alert of this rule.
	State   string    `json:"state,omitempty"` // … in this state (AlertFiring, AlertResolved).
	Event   string    `json:"event,omitempty"`
	Result  string    `json:"result,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
	Limit   int       `json:"limit,omitempty"` // The newest Limit records that match; 0: all kept.
}

// Match reports whether f selects r.
func (f DeliveryFilter) Match(r DeliveryRecord) bool {
	switch {
	case f.Channel != "" && r.Channel != f.Channel,
		f.Event != "" && r.Event != f.Event,
		f.Result != "" && r.Result != f.Result,
		!f.Since.IsZero() && r.Time.Before(f.Since),
		!f.Until.IsZero() && r.Time.After(f.Until):
		return false
	}
	if f.Rule == "" && f.State == "" {
		return true
	}
	for _, a := range r.Alerts {
		if (f.Rule == "" || a.Rule == f.Rule) && (f.State == "" || a.State == f.State) {
			return true
		}
	}
	return false
}
