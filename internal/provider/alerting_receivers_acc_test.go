package provider

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// The real receivers the alerting acceptance tests start on the fleet's
// bridge address, where the hosts reach them: Alertmanager, an SMTP
// server, a Slack incoming webhook, and a webhook receiver the test takes
// down and brings back.

// freeBridgePort is a TCP port free on the bridge address now.
func freeBridgePort(t *testing.T, f fleet) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(f.BridgeAddress, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", f.BridgeAddress, err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port //nolint:forcetypeassert // a TCP listener's address
}

// startDaemon runs a receiver's program until the test ends, its output in
// a log file that a failing test prints.
func startDaemon(t *testing.T, dir, name string, cmd *exec.Cmd) {
	t.Helper()
	logFile := filepath.Join(dir, name+".log")
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = logs
	}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s's output:\n%s", name, b)
		}
	})
}

// amAlert is an alert as Alertmanager's GET /api/v2/alerts lists it
// (models.GettableAlert).
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// startAlertmanager runs a real Alertmanager (the Debian package) on the
// bridge address with its own configuration and storage, alone (no
// cluster gossip), routing every alert at once to the webhook hookURL.
// It returns its base URL.
func startAlertmanager(t *testing.T, f fleet, hookURL string) string {
	t.Helper()
	bin := "/usr/bin/prometheus-alertmanager"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("needs Alertmanager (Debian package prometheus-alertmanager; make deps installs it): %v", err)
	}
	dir := t.TempDir()
	// group_wait 0s and a short group_interval: the test waits for the
	// notification, not for Alertmanager's batching.
	cfg := fmt.Sprintf(`route:
  receiver: hook
  group_by: [alertname, host]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: %q
        send_resolved: true
`, hookURL)
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := net.JoinHostPort(f.BridgeAddress, strconv.Itoa(freeBridgePort(t, f)))
	startDaemon(t, dir, "alertmanager", exec.Command(bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+listen, "--cluster.listen-address=", "--log.level=debug"))
	base := "http://" + listen
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager on %s not ready within 30s: %v", listen, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alertmanagerAlerts lists the alerts Alertmanager holds, resolved ones
// left out as its API does.
func alertmanagerAlerts(base string) ([]amAlert, error) {
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var out []amAlert
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// waitAlertmanager polls Alertmanager's alerts of rule until ok accepts
// them.
func waitAlertmanager(t *testing.T, base, rule string, ok func([]amAlert) bool, what string, within time.Duration) []amAlert {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		all, err := alertmanagerAlerts(base)
		var of []amAlert
		for _, a := range all {
			if a.Labels["alertname"] == rule {
				of = append(of, a)
			}
		}
		if err == nil && ok(of) {
			return of
		}
		if time.Now().After(deadline) {
			t.Fatalf("Alertmanager: %s: not within %s (alerts of %s: %+v, %v)", what, within, rule, of, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// slackMessage is Slack's incoming-webhook message, as far as the tests
// read it.
type slackMessage struct {
	Text        string `json:"text"`
	Attachments []struct {
		Title  string `json:"title"`
		Text   string `json:"text"`
		Color  string `json:"color"`
		Fields []struct {
			Title string `json:"title"`
			Value string `json:"value"`
		} `json:"fields"`
	} `json:"attachments"`
}

// slackReceiver serves an incoming webhook on the bridge address and hands
// every message to the returned channel. It answers "ok", as Slack does.
func slackReceiver(t *testing.T, f fleet) (url string, messages <-chan slackMessage) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(f.BridgeAddress, "0"))
	if err != nil {
		t.Fatalf("listen on the bridge address %s: %v", f.BridgeAddress, err)
	}
	ch := make(chan slackMessage, 64)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m slackMessage
		if err := json.Unmarshal(b, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("slack message %q (%s): %v", b, r.Header.Get("Content-Type"), err)
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		ch <- m
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	// The path looks like Slack's: a token the agent must keep out of logs.
	return "http://" + ln.Addr().String() + "/services/T0ACC/B0ACC/acc-token", ch
}

// expectSlack waits for the next Slack message and wants it about one
// alert of rule in state.
func expectSlack(t *testing.T, messages <-chan slackMessage, rule, state string, within time.Duration) slackMessage {
	t.Helper()
	select {
	case m := <-messages:
		title := "[" + strings.ToUpper(state) + "] " + rule
		if len(m.Attachments) != 1 || m.Attachments[0].Title != title {
			t.Fatalf("slack message %+v: want one attachment titled %q", m, title)
		}
		return m
	case <-time.After(within):
		t.Fatalf("no %s slack message of %s within %s", state, rule, within)
	}
	return slackMessage{}
}

// smtpScript is an SMTP server on aiosmtpd (Debian package
// python3-aiosmtpd): STARTTLS required, then AUTH (PLAIN or LOGIN)
// required, with one user and password; every AUTH and every message is a
// JSON line on stdout.
const smtpScript = `import json, signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, cert, key, user, password = sys.argv[1:7]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
    print(json.dumps({"auth": mechanism, "ok": ok}), flush=True)
    # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
    return AuthResult(success=ok, handled=False)

class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                          "data": envelope.original_content.decode("utf-8", "replace")}), flush=True)
        return "250 OK"

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
c = Controller(Handler(), hostname=host, port=int(port), tls_context=ctx, require_starttls=True,
               auth_required=True, auth_require_tls=True, authenticator=authenticator)
c.start()
print(json.dumps({"ready": True}), flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
c.stop()
`

// smtpEvent is one line of smtpScript's output.
type smtpEvent struct {
	Ready bool     `json:"ready"`
	Auth  string   `json:"auth"`
	OK    bool     `json:"ok"`
	From  string   `json:"from"`
	To    []string `json:"to"`
	Data  string   `json:"data"`
}

// smtpServer is a running smtpScript.
type smtpServer struct {
	Port   int
	CAPEM  []byte           // its certificate, its own CA
	Auths  <-chan smtpEvent // every AUTH attempt
	Emails <-chan smtpEvent // every message accepted
}

// startSMTP runs smtpScript on the bridge address with a certificate for
// it, accepting user with password.
func startSMTP(t *testing.T, f fleet, user, password string) smtpServer {
	t.Helper()
	python := "/usr/bin/python3" // Debian's, which has aiosmtpd (a pyenv one on PATH may not)
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Fatalf("needs aiosmtpd (Debian package python3-aiosmtpd; make deps installs it): %v", err)
	}
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedFor(t, f.BridgeAddress, "smtp")
	for name, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM, "smtp.py": []byte(smtpScript)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freeBridgePort(t, f)
	cmd := exec.Command(python, filepath.Join(dir, "smtp.py"), f.BridgeAddress, strconv.Itoa(port),
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), user, password)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startDaemon(t, dir, "smtp", cmd)
	ready, auths, emails := make(chan struct{}), make(chan smtpEvent, 64), make(chan smtpEvent, 64)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e smtpEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue // not ours (aiosmtpd's own messages go to stderr)
			}
			switch {
			case e.Ready:
				close(ready)
			case e.Auth != "":
				auths <- e
			default:
				emails <- e
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the SMTP server did not start within 30s")
	}
	return smtpServer{Port: port, CAPEM: certPEM, Auths: auths, Emails: emails}
}

