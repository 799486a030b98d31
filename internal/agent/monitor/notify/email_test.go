package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// testCA is a CA and a server certificate for 127.0.0.1 it signed, as PEM
// files.
type testCA struct {
	caFile, certFile, keyFile string
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Steward test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return testCA{caFile: write("ca.pem", "CERTIFICATE", caDER), certFile: write("cert.pem", "CERTIFICATE", der),
		keyFile: write("key.pem", "EC PRIVATE KEY", keyDER)}
}

// smtpServer is testdata/smtpd.py running on aiosmtpd.
type smtpServer struct {
	port    int
	maildir string
}

// smtpOptions say how the test server runs.
type smtpOptions struct {
	mode           string // starttls, implicit or none
	user, password string // required credentials; none when empty
	onlyLogin      bool
	ca             *testCA
}

func startSMTP(t *testing.T, o smtpOptions) smtpServer {
	t.Helper()
	python := "/usr/bin/python3" // Debian's, where python3-aiosmtpd installs
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("aiosmtpd is not installed (Debian package python3-aiosmtpd)")
	}
	addr := freeAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	s := smtpServer{port: port, maildir: t.TempDir()}
	args := []string{"testdata/smtpd.py", "--port", portText, "--mode", o.mode, "--maildir", s.maildir}
	if o.ca != nil {
		args = append(args, "--cert", o.ca.certFile, "--key", o.ca.keyFile)
	}
	if o.user != "" {
		args = append(args, "--user", o.user, "--password", o.password)
	}
	if o.onlyLogin {
		args = append(args, "--only-login")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, args...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start smtpd.py: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("smtpd.py did not start:\n%s", stderr.String())
		}
	case <-time.After(realDeadline):
		t.Fatalf("smtpd.py did not start in time:\n%s", stderr.String())
	}
	return s
}

