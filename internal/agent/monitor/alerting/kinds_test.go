package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func methods() map[string]core.Handler {
	m := map[string]core.Handler{}
	Register(m)
	return m
}

// serveDaemon serves a's routes on the host's unix socket, as the daemon
// does, until the test ends.
func serveDaemon(t *testing.T, p core.Paths, a *Alerting) {
	t.Helper()
	ln, err := core.ListenSocket(p)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// A rule whose `for` is shorter than the host's interval (agent.json) is
// refused before anything is written, with the reason.
func TestAlertRule_checkUsesTheHostsInterval(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	agentJSON, _ := json.Marshal(api.AgentConfig{Monitoring: &api.Monitoring{Interval: "1m"}})
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.AgentConfig(), agentJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	rule := api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4, For: "30s"}
	err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.AlertRuleKind.Configure().Name, rule, nil)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeBadRequest || !strings.Contains(ae.Message, "for") || !strings.Contains(ae.Message, "1m") {
		t.Fatalf("configure with for 30s at a 1m interval: %v, want a bad request naming for and the interval", err)
	}
	if _, err := os.Stat(p.ObjectFile(api.AlertRuleKind.Dir, "load_high")); !os.IsNotExist(err) {
		t.Fatalf("spec file written for a refused rule: %v", err)
	}
	rule.For = "2m"
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.AlertRuleKind.Configure().Name, rule, nil); err != nil {
		t.Fatalf("configure with for 2m: %v", err)
	}
	// With no daemon, status still reads, with a note.
	var st api.ObjectStatus[api.AlertRule, api.AlertRuleObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.AlertRuleKind.Status().Name, api.ObjectName{Name: "load_high"}, &st); err != nil {
		t.Fatalf("status with the daemon down: %v", err)
	}
	if !st.Present || st.HostID != coretest.MachineID || !strings.Contains(st.Observed.Note, api.CodeDaemonUnavailable) {
		t.Fatalf("status with the daemon down: %+v, want present with a note", st)
	}
}

// A secret file open to other users is refused at configure, naming the
// attribute, as the notifier would refuse it at the first alert.
func TestNotificationChannel_checkSecretFiles(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	secret := p.Root + "/hmac.key"
	if err := os.WriteFile(secret, []byte("k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ch := api.NotificationChannel{Name: "ops", Type: api.ChannelWebhook, Webhook: &api.WebhookChannel{URL: "http://127.0.0.1:9/", SecretFile: secret}}
	err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Configure().Name, ch, nil)
	if err == nil || !strings.Contains(err.Error(), "webhook.secret_file") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("configure with a 0644 secret: %v, want it refused naming webhook.secret_file and the mode", err)
	}
	ch.Webhook.AuthorizationFile = p.Root + "/missing"
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatal(err)
	}
	err = coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Configure().Name, ch, nil)
	if err == nil || !strings.Contains(err.Error(), "webhook.authorization_file") {
		t.Fatalf("configure with a missing authorization file: %v, want it refused naming webhook.authorization_file", err)
	}
	ch.Webhook.AuthorizationFile = ""
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Configure().Name, ch, nil); err != nil {
		t.Fatalf("configure with a 0600 secret: %v", err)
	}
}

