package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// testSSHServer serves SSH handshakes on loopback with an ed25519 host key and
// a host certificate for it, accepting the password "pw".
//
// With an exec handler it plays a host that runs commands: the handler writes
// the command's output to the channel and returns its exit status.
type testSSHServer struct {
	host, ca ssh.Signer
	port     int
}

func newTestSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testExecHandler answers one exec request of a session.
type testExecHandler func(ch ssh.Channel, command string) (exitStatus uint32)

func newTestSSHServer(t *testing.T, exec testExecHandler) *testSSHServer {
	t.Helper()
	srv := &testSSHServer{host: newTestSigner(t), ca: newTestSigner(t)}
	cert := &ssh.Certificate{Key: srv.host.PublicKey(), CertType: ssh.HostCert, ValidPrincipals: []string{"127.0.0.1"},
		ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, srv.ca); err != nil {
		t.Fatal(err)
	}
	certSigner, err := ssh.NewCertSigner(cert, srv.host)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if string(pw) != "pw" {
			return nil, errors.New("wrong password")
		}
		return nil, nil
	}}
	cfg.AddHostKey(srv.host)
	cfg.AddHostKey(certSigner)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for nc := range chans {
					if exec == nil || nc.ChannelType() != "session" {
						_ = nc.Reject(ssh.Prohibited, "test server")
						continue
					}
					go serveTestSession(nc, exec)
				}
				_ = sc.Wait()
			}()
		}
	}()
	srv.port = int(netip.MustParseAddrPort(l.Addr().String()).Port())
	return srv
}

// serveTestSession runs the first exec request of a session through exec and
// reports its exit status.
func serveTestSession(nc ssh.NewChannel, exec testExecHandler) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer func() { _ = ch.Close() }()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		go ssh.DiscardRequests(reqs) // signals, once the command runs
		status := exec(ch, payload.Command)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

// TestDialHop_hostKeyTrust checks each host-key trust source against a real
// handshake: the key that passes is the one reported, and a key that fails
// comes back as a *HostKeyMismatchError naming the presented key.
func TestDialHop_hostKeyTrust(t *testing.T) {
	t.Parallel()
	srv := newTestSSHServer(t, nil)
	hostKey := string(ssh.MarshalAuthorizedKey(srv.host.PublicKey()))
	other := newTestSigner(t)
	knownHosts := func(line string) string {
		p := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	addr := "[127.0.0.1]:" + strconv.Itoa(srv.port)
	cases := []struct {
		name         string
		trust        func(*Hop)
		wantMismatch bool
	}{
		{name: "pinned", trust: func(h *Hop) { h.HostKey = hostKey }},
		{name: "pinned other key", trust: func(h *Hop) { h.HostKey = string(ssh.MarshalAuthorizedKey(other.PublicKey())) }, wantMismatch: true},
		{name: "trust on first use", trust: func(h *Hop) { h.TrustOnFirstUse = true }},
		{name: "known_hosts key", trust: func(h *Hop) { h.KnownHostsFile = knownHosts(addr + " " + hostKey) }},
		{name: "known_hosts cert-authority", trust: func(h *Hop) {
			h.KnownHostsFile = knownHosts("@cert-authority " + addr + " " + string(ssh.MarshalAuthorizedKey(srv.ca.PublicKey())))
		}},
		{name: "known_hosts other key", trust: func(h *Hop) {
			h.KnownHostsFile = knownHosts(addr + " " + string(ssh.MarshalAuthorizedKey(other.PublicKey())))
		}, wantMismatch: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := Hop{Host: "127.0.0.1", Port: srv.port, User: "u", Password: "pw"}
			tc.trust(&h)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := net.Dial("tcp", h.Address())
			if err != nil {
				t.Fatal(err)
			}
			c, key, _, err := dialHop(ctx, conn, h)
			if tc.wantMismatch {
				var mm *HostKeyMismatchError
				if !errors.As(err, &mm) {
					t.Fatalf("want a *HostKeyMismatchError, got %v", err)
				}
				if want := ssh.FingerprintSHA256(srv.host.PublicKey()); mm.Presented != want {
					t.Errorf("mismatch names presented key %s, want %s", mm.Presented, want)
				}
				if retryable(err) {
					t.Errorf("a host key mismatch must not be retried: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			if got, want := ssh.FingerprintSHA256(plainKey(key)), ssh.FingerprintSHA256(srv.host.PublicKey()); got != want {
				t.Errorf("handshake verified host key %s, want %s", got, want)
			}
			// A pooled connection is checked again for each Pool.Get: the
			// same trust must accept the key it accepted in the handshake.
			if err := verifyKnownKey(h, c.RemoteAddr(), key); err != nil {
				t.Errorf("the key this trust accepted is refused on reuse: %v", err)
			}
		})
	}
}
