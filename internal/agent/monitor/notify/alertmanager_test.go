package notify

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// startAlertmanager runs Debian's prometheus-alertmanager on a free
// loopback port, without clustering, and returns its base URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Skip("prometheus-alertmanager is not installed (Debian package prometheus-alertmanager)")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "alertmanager.yml")
	// A route that never notifies: the test reads the alerts from the API.
	if err := os.WriteFile(config, []byte("route:\n  receiver: blackhole\n  group_wait: 1h\nreceivers:\n  - name: blackhole\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+config, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	eventually(t, "alertmanager to be ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// gettableAlert is what Alertmanager's GET /api/v2/alerts returns.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []gettableAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatalf("query alertmanager: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out []gettableAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode alertmanager's alerts: %v", err)
	}
	return out
}

func findAlert(alerts []gettableAlert, rule, seq string) *gettableAlert {
	for i, a := range alerts {
		if a.Labels["alertname"] == rule && a.Labels["seq"] == seq {
			return &alerts[i]
		}
	}
	return nil
}

// A real Alertmanager shows the alert Steward posts, keeps it firing by
// the periodic re-send (its end moves on), and resolves it when Steward
// sends its end; a second, unreachable member does not stop delivery.
func TestAlertmanager_realAlertmanager(t *testing.T) {
	t.Parallel()
	base := startAlertmanager(t)
	dead := "http://" + freeAddr(t)
	spec := api.NotificationChannel{Name: "am", Type: api.ChannelAlertmanager, Timeout: "5m",
		Alertmanager: &api.AlertmanagerChannel{URLs: []string{base, dead}, ResendInterval: "1m"}}
	// Alertmanager compares ends with its own clock: the fake one starts at the real time.
	clock := newFakeClock()
	clock.now = time.Now().UTC().Truncate(time.Second)
	h := newHarnessWith(t, Config{StateDir: t.TempDir(), ExternalURL: "https://web1.example.com:9276/"}, clock, spec)
	firing := alert("disk_full", api.AlertFiring, "1")
	firing.StartsAt = clock.Now().Add(-time.Minute)
	h.enqueue("am", notification(firing))
	h.start()

	var got *gettableAlert
	eventually(t, "the alert in alertmanager", func() bool {
		got = findAlert(amAlerts(t, base), "disk_full", "1")
		return got != nil
	})
	if got.Labels["host"] != "web1" || got.Labels["severity"] != "critical" || got.Annotations["summary"] != "disk almost full (1)" {
		t.Errorf("alertmanager has labels %v, annotations %v", got.Labels, got.Annotations)
	}
	if !got.StartsAt.Equal(firing.StartsAt) {
		t.Errorf("startsAt %s; want %s", got.StartsAt, firing.StartsAt)
	}
	if want := clock.Now().Add(4 * time.Minute); !got.EndsAt.Equal(want) {
		t.Errorf("endsAt %s; want four re-send intervals ahead, %s", got.EndsAt, want)
	}
	if got.Status.State == "" || got.Status.State == "resolved" {
		t.Errorf("state %q; want it firing", got.Status.State)
	}
	eventually(t, "the delivery record", func() bool {
		return len(h.n.History(api.DeliveryFilter{Channel: "am", Result: api.DeliveryDelivered})) == 1
	})
	rec := h.n.History(api.DeliveryFilter{Channel: "am", Result: api.DeliveryDelivered})[0]
	if !strings.Contains(rec.Error, "1 of 2 Alertmanagers failed") || !strings.Contains(rec.Error, api.RedactURL(dead)) {
		t.Errorf("delivery record error %q; want it to name the unreachable member", rec.Error)
	}

	// A minute on, the re-send moves the end along.
	firstEnd := got.EndsAt
	h.drive(time.Minute, "the re-send", func() bool {
		a := findAlert(amAlerts(t, base), "disk_full", "1")
		return a != nil && a.EndsAt.After(firstEnd)
	})
	if a := findAlert(amAlerts(t, base), "disk_full", "1"); !a.EndsAt.Equal(firstEnd.Add(time.Minute)) {
		t.Errorf("after the re-send endsAt %s; want %s", a.EndsAt, firstEnd.Add(time.Minute))
	}

	resolved := firing
	resolved.State, resolved.EndsAt = api.AlertResolved, time.Now().UTC().Add(-time.Second)
	h.enqueue("am", notification(resolved))
	eventually(t, "the alert to resolve in alertmanager", func() bool {
		return findAlert(amAlerts(t, base), "disk_full", "1") == nil
	})
	eventually(t, "the resolve to be acknowledged", func() bool { return h.status("am").QueueLength == 0 })
	if st := h.status("am"); st.Firing != 0 {
		t.Errorf("after the resolve: %d firing, %d queued", st.Firing, st.QueueLength)
	}
}

// test_on_create against Alertmanager: accepted, and nothing left firing.
func TestAlertmanager_testSend(t *testing.T) {
	t.Parallel()
	base := startAlertmanager(t)
	spec := api.NotificationChannel{Name: "am", Type: api.ChannelAlertmanager, Alertmanager: &api.AlertmanagerChannel{URLs: []string{base + "/"}}}
	clock := newFakeClock()
	clock.now = time.Now().UTC()
	h := newHarnessWith(t, Config{StateDir: t.TempDir()}, clock, spec)
	if err := h.n.Test(t.Context(), "am"); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if a := findAlert(amAlerts(t, base), "steward_test", ""); a != nil {
		t.Errorf("the test alert fires in alertmanager: %+v", a)
	}
	// Alertmanager refuses what it cannot take (400): rejected, not retried.
	bad := notification(api.Alert{Rule: "x", State: api.AlertFiring, Labels: map[string]string{"bad label": "1"}, StartsAt: clock.now})
	s := h.n.newSender(spec.WithDefaults())
	err := s.send(t.Context(), message{id: "1", event: api.DeliveryNotification, n: bad, now: clock.now})
	var rej *rejectedError
	if !errors.As(err, &rej) {
		t.Errorf("posting an invalid label name: %v; want a rejection", err)
	}
}
