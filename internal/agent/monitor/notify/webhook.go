package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// webhookPayload is Alertmanager's webhook payload, version 4 (its
// template.Data plus version, groupKey and truncatedAlerts), field for
// field, so receivers written for Alertmanager take it unchanged.
type webhookPayload struct {
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []webhookAlert    `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
}

type webhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // Zero (0001-01-01T00:00:00Z) while firing, as Alertmanager sends it.
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

type webhookSender struct {
	n       *Notifier
	channel string
	cfg     api.WebhookChannel
}

func (s *webhookSender) send(ctx context.Context, m message) error {
	body, err := json.Marshal(s.n.webhookPayload(s.channel, m.n, s.cfg.MaxAlerts))
	if err != nil {
		return fmt.Errorf("encode webhook payload: %w", err)
	}
	header := http.Header{api.DeliveryIDHeader: {m.id}}
	if s.cfg.SecretFile != "" {
		key, err := readSecretFile("webhook.secret_file", s.cfg.SecretFile)
		if err != nil {
			return err
		}
		header.Set(api.SignatureHeader, Signature([]byte(key), body))
	}
	if err := setAuthorization(header, "webhook.authorization_file", s.cfg.AuthorizationFile); err != nil {
		return err
	}
	return s.n.postJSON(ctx, http.MethodPost, s.cfg.URL, body, header)
}

// Signature is the value of api.SignatureHeader for body signed with key:
// "sha256=" and the hex HMAC-SHA256. A receiver computes the same over the
// raw request body and compares in constant time (hmac.Equal).
func Signature(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// webhookPayload renders n for receiver channel.
func (n *Notifier) webhookPayload(channel string, note api.Notification, maxAlerts int) webhookPayload {
	alerts := note.Alerts
	truncated := 0
	if maxAlerts > 0 && len(alerts) > maxAlerts {
		truncated = len(alerts) - maxAlerts
		alerts = alerts[:maxAlerts]
	}
	p := webhookPayload{
		Receiver: channel, Status: api.AlertResolved, ExternalURL: n.cfg.ExternalURL,
		Version: "4", TruncatedAlerts: truncated, Alerts: make([]webhookAlert, 0, len(alerts)),
	}
	var labelSets, annotationSets []map[string]string
	for _, a := range alerts {
		labels := alertLabels(note, a)
		annotations := nonNil(a.Annotations)
		wa := webhookAlert{Status: a.State, Labels: labels, Annotations: annotations, StartsAt: a.StartsAt,
			GeneratorURL: n.cfg.ExternalURL, Fingerprint: fingerprint(a)}
		if a.State == api.AlertFiring {
			p.Status = api.AlertFiring
		} else {
			wa.Status = api.AlertResolved
			wa.EndsAt = resolvedAt(a, note.Time)
		}
		p.Alerts = append(p.Alerts, wa)
		labelSets = append(labelSets, labels)
		annotationSets = append(annotationSets, annotations)
	}
	p.CommonLabels = common(labelSets)
	p.CommonAnnotations = common(annotationSets)
	// Steward groups by rule and host, as a route with
	// group_by: [alertname, host] would.
	p.GroupLabels = map[string]string{}
	for _, k := range []string{"alertname", "host"} {
		if v, ok := p.CommonLabels[k]; ok {
			p.GroupLabels[k] = v
		}
	}
	p.GroupKey = "{}:" + api.AlertLabelsString(p.GroupLabels)
	return p
}

// alertLabels are an alert's labels as receivers expect them: with
// alertname (the rule) and host, unless the rule set its own.
func alertLabels(n api.Notification, a api.Alert) map[string]string {
	labels := maps.Clone(a.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if _, ok := labels["alertname"]; !ok && a.Rule != "" {
		labels["alertname"] = a.Rule
	}
	if _, ok := labels["host"]; !ok && n.Host != "" {
		labels["host"] = n.Host
	}
	return labels
}

// resolvedAt is when a resolved alert ended; the notification's time if
// the rule engine left it out.
func resolvedAt(a api.Alert, fallback time.Time) time.Time {
	if !a.EndsAt.IsZero() {
		return a.EndsAt
	}
	return fallback
}

// common returns the pairs every set has.
func common(sets []map[string]string) map[string]string {
	out := map[string]string{}
	if len(sets) == 0 {
		return out
	}
	for _, k := range slices.Sorted(maps.Keys(sets[0])) {
		v := sets[0][k]
		all := true
		for _, s := range sets[1:] {
			if w, ok := s[k]; !ok || w != v {
				all = false
				break
			}
		}
		if all {
			out[k] = v
		}
	}
	return out
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
