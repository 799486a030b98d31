package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// The webhook payload is Alertmanager's version 4, field by field, and is
// signed with the key in secret_file.
func TestWebhook_payloadIsAlertmanagerV4AndSigned(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	const key = "s3cret-hmac-key"
	spec := webhookSpec("ops", r.url())
	spec.Webhook.SecretFile = writeSecret(t, "hmac", key+"\n")
	spec.Webhook.AuthorizationFile = writeSecret(t, "auth", "Bearer tok-123\n")
	h := newHarnessWith(t, Config{StateDir: t.TempDir(), ExternalURL: "https://web1.example.com:9276/"}, nil, spec)
	firing := alert("disk_full", api.AlertFiring, "1")
	firing.Labels["mountpoint"] = "/"
	firing.Fingerprint = api.AlertFingerprint("disk_full", firing.Labels)
	resolved := alert("disk_full", api.AlertResolved, "2")
	h.enqueue("ops", notification(firing, resolved))
	h.start()
	eventually(t, "the webhook", func() bool { return r.accepted() == 1 })

	r.mu.Lock()
	body, header := r.bodies[0], r.headers[0]
	r.mu.Unlock()
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	wantKeys := []string{"alerts", "commonAnnotations", "commonLabels", "externalURL", "groupKey", "groupLabels",
		"receiver", "status", "truncatedAlerts", "version"}
	if diff := cmp.Diff(wantKeys, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("top-level fields (-want +got):\n%s", diff)
	}
	want := map[string]any{
		"receiver":          "ops",
		"status":            "firing",
		"version":           "4",
		"externalURL":       "https://web1.example.com:9276/",
		"truncatedAlerts":   float64(0),
		"groupLabels":       map[string]any{"alertname": "disk_full", "host": "web1"},
		"commonLabels":      map[string]any{"alertname": "disk_full", "host": "web1", "severity": "critical"},
		"commonAnnotations": map[string]any{},
		"groupKey":          `{}:{alertname="disk_full", host="web1"}`,
		"alerts": []any{
			map[string]any{
				"status":       "firing",
				"labels":       map[string]any{"alertname": "disk_full", "host": "web1", "severity": "critical", "seq": "1", "mountpoint": "/"},
				"annotations":  map[string]any{"summary": "disk almost full (1)"},
				"startsAt":     "2030-01-02T03:00:00Z",
				"endsAt":       "0001-01-01T00:00:00Z",
				"generatorURL": "https://web1.example.com:9276/",
				"fingerprint":  firing.Fingerprint,
			},
			map[string]any{
				"status":       "resolved",
				"labels":       map[string]any{"alertname": "disk_full", "host": "web1", "severity": "critical", "seq": "2"},
				"annotations":  map[string]any{"summary": "disk almost full (2)"},
				"startsAt":     "2030-01-02T03:00:00Z",
				"endsAt":       "2030-01-02T03:30:00Z",
				"generatorURL": "https://web1.example.com:9276/",
				"fingerprint":  resolved.Fingerprint,
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}

	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	if sig := header.Get(api.SignatureHeader); sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("%s = %q; want the HMAC-SHA256 of the body under the key without its newline", api.SignatureHeader, sig)
	}
	if got := header.Get("Authorization"); got != "Bearer tok-123" {
		t.Errorf("Authorization = %q; want the file's content", got)
	}
	eventually(t, "the delivery record", func() bool { return len(h.n.History(api.DeliveryFilter{Result: api.DeliveryDelivered})) == 1 })
	rec := h.n.History(api.DeliveryFilter{Result: api.DeliveryDelivered})
	if len(rec) != 1 || header.Get(api.DeliveryIDHeader) != rec[0].ID {
		t.Errorf("%s = %q; want the delivery's id in the history (%+v)", api.DeliveryIDHeader, header.Get(api.DeliveryIDHeader), rec)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
}

// max_alerts truncates the payload as Alertmanager's does.
func TestWebhook_maxAlerts(t *testing.T) {
	t.Parallel()
	n := &Notifier{cfg: Config{}}
	note := notification(alert("a", api.AlertResolved, "1"), alert("b", api.AlertResolved, "2"), alert("c", api.AlertResolved, "3"))
	p := n.webhookPayload("ops", note, 2)
	if len(p.Alerts) != 2 || p.TruncatedAlerts != 1 || p.Status != "resolved" {
		t.Errorf("alerts %d, truncatedAlerts %d, status %s; want 2, 1, resolved", len(p.Alerts), p.TruncatedAlerts, p.Status)
	}
	if _, ok := p.GroupLabels["alertname"]; ok {
		t.Errorf("groupLabels %v carry an alertname the alerts do not share", p.GroupLabels)
	}
}

// A secret file others may read is refused, and the error names the file,
// never its content.
func TestWebhook_secretFileModeChecked(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	spec := webhookSpec("ops", r.url())
	spec.Webhook.SecretFile = writeSecret(t, "hmac", "leaky-key")
	if err := chmod(spec.Webhook.SecretFile, 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, t.TempDir(), nil, spec)
	err := h.n.Test(t.Context(), "ops")
	if err == nil || !strings.Contains(err.Error(), "mode 0644") || strings.Contains(err.Error(), "leaky-key") {
		t.Fatalf("Test with a world-readable key: %v; want a refusal naming the mode, not the key", err)
	}
	if r.tried() != 0 {
		t.Errorf("the receiver got %d requests signed with a key others can read", r.tried())
	}
}

// Secrets are read at every send: a rotated key signs the next request.
func TestWebhook_secretReadAtSendTime(t *testing.T) {
	t.Parallel()
	r := newReceiver(t)
	spec := webhookSpec("ops", r.url())
	spec.Webhook.SecretFile = writeSecret(t, "hmac", "old-key")
	h := newHarness(t, t.TempDir(), nil, spec)
	for _, key := range []string{"old-key", "new-key"} {
		if err := os.WriteFile(spec.Webhook.SecretFile, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := h.n.Test(t.Context(), "ops"); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		body, sig := r.bodies[len(r.bodies)-1], r.headers[len(r.headers)-1].Get(api.SignatureHeader)
		r.mu.Unlock()
		if sig != Signature([]byte(key), body) {
			t.Errorf("signature %s is not under the key in the file now (%s)", sig, key)
		}
	}
}
