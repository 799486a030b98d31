package agent

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// webhookV4 is the part of Alertmanager's webhook payload (version 4) the
// test checks, decoded as a receiver written for Alertmanager would.
type webhookV4 struct {
	Version string `json:"version"`
	Status  string `json:"status"`
	Alerts  []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
		EndsAt time.Time         `json:"endsAt"`
	} `json:"alerts"`
	GroupKey string `json:"groupKey"`
	received time.Time
}

// TestAlerting_throughTheDaemon: a threshold rule on a textfile metric and
// a webhook channel, in an in-process daemon. The metric crosses the
// threshold and the webhook gets Alertmanager's v4 payload within interval
// + 2 s; it falls back and the resolve arrives; the daemon restarts while
// the alert fires and the receiver gets no second firing notification,
// and still the resolve.
func TestAlerting_throughTheDaemon(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	payloads := make(chan webhookV4, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p webhookV4
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		p.received = time.Now()
		payloads <- p
	}))
	defer srv.Close()

	p := coretest.NewHost(t)
	writeJSON := func(file string, v any) {
		t.Helper()
		b, _ := json.Marshal(v)
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	textfile := filepath.Join(p.Root, api.TextfileDir, "test.prom")
	setValue := func(v string) time.Time {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(textfile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := atomicfile.Write(textfile, []byte("steward_test_queue_depth "+v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	setValue("1")
	writeJSON(p.ObjectFile(api.NotificationChannelKind.Dir, "hook"), api.NotificationChannel{Name: "hook", Type: api.ChannelWebhook,
		Webhook: &api.WebhookChannel{URL: srv.URL}, RetryMin: "100ms", RetryMax: "1s"})
	writeJSON(p.ObjectFile(api.AlertRuleKind.Dir, "queue_deep"), api.AlertRule{Name: "queue_deep", Metric: "steward_test_queue_depth",
		Op: ">", Threshold: 5, Channels: []string{"hook"}, Severity: "page"})
	cfg := DaemonConfig{Paths: p, Monitoring: api.Monitoring{Interval: "1s"}}

	// expect waits for the next payload, at most within of since.
	expect := func(status string, since time.Time, within time.Duration) webhookV4 {
		t.Helper()
		select {
		case got := <-payloads:
			if got.Version != "4" || got.Status != status || len(got.Alerts) != 1 || got.Alerts[0].Status != status ||
				got.Alerts[0].Labels["alertname"] != "queue_deep" || got.Alerts[0].Labels["severity"] != "page" || got.GroupKey == "" {
				t.Fatalf("webhook payload %+v: want one %s queue_deep alert in Alertmanager's version 4 format", got, status)
			}
			took := got.received.Sub(since)
			if took > within {
				t.Fatalf("%s notification %s after the change, want within %s", status, took, within)
			}
			t.Logf("%s notification %s after the change", status, took.Round(time.Millisecond))
			return got
		case <-time.After(within + time.Until(since)):
			t.Fatalf("no %s notification within %s of the change", status, within)
		}
		return webhookV4{}
	}
	quiet := func(d time.Duration) {
		t.Helper()
		select {
		case got := <-payloads:
			t.Fatalf("unexpected notification: %+v", got)
		case <-time.After(d):
		}
	}

	d := startTestDaemon(t, cfg)
	quiet(3 * interval) // below the threshold: nothing is sent
	expect(api.AlertFiring, setValue("10"), interval+2*time.Second)
	resolved := expect(api.AlertResolved, setValue("2"), interval+2*time.Second)
	if resolved.Alerts[0].EndsAt.IsZero() {
		t.Errorf("resolve without endsAt: %+v", resolved)
	}

	expect(api.AlertFiring, setValue("10"), interval+2*time.Second)
	// The status page shows it.
	resp, err := http.Get("http://" + d.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(string(page), "<td>queue_deep</td>") || !strings.Contains(string(page), `class="bad">firing`) {
		t.Errorf("the status page does not show queue_deep firing:\n%s", page)
	}
	// The receiver has it; wait until the notifier has its answer too (a
	// notification whose answer a stop cuts off is sent again, with the
	// same delivery id: at least once, never lost).
	waitDelivered(t, p, "hook", 3)
	d.stop(t, 10*time.Second)
	d = startTestDaemon(t, cfg)
	quiet(4 * interval) // still firing after the restart: no second notification
	expect(api.AlertResolved, setValue("1"), interval+2*time.Second)
	d.stop(t, 10*time.Second)

	hist := filepath.Join(p.StateDir, "alerts", "rule-state.json")
	if _, err := os.Stat(hist); err != nil {
		t.Errorf("engine state: %v", err)
	}
	var st api.ObjectStatus[api.NotificationChannel, api.NotificationChannelObserved]
	if err := coretest.Call(t, DefaultMethods(), core.Deps{Paths: p}, api.NotificationChannelKind.Status().Name, api.ObjectName{Name: "hook"}, &st); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Observed.Note, "not observed: "+api.CodeDaemonUnavailable) {
		t.Errorf("channel status with the daemon stopped: note %q, want it to say the daemon does not answer", st.Observed.Note)
	}
}

// waitDelivered waits until channel has delivered n notifications, as the
// daemon reports through notification_channel.status.
func waitDelivered(t *testing.T, p core.Paths, channel string, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var st api.ObjectStatus[api.NotificationChannel, api.NotificationChannelObserved]
		if err := coretest.Call(t, DefaultMethods(), core.Deps{Paths: p}, api.NotificationChannelKind.Status().Name, api.ObjectName{Name: channel}, &st); err != nil {
			t.Fatal(err)
		}
		if st.Observed.Delivered >= n && st.Observed.QueueLength == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s: %+v, want %d delivered and nothing queued", channel, st.Observed, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
