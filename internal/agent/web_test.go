package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// writeWebConfig writes a self-signed certificate for 127.0.0.1 and a web
// configuration with TLS and one user (prom / secret) into dir, returning
// the configuration's path and the certificate pool that trusts it.
func writeWebConfig(t *testing.T, dir string, tlsOn, usersOn bool) (string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "steward test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), 0o600)
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	if tlsOn {
		y.WriteString("tls_server_config:\n  cert_file: " + cert + "\n  key_file: " + keyFile + "\n")
	}
	if usersOn {
		y.WriteString("basic_auth_users:\n  prom: " + string(hash) + "\n")
	}
	file := filepath.Join(dir, "web.yml")
	writeFile(t, file, y.String(), 0o600)
	pool := x509.NewCertPool()
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(parsed)
	return file, pool
}

// TestRunDaemon_webConfig: with a web configuration the daemon serves HTTPS
// and asks for basic auth on every endpoint; plain HTTP and a wrong password
// get nothing.
func TestRunDaemon_webConfig(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	file, pool := writeWebConfig(t, t.TempDir(), true, true)
	d := startTestDaemon(t, DaemonConfig{Paths: p, Components: []core.Component{}, Monitoring: api.Monitoring{WebConfigFile: file}})
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "prom", "guess", http.StatusUnauthorized},
		{"right password", "prom", "secret", http.StatusOK},
	} {
		for _, path := range []string{"/healthz", "/metrics"} {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "https://"+d.addr+path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.name, path, err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s with %s = %d, want %d", path, tc.name, resp.StatusCode, tc.want)
			}
		}
	}
	resp, err := http.Get("http://" + d.addr + "/healthz")
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP got /healthz from a daemon that serves HTTPS only")
		}
	}
}

// TestRunDaemon_webConfigRefused: a web configuration without TLS, without
// users, or that another user could change, stops the daemon from starting
// beyond loopback rather than serving unprotected.
func TestRunDaemon_webConfigRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		tlsOn, usersOn bool
		mode           os.FileMode
		want           string
	}{
		{"no TLS", false, true, 0o600, "tls_server_config"},
		{"no users", true, false, 0o600, "basic_auth_users"},
		{"group-writable", true, true, 0o620, "only root may be able to change it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file, _ := writeWebConfig(t, t.TempDir(), tc.tlsOn, tc.usersOn)
			if err := os.Chmod(file, tc.mode); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			var bound net.Addr
			err := RunDaemon(ctx, DaemonConfig{Paths: coretest.NewHost(t), Listen: "10.213.7.1:0", Components: []core.Component{},
				Monitoring: api.Monitoring{WebConfigFile: file}, OnListen: func(a net.Addr) { bound = a }})
			if bound != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("RunDaemon with a web config with %s: listened on %v, error %v; want a refusal naming %q", tc.name, bound, err, tc.want)
			}
		})
	}
}
