package logs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of cert.
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue makes a server certificate for 127.0.0.1 and returns the PEM files.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"logs.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestForwarder_tlsPinnedCA(t *testing.T) {
	dir := t.TempDir()
	receiverCA := newTestCA(t, dir, "receiver-ca")
	otherCA := newTestCA(t, dir, "other-ca")
	cert, key := receiverCA.issue(t, dir, "receiver")
	r := startRsyslog(t, "tls", &tlsFiles{ca: receiverCA.file, cert: cert, key: key})

	forward := func(t *testing.T, name, caFile, serverName string) *running {
		file := filepath.Join(t.TempDir(), "app.log")
		appendLines(t, file, name, 1, 500)
		spec := api.LogForward{
			Name:    name,
			Files:   []api.LogFile{{Path: file, Tag: name}},
			Target:  api.LogTarget{Address: r.addr(), Protocol: api.LogProtocolTLS, CAFile: caFile, ServerName: serverName},
			StartAt: api.LogStartBeginning,
		}
		return startForwarder(t, testConfig(t, spec, filepath.Join(t.TempDir(), "state")))
	}

	t.Run("pinned CA signed the receiver", func(t *testing.T) {
		fw := forward(t, "pinned", receiverCA.file, "")
		if dups := waitDelivered(t, r, 15*time.Second, span{"pinned", 1, 500}); dups["pinned"] != 0 {
			t.Errorf("%d duplicates", dups["pinned"])
		}
		if st := fw.f.Status(); !st.Connected || st.LastError != "" {
			t.Errorf("status: connected %v, last error %q; want connected without error", st.Connected, st.LastError)
		}
	})

	// A receiver whose certificate another CA signed (a man in the
	// middle, or a receiver swapped behind the operator's back) gets no
	// line, and the status says why. The system's roots are no way in
	// either: the pinned CA is the only one.
	for _, c := range []struct {
		name, ca, serverName, want string
	}{
		{"otherca", otherCA.file, "", "x509: certificate signed by unknown authority"},
		{"wrongname", receiverCA.file, "logs.example.com", "not logs.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fw := forward(t, c.name, c.ca, c.serverName)
			waitFor(t, 10*time.Second, "the refusal in status", func() bool {
				return fw.f.Status().LastError != ""
			})
			time.Sleep(500 * time.Millisecond) // Retries with backoff meanwhile.
			st := fw.f.Status()
			if st.Connected || st.LinesSent != 0 {
				t.Errorf("status: connected %v, %d lines sent; want neither", st.Connected, st.LinesSent)
			}
			for _, want := range []string{"certificate refused", "pinned CA " + c.ca, c.want} {
				if !strings.Contains(st.LastError, want) {
					t.Errorf("status last_error %q does not say %q", st.LastError, want)
				}
			}
			if d := deliveries(r.received())[c.name]; d != nil {
				t.Errorf("the receiver got %d lines over a connection the forwarder should have refused", len(d.seqs))
			}
			if st.Sources[0].Offset != 0 {
				t.Errorf("position advanced to %d without delivery", st.Sources[0].Offset)
			}
		})
	}
}