// test_on_create: a new channel gets a test through the daemon; a receiver
// that refuses it fails the configure with its answer and leaves no spec
// behind, so the next apply creates and tests it again; a daemon that is
// down fails it too.
func TestNotificationChannel_testOnCreate(t *testing.T) {
	t.Parallel()
	var answer atomic.Int32
	answer.Store(http.StatusServiceUnavailable)
	var tests atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tests.Add(1)
		w.WriteHeader(int(answer.Load()))
		_, _ = w.Write([]byte("receiver is in maintenance"))
	}))
	defer recv.Close()
	p := coretest.NewHost(t)
	ch := api.NotificationChannel{Name: "ops", Type: api.ChannelWebhook, Webhook: &api.WebhookChannel{URL: recv.URL}, TestOnCreate: true}
	configure := func() error {
		return coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Configure().Name, ch, nil)
	}
	var ae *api.Error
	if err := configure(); !errors.As(err, &ae) || ae.Code != api.CodeDaemonUnavailable {
		t.Fatalf("test_on_create with no daemon: %v, want %s", err, api.CodeDaemonUnavailable)
	}
	c := newClock()
	a, err := New(core.Deps{Paths: p, Now: c.Now}, api.Monitoring{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	serveDaemon(t, p, a)
	err = configure()
	if !errors.As(err, &ae) || ae.Code != api.CodeChannelTestFailed || !strings.Contains(ae.Message, "503") ||
		!strings.Contains(ae.Message, "receiver is in maintenance") {
		t.Fatalf("test_on_create against a 503: %v, want %s with the receiver's answer", err, api.CodeChannelTestFailed)
	}
	if _, err := os.Stat(p.ObjectFile(api.NotificationChannelKind.Dir, "ops")); !os.IsNotExist(err) {
		t.Fatalf("spec left after the failed test: %v", err)
	}
	answer.Store(http.StatusOK)
	if err := configure(); err != nil {
		t.Fatalf("test_on_create against a 200: %v", err)
	}
	before := tests.Load()
	if err := configure(); err != nil {
		t.Fatalf("configure again: %v", err)
	}
	if tests.Load() != before {
		t.Errorf("the test was sent again for a channel that exists")
	}
	var st api.ObjectStatus[api.NotificationChannel, api.NotificationChannelObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Status().Name, api.ObjectName{Name: "ops"}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Observed.Note != "" {
		t.Errorf("status from the daemon: %+v", st.Observed)
	}
	var hist api.AlertHistoryResult
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.AlertHistory.Name, api.AlertHistoryParams{Channel: "ops"}, &hist); err != nil {
		t.Fatal(err)
	}
	if hist.HostID != coretest.MachineID || len(hist.Deliveries) != 2 || hist.Deliveries[0].Result != api.DeliveryFailed ||
		hist.Deliveries[1].Result != api.DeliveryDelivered || hist.Deliveries[1].Event != api.DeliveryTest {
		t.Fatalf("alerts.history: %+v, want the failed and the delivered test", hist)
	}
}

// The routes that make the host act answer on the unix socket only: the
// TCP listener may be reachable by other users.
func TestRoutes_actingRoutesOnlyOnTheSocket(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	a, err := New(core.Deps{Paths: p}, api.Monitoring{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, channelsPath + "/ops/test"},
		{http.MethodDelete, channelsPath + "/ops"},
	} {
		req, _ := http.NewRequestWithContext(context.Background(), r.method, srv.URL+r.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s over TCP: %s, want 403", r.method, r.path, resp.Status)
		}
	}
	resp, err := srv.Client().Get(srv.URL + alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var st api.AlertsStatus
	err = json.NewDecoder(resp.Body).Decode(&st)
	_ = resp.Body.Close()
	if err != nil || st.HostID != coretest.MachineID || st.Alerts == nil {
		t.Fatalf("GET %s: %+v, %v", alertsPath, st, err)
	}
}

// silence.status reports the window the daemon's engine has and the firing
// alerts it holds back; a silence written after the daemon loaded its
// configuration is reported as not loaded yet, not as an error.
func TestSilence_statusFromTheDaemon(t *testing.T) {
	t.Parallel()
	p := hostWith(t, api.AlertRule{Name: "load_high", Metric: "node_load1", Op: ">", Threshold: 4, Channels: []string{"ops"}})
	c := newClock()
	sil := api.Silence{Name: "maint", Matchers: []api.LabelMatcher{{Label: "alertname", Op: "=", Value: "load_high"}},
		StartsAt: c.Now().Add(-time.Minute).Format(time.RFC3339), EndsAt: c.Now().Add(time.Hour).Format(time.RFC3339), Comment: "kernel upgrade"}
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.SilenceKind.Configure().Name, sil, nil); err != nil {
		t.Fatal(err)
	}
	a := newAlerting(t, c, nil, p)
	serveDaemon(t, p, a)
	collectAt(t, a, nil, c.Add(interval), sample("node_load1", 9))
	var st api.ObjectStatus[api.Silence, api.SilenceObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.SilenceKind.Status().Name, api.ObjectName{Name: "maint"}, &st); err != nil {
		t.Fatal(err)
	}
	if !st.Observed.Active || len(st.Observed.Silenced) != 1 || st.Observed.Note != "" {
		t.Fatalf("silence status: %+v, want active, holding back load_high", st.Observed)
	}
	if q := queued(t, p); len(q) != 0 {
		t.Errorf("silenced alert queued: %+v", q)
	}
	sil.Name = "later"
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.SilenceKind.Configure().Name, sil, nil); err != nil {
		t.Fatal(err)
	}
	if err := coretest.Call(t, methods(), core.Deps{Paths: p}, api.SilenceKind.Status().Name, api.ObjectName{Name: "later"}, &st); err != nil {
		t.Fatal(err)
	}
	if st.Observed.Active || !strings.Contains(st.Observed.Note, "not loaded or evaluated it yet") {
		t.Fatalf("status of a silence the daemon has not loaded: %+v", st.Observed)
	}
}

// A command channel's program runs as root at every notification: one
// that others could replace, or that is missing, is refused at configure.
func TestNotificationChannel_checkCommandProgram(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	prog := p.Root + "/notify.sh"
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\n"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(prog, 0o777); err != nil {
		t.Fatal(err)
	}
	ch := api.NotificationChannel{Name: "pager", Type: api.ChannelCommand, Command: &api.CommandChannel{Args: []string{prog}}}
	configure := func() error {
		return coretest.Call(t, methods(), core.Deps{Paths: p}, api.NotificationChannelKind.Configure().Name, ch, nil)
	}
	var ae *api.Error
	if err := configure(); !errors.As(err, &ae) || ae.Code != api.CodeProgramMissing || !strings.Contains(ae.Message, "command.args[0]") {
		t.Fatalf("configure with a world-writable program: %v, want %s naming command.args[0]", err, api.CodeProgramMissing)
	}
	ch.Command.Args[0] = p.Root + "/missing.sh"
	if err := configure(); !errors.As(err, &ae) || ae.Code != api.CodeProgramMissing {
		t.Fatalf("configure with a missing program: %v", err)
	}
	if os.Geteuid() == 0 { // only root owns a file RootOnly accepts, as on a managed host
		ch.Command.Args[0] = prog
		if err := os.Chmod(prog, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := configure(); err != nil {
			t.Fatalf("configure with a root-only program: %v", err)
		}
	}
}