// messages are the messages the server saved, oldest first.
func (s smtpServer) messages(t *testing.T) []*mail.Message {
	t.Helper()
	entries, _ := os.ReadDir(s.maildir)
	var out []*mail.Message
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		f, err := os.Open(filepath.Join(s.maildir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		_ = f.Close()
		m, err := mail.ReadMessage(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("saved message does not parse: %v", err)
		}
		out = append(out, m)
	}
	return out
}

func emailSpec(s smtpServer, tlsMode string) api.NotificationChannel {
	return api.NotificationChannel{Name: "mail", Type: api.ChannelEmail, Timeout: "5m", Email: &api.EmailChannel{
		Host: "127.0.0.1", Port: s.port, TLS: tlsMode, From: "Steward <steward@web1.example.com>",
		To: []string{"ops@example.com", "Oncall <oncall@example.com>"}}}
}

// STARTTLS with a pinned CA and AUTH PLAIN: the message arrives, readable,
// with a subject naming state, rule and host.
func TestEmail_startTLSWithAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOptions{mode: "starttls", user: "alice", password: "pa55 word", ca: &ca})
	spec := emailSpec(srv, api.SMTPStartTLS)
	spec.Email.Username, spec.Email.PasswordFile, spec.Email.CAFile = "alice", writeSecret(t, "pw", "pa55 word\n"), ca.caFile
	h := newHarness(t, t.TempDir(), nil, spec)
	h.enqueue("mail", notification(alert("disk_full", api.AlertFiring, "1")))
	h.start()
	eventually(t, "the e-mail", func() bool { return len(srv.messages(t)) == 1 })
	m := srv.messages(t)[0]
	checks := map[string]string{
		"X-Test-Auth-User":     "alice",
		"X-Test-TLS":           "True",
		"X-Test-Envelope-From": "steward@web1.example.com",
		"X-Test-Envelope-To":   "ops@example.com,oncall@example.com",
		"From":                 `"Steward" <steward@web1.example.com>`,
		"Auto-Submitted":       "auto-generated",
	}
	for k, want := range checks {
		if got := m.Header.Get(k); got != want {
			t.Errorf("%s: %q; want %q", k, got, want)
		}
	}
	subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if subj != "[FIRING:1] disk_full on web1" {
		t.Errorf("subject %q", subj)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	for _, want := range []string{"[FIRING] disk_full", "disk almost full (1)", "Value: 93.5 (threshold 90)", "machine id 0123abcd"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// Implicit TLS and a server that offers only AUTH LOGIN.
func TestEmail_implicitTLSWithLogin(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOptions{mode: "implicit", user: "bob", password: "hunter2", onlyLogin: true, ca: &ca})
	spec := emailSpec(srv, api.SMTPImplicit)
	spec.Email.Username, spec.Email.PasswordFile, spec.Email.CAFile = "bob", writeSecret(t, "pw", "hunter2"), ca.caFile
	h := newHarness(t, t.TempDir(), nil, spec)
	if err := h.n.Test(t.Context(), "mail"); err != nil {
		t.Fatalf("Test: %v", err)
	}
	msgs := srv.messages(t)
	if len(msgs) != 1 || msgs[0].Header.Get("X-Test-Auth-User") != "bob" || msgs[0].Header.Get("X-Test-TLS") != "True" {
		t.Fatalf("want one message authenticated as bob over TLS, got %d", len(msgs))
	}
}

// A server refusing the credentials: the attempt fails with the server's
// answer in the delivery history and the status, the password nowhere,
// and the notification stays queued for a retry.
func TestEmail_authRefused(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := startSMTP(t, smtpOptions{mode: "starttls", user: "alice", password: "right", ca: &ca})
	spec := emailSpec(srv, api.SMTPStartTLS)
	spec.Email.Username, spec.Email.PasswordFile, spec.Email.CAFile = "alice", writeSecret(t, "pw", "wrong-password-xyz"), ca.caFile
	h := newHarness(t, t.TempDir(), nil, spec)
	h.enqueue("mail", notification(alert("disk_full", api.AlertFiring, "1")))
	h.start()
	eventually(t, "the failed attempt", func() bool { return len(h.n.History(api.DeliveryFilter{Result: api.DeliveryFailed})) >= 1 })
	rec := h.n.History(api.DeliveryFilter{Channel: "mail", Result: api.DeliveryFailed, Rule: "disk_full"})[0]
	if !strings.Contains(rec.Error, "authenticate as alice (PLAIN)") || !strings.Contains(rec.Error, "535") {
		t.Errorf("history error %q; want the refused authentication with the server's 535", rec.Error)
	}
	st := h.status("mail")
	if st.QueueLength != 1 || !strings.Contains(st.LastError, "535") {
		t.Errorf("status: queued %d, last error %q; want it queued with the refusal", st.QueueLength, st.LastError)
	}
	h.stop()
	hist, _ := os.ReadFile(filepath.Join(h.dir, "history.jsonl"))
	for where, text := range map[string]string{"log": h.log.String(), "history file": string(hist), "status": st.LastError} {
		if strings.Contains(text, "wrong-password-xyz") {
			t.Errorf("the password is in the %s", where)
		}
	}
	if len(srv.messages(t)) != 0 {
		t.Error("a message was accepted without authentication")
	}
}

// The server's certificate must chain to the pinned CA (or the host's trust
// store, which does not know the test CA); STARTTLS must be offered.
func TestEmail_tlsRequired(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	tlsSrv := startSMTP(t, smtpOptions{mode: "starttls", ca: &ca})
	plainSrv := startSMTP(t, smtpOptions{mode: "none"})
	untrusted := emailSpec(tlsSrv, api.SMTPStartTLS)
	untrusted.Name = "untrusted"
	noStartTLS := emailSpec(plainSrv, api.SMTPStartTLS)
	noStartTLS.Name = "nostarttls"
	loopback := emailSpec(plainSrv, api.SMTPNone)
	loopback.Name = "loopback"
	h := newHarness(t, t.TempDir(), nil, untrusted, noStartTLS, loopback)
	if err := h.n.Test(t.Context(), "untrusted"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server certificate from an unknown CA: %v; want a certificate error", err)
	}
	if err := h.n.Test(t.Context(), "nostarttls"); err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("a server without STARTTLS: %v; want a refusal to go on in clear", err)
	}
	if len(tlsSrv.messages(t))+len(plainSrv.messages(t)) != 0 {
		t.Fatal("a message was sent without the TLS the channel requires")
	}
	if err := h.n.Test(t.Context(), "loopback"); err != nil {
		t.Errorf("tls = none to a loopback server: %v", err)
	}
	if len(plainSrv.messages(t)) != 1 {
		t.Errorf("loopback server got %d messages; want 1", len(plainSrv.messages(t)))
	}
}
