package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// selfSignedFor is a self-signed certificate for ip (its own CA) and its
// key, PEM encoded.
func selfSignedFor(t *testing.T, ip, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		IPAddresses: []net.IP{net.ParseIP(ip)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestAccLogForward_tlsPinnedCA: over TLS to a real rsyslogd (gtls) on the
// bridge, a file's numbered lines all arrive when the receiver's
// certificate chains to the pinned CA file on the host; pinned to another
// CA, the agent refuses the receiver and says why in last_error.
func TestAccLogForward_tlsPinnedCA(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so"); err != nil {
		t.Fatalf("the TLS test needs rsyslog's gtls driver (Debian package rsyslog-gnutls, make deps): %v", err)
	}
	certPEM, keyPEM := selfSignedFor(t, f.BridgeAddress, "logs")
	otherPEM, _ := selfSignedFor(t, f.BridgeAddress, "impostor-ca")
	dir := t.TempDir()
	tf := &receiverTLS{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(tf.cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tf.key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	rcv := startReceiver(t, f.BridgeAddress, tf)
	logFile := "/var/log/steward-tls-seq.log"
	script := fmt.Sprintf("set -e; umask 077; mkdir -p /etc/steward-logtls; printf '%%s' %s > /etc/steward-logtls/ca.pem; printf '%%s' %s > /etc/steward-logtls/other-ca.pem; rm -f %s; touch %s",
		shellQuote(string(certPEM)), shellQuote(string(otherPEM)), logFile, logFile)
	if out, err := onHost(t, f, h, script); err != nil {
		t.Fatalf("put the CA files on %s: %v\n%s", h.Name, err, out)
	}
	t.Cleanup(func() { _, _ = onHost(t, f, h, "rm -rf /etc/steward-logtls "+logFile) })
	config := func(ca string) string {
		return hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_log_forward" "l" {
  host     = steward_host.h.host_connection
  name     = "tls"
  start_at = "beginning"
  files    = [{ path = %q, tag = "app" }]
  target   = { address = %q, protocol = "tls", ca_file = %q }
}
`, logFile, rcv.addr, ca)
	}
	const lines = 200
	appendLines := func(*terraform.State) error {
		cmd := fmt.Sprintf(`for i in $(seq 1 %d); do echo "fseq $i" >> %s; done`, lines, logFile)
		if out, err := onHost(t, f, h, cmd); err != nil {
			return fmt.Errorf("append lines: %v\n%s", err, out)
		}
		return rcv.waitSequences(30*time.Second, lines, "f")
	}
	refusedWithin := func(*terraform.State) error {
		cmd := `for i in $(seq 1 40); do /usr/local/lib/steward/current logs status --json > /tmp/steward-logs.json; if grep -q '"last_error": ".*certificate' /tmp/steward-logs.json; then exit 0; fi; sleep 0.5; done; cat /tmp/steward-logs.json; exit 1`
		if out, err := onHost(t, f, h, cmd); err != nil {
			return fmt.Errorf("within 20 s the forwarder pinned to another CA reported no certificate error: %v\n%s", err, out)
		}
		// A line logged now stays on the host.
		if out, err := onHost(t, f, h, fmt.Sprintf(`echo "fseq %d" >> %s`, lines+1, logFile)); err != nil {
			return fmt.Errorf("append: %v\n%s", err, out)
		}
		time.Sleep(3 * time.Second)
		if n := len(rcv.sequences()["f"]); n != lines {
			return fmt.Errorf("the receiver got %d lines, want the %d from before: a forwarder pinned to another CA sent some", n, lines)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config("/etc/steward-logtls/ca.pem"),
				Check:  appendLines,
			},
			{
				Config: config("/etc/steward-logtls/ca.pem"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("connected"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("lines_sent"), knownvalue.Int64Exact(lines)),
				},
			},
			{
				Config: config("/etc/steward-logtls/other-ca.pem"),
				Check:  refusedWithin,
			},
			{
				Config: config("/etc/steward-logtls/other-ca.pem"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("connected"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(logForwardAddr, tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`certificate`))),
				},
			},
		},
	})
}
