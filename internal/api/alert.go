package api

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"
)

// Alert states, as the rule engine moves a rule's alert through them.
const (
	AlertInactive = "inactive"
	AlertPending  = "pending"
	AlertFiring   = "firing"
	AlertResolved = "resolved"
)

// Alert is one alert as the rule engine hands it to the notification
// channels: one per rule and label set. Channels translate it into their
// receiver's format (Alertmanager's webhook payload and API, e-mail,
// Slack, a command's stdin).
type Alert struct {
	Rule        string            `json:"rule"`
	State       string            `json:"state"` // AlertFiring or AlertResolved
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Value       float64           `json:"value"`
	Threshold   float64           `json:"threshold"`
	StartsAt    time.Time         `json:"starts_at"`
	EndsAt      time.Time         `json:"ends_at,omitzero"` // set when resolved
	// Fingerprint identifies the alert across transitions and restarts.
	Fingerprint string `json:"fingerprint"`
	// NoData says the alert fires because its series has no data (a rule
	// with no_data = "alert", or an absent rule); Value is then the last
	// value seen.
	NoData bool `json:"no_data,omitempty"`
}

// AlertFingerprint is the Fingerprint of the alert of rule with labels: a
// digest of the rule name and the sorted labels.
func AlertFingerprint(rule string, labels map[string]string) string {
	h := sha256.New()
	h.Write([]byte(rule))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Notification is what one channel is asked to send at once: the alerts of
// one evaluation that changed state (or are due for a repeat), from one host.
type Notification struct {
	Host     string    `json:"host"`    // the host's name
	HostID   string    `json:"host_id"` // its machine id
	Channel  string    `json:"channel"`
	Alerts   []Alert   `json:"alerts"`
	Time     time.Time `json:"time"`
	IsRepeat bool      `json:"is_repeat,omitempty"`
}

// AlertLabelsString renders labels as {a="1", b="2"} for logs and messages.
func AlertLabelsString(labels map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=\"" + labels[k] + "\"")
	}
	b.WriteByte('}')
	return b.String()
}