// email is a received message, its body decoded.
type email struct {
	Subject, Body string
	Header        mail.Header
}

// expectEmail waits for the next message and wants its subject to start
// with subject.
func expectEmail(t *testing.T, s smtpServer, subject string, within time.Duration) email {
	t.Helper()
	select {
	case e := <-s.Emails:
		m, err := mail.ReadMessage(strings.NewReader(e.Data))
		if err != nil {
			t.Fatalf("message %q: %v", e.Data, err)
		}
		var body []byte
		if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
			body, err = io.ReadAll(quotedprintable.NewReader(m.Body))
		} else {
			body, err = io.ReadAll(m.Body)
		}
		if err != nil {
			t.Fatalf("message body: %v", err)
		}
		got := email{Subject: m.Header.Get("Subject"), Body: string(body), Header: m.Header}
		if !strings.HasPrefix(got.Subject, subject) {
			t.Fatalf("e-mail %q (body %q): want a subject starting with %q", got.Subject, got.Body, subject)
		}
		return got
	case <-time.After(within):
		t.Fatalf("no e-mail %q within %s", subject, within)
	}
	return email{}
}

// webhookOutage is a webhook receiver on a fixed bridge port that the test
// takes down (connections refused) and brings back.
type webhookOutage struct {
	t        *testing.T
	addr     string
	URL      string
	Payloads chan webhookPayload
	mu       sync.Mutex
	srv      *http.Server
}

func newWebhookOutage(t *testing.T, f fleet) *webhookOutage {
	addr := net.JoinHostPort(f.BridgeAddress, strconv.Itoa(freeBridgePort(t, f)))
	w := &webhookOutage{t: t, addr: addr, URL: "http://" + addr + "/hook", Payloads: make(chan webhookPayload, 64)}
	t.Cleanup(w.down)
	return w
}

// up starts serving on the port.
func (w *webhookOutage) up() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		w.t.Fatalf("listen on %s again: %v", w.addr, err)
	}
	w.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: webhookHandler(w.t, w.Payloads)}
	go func() { _ = w.srv.Serve(ln) }()
}

// down closes the listener: the host's connections are refused.
func (w *webhookOutage) down() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.srv != nil {
		_ = w.srv.Close()
		w.srv = nil
	}
}

// hostAlerts is `steward-agent alerts --json` on h: the daemon's alert
// states and its recent history.
type hostAlerts struct {
	Status  api.AlertsStatus       `json:"status"`
	History api.AlertHistoryResult `json:"history"`
}

// waitHostAlerts runs `steward-agent alerts --json` for rule on h until ok
// accepts what it prints.
func waitHostAlerts(t *testing.T, f fleet, h fleetHost, rule string, ok func(hostAlerts) bool, what string) {
	t.Helper()
	within := notifyWithin
	deadline := time.Now().Add(within)
	for {
		out, err := onHost(t, f, h, "/usr/local/lib/steward/current alerts --json --limit 200 --rule "+rule)
		var got hostAlerts
		if err == nil {
			err = json.Unmarshal([]byte(out), &got)
		}
		if err == nil && ok(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("on %s, steward-agent alerts: %s: not within %s (%v)\n%s", h.Name, what, within, err, out)
		}
		time.Sleep(time.Second)
	}
}

// alertIn says whether st has an alert of rule in state with value.
func alertIn(st api.AlertsStatus, rule, state string, value float64) bool {
	for _, a := range st.Alerts {
		if a.Rule == rule && a.State == state && a.Value == value {
			return true
		}
	}
	return false
}
