package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// These tests need the fleet (test/fleet/fleet.sh up) and TF_ACC=1, like the
// provider's acceptance tests: they talk to real sshd on real hosts.

type testFleetHost struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	HostKey string `json:"host_key"`
}

type testFleet struct {
	PrivateKeyFile  string          `json:"private_key_file"`
	UserCAKeyFile   string          `json:"user_ca_key_file"`
	HostCAPublicKey string          `json:"host_ca_public_key"`
	Hosts           []testFleetHost `json:"hosts"`
}

// loadTestFleet reads the fleet description, or skips without the fleet.
func loadTestFleet(t *testing.T) testFleet {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("needs the test fleet: set TF_ACC=1 and run test/fleet/fleet.sh up")
	}
	file := os.Getenv("STEWARD_FLEET")
	if file == "" {
		file = "/var/lib/steward-fleet/fleet.json"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read fleet description: %v", err)
	}
	var f testFleet
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Hosts) < 3 {
		t.Fatalf("the fleet has %d hosts, these tests need 3", len(f.Hosts))
	}
	return f
}

// config returns the configuration of user on host i, its key pinned.
func (f testFleet) config(i int, user string) Config {
	h := f.Hosts[i]
	return Config{Hop: Hop{Host: h.Address, User: user, PrivateKeyFile: f.PrivateKeyFile, HostKey: h.HostKey}, Timeout: 20 * time.Second}
}

func fleetConfig(t *testing.T, user string) Config {
	t.Helper()
	return loadTestFleet(t).config(0, user)
}

func mustOutput(t *testing.T, c *Conn, args ...string) string {
	t.Helper()
	out, err := c.Output(context.Background(), Command{Args: args})
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return string(out)
}

func TestAccUpload_hostileNames(t *testing.T) {
	cfg := fleetConfig(t, "deploy")
	cfg.Sudo = true
	pool := NewPool()
	defer pool.Close()
	c, err := pool.Get(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := "/tmp/steward upload 'test' $(id)\n"
	mustOutput(t, c, "rm", "-rf", "--", dir, "/root/pwned", "/home/deploy/pwned")
	mustOutput(t, c, "mkdir", "-p", "--", dir)
	names := []string{"with space", `quote'd "double"`, "$(touch pwned)", "`touch pwned`", "x;touch pwned",
		"new\nline", "trailing newline\n", "\xff\xfenot-utf8", "-leading-dash", "semi;colon&amp|pipe"}
	for i, name := range names {
		p := dir + "/" + name
		content := []byte(fmt.Sprintf("file %d: %q\n", i, name))
		if err := c.Upload(context.Background(), File{Path: p, Mode: 0o640, Owner: "root", Group: "deploy", Content: bytes.NewReader(content)}); err != nil {
			t.Fatalf("upload %q: %v", name, err)
		}
		if got := mustOutput(t, c, "cat", "--", p); got != string(content) {
			t.Errorf("%q: content %q, want %q", name, got, content)
		}
		if got := mustOutput(t, c, "stat", "-c", "%a %U %G", "--", p); got != "640 root deploy\n" {
			t.Errorf("%q: mode and owner %q, want 640 root deploy", name, got)
		}
	}
	// Nothing was interpreted: no command ran, and no temporary file is left behind.
	res, err := c.Exec(context.Background(), Command{Args: []string{"sh", "-c", "test -e /root/pwned || test -e /home/deploy/pwned"}})
	if err != nil || res.ExitStatus == 0 {
		t.Errorf("a file name was executed by a shell (err=%v, status=%d)", err, res.ExitStatus)
	}
	if got := mustOutput(t, c, "find", dir, "-name", ".steward-upload.*"); got != "" {
		t.Errorf("temporary files left behind: %q", got)
	}
	// Replacing a file is atomic: the final content is the new one, in full.
	p := dir + "/with space"
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if err := c.Upload(context.Background(), File{Path: p, Mode: 0o600, Content: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	if got := mustOutput(t, c, "stat", "-c", "%s %a", "--", p); got != fmt.Sprintf("%d 600\n", len(big)) {
		t.Errorf("replaced file: %q", got)
	}
	// A target directory that does not exist is a clear error, not a stray file.
	err = c.Upload(context.Background(), File{Path: "/nonexistent dir/x", Mode: 0o600, Content: strings.NewReader("x")})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent dir/x") {
		t.Errorf("upload into a missing directory: %v", err)
	}
	mustOutput(t, c, "rm", "-rf", "--", dir)
}

func TestAccPool_oneConnectionPerHost(t *testing.T) {
	cfg := fleetConfig(t, "deploy")
	pool := NewPool()
	defer pool.Close()
	ctx := context.Background()

	// Many callers at once, as Terraform does: one dial, shared.
	var wg sync.WaitGroup
	conns := make([]*Conn, 20)
	errs := make([]error, 20)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cfg
			c.Sudo = i%2 == 0 // sudo is per call, not per connection
			conns[i], errs[i] = pool.Get(ctx, c)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if conns[i].shared != conns[0].shared {
			t.Fatalf("caller %d got its own connection", i)
		}
	}
	if pool.dials != 1 {
		t.Errorf("pool dialled %d times, want 1", pool.dials)
	}
	// More concurrent commands than sessions allowed per connection: all succeed.
	accepted := func() string {
		return mustOutput(t, conns[1], "sh", "-c", "journalctl -u ssh --no-pager -o cat 2>/dev/null | grep -c 'Accepted publickey for deploy' || true")
	}
	before := accepted()
	for i := 0; i < 3*MaxSessionsPerConn; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := conns[i%len(conns)]
			want := "1000\n"
			if c.sudo {
				want = "0\n"
			}
			out, err := c.Output(ctx, Command{Args: []string{"id", "-u"}})
			if err != nil || string(out) != want {
				t.Errorf("exec %d: %q, %v (want %q)", i, out, err, want)
			}
		}()
	}
	wg.Wait()
	if after := accepted(); after != before {
		t.Errorf("sshd accepted new logins during the commands: %s -> %s", strings.TrimSpace(before), strings.TrimSpace(after))
	}

	// The host drops the connection: the next command redials transparently.
	mustOutput(t, conns[0], "sh", "-c", "(sleep 0.3; pkill -KILL -u deploy -x sshd) >/dev/null 2>&1 &")
	time.Sleep(1500 * time.Millisecond)
	if out := mustOutput(t, conns[1], "echo", "back"); out != "back\n" {
		t.Errorf("after redial: %q", out)
	}
	if d := conns[0].Dials(); d != 2 {
		t.Errorf("connection established %d times, want 2 (one redial)", d)
	}

	// A configuration that pins another key cannot borrow the pooled connection.
	other := cfg
	other.HostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAGI+g9uBZuSzZW2aWI1wg4mXW/Y2USI9KvzVfUetyDH"
	if _, err := pool.Get(ctx, other); err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("pooled connection reused with a different pinned key: %v", err)
	}
}

func TestAccExec_exitStatusAndStdin(t *testing.T) {
	cfg := fleetConfig(t, "root")
	pool := NewPool()
	defer pool.Close()
	c, err := pool.Get(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Exec(context.Background(), Command{Args: []string{"sh", "-c", "cat; echo oops >&2; exit 7"}, Stdin: strings.NewReader("in\n")})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "in\n" || string(res.Stderr) != "oops\n" || res.ExitStatus != 7 {
		t.Errorf("got stdout %q stderr %q status %d", res.Stdout, res.Stderr, res.ExitStatus)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Exec(ctx, Command{Args: []string{"sleep", "30"}}); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled command: err=%v after %s", err, time.Since(start))
	}
}

// newTestKey returns a fresh ed25519 key as OpenSSH private key text and its signer.
func newTestKey(t *testing.T) (string, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block)), signer
}

// signTestCert signs key with the CA key in caFile as a user or host
// certificate for principals, valid for an hour.
func signTestCert(t *testing.T, caFile string, key ssh.PublicKey, certType uint32, principals ...string) string {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: key, Serial: 1, CertType: certType, KeyId: "steward-client-test", ValidPrincipals: principals,
		ValidAfter: uint64(time.Now().Add(-time.Minute).Unix()), ValidBefore: uint64(time.Now().Add(time.Hour).Unix())}
	if certType == ssh.UserCert {
		cert.Extensions = map[string]string{"permit-pty": ""}
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return string(ssh.MarshalAuthorizedKey(cert))
}

// TestAccPool_credentialsPerConfiguration: a configuration never runs
// commands on a login made with another configuration's credentials. One
// whose key sshd refuses gets sshd's refusal; one with a key of its own that
// sshd accepts gets its own login, audited under its own key.
func TestAccPool_credentialsPerConfiguration(t *testing.T) {
	f := loadTestFleet(t)
	pool := NewPool()
	defer pool.Close()
	ctx := context.Background()
	a := f.config(0, "deploy")
	ca, err := pool.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustOutput(t, ca, "id", "-un"); got != "deploy\n" {
		t.Fatalf("id -un = %q", got)
	}

	// A key that is in no authorized_keys file.
	refused := a
	refusedKey, _ := newTestKey(t)
	refused.PrivateKeyFile, refused.PrivateKey = "", refusedKey
	c, err := pool.Get(ctx, refused)
	var ae *AuthError
	if !errors.As(err, &ae) {
		var out []byte
		if c != nil {
			out, _ = c.Output(ctx, Command{Args: []string{"id", "-un"}})
		}
		t.Fatalf("a key sshd refuses got a connection (id -un: %q, err %v), want sshd's refusal", out, err)
	}

	// A key sshd accepts through a user certificate: its own login, its own fingerprint.
	certified := a
	certKey, certSigner := newTestKey(t)
	certified.PrivateKeyFile, certified.PrivateKey = "", certKey
	certified.Certificate = signTestCert(t, f.UserCAKeyFile, certSigner.PublicKey(), ssh.UserCert, "deploy")
	cc, err := pool.Get(ctx, certified)
	if err != nil {
		t.Fatal(err)
	}
	if cc.shared == ca.shared {
		t.Error("the certified key was handed the connection of the fleet key")
	}
	if got := mustOutput(t, cc, "id", "-un"); got != "deploy\n" {
		t.Errorf("id -un over the certified login = %q", got)
	}
	if got, want := cc.Operator("").KeyFingerprint, ssh.FingerprintSHA256(certSigner.PublicKey()); got != want {
		t.Errorf("the certified configuration is audited as %s, want its own key %s", got, want)
	}
	if got, other := ca.Operator("").KeyFingerprint, ssh.FingerprintSHA256(certSigner.PublicKey()); got == other {
		t.Errorf("the fleet key's configuration is audited under the certified key %s", got)
	}
}

// TestAccPool_bastionTrustPerConfiguration: a configuration that pins another
// key for the bastion does not get the pooled route through it.
func TestAccPool_bastionTrustPerConfiguration(t *testing.T) {
	f := loadTestFleet(t)
	pool := NewPool()
	defer pool.Close()
	ctx := context.Background()
	bastion := f.config(0, "deploy").Hop
	a := f.config(1, "deploy")
	a.Bastions = []Hop{bastion}
	ca, err := pool.Get(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustOutput(t, ca, "cat", "/etc/hostname"); got != f.Hosts[1].Name+"\n" {
		t.Fatalf("through the bastion, hostname = %q, want %s", got, f.Hosts[1].Name)
	}
	wrong := a
	wrong.Bastions = []Hop{bastion}
	wrong.Bastions[0].HostKey = f.Hosts[2].HostKey // another host's key
	c, err := pool.Get(ctx, wrong)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "bastion 1") {
		t.Fatalf("a configuration pinning another bastion key got %v, %v; want a host key mismatch for bastion 1", c, err)
	}
	if want, _ := Fingerprint(f.Hosts[2].HostKey); mm.Expected != want {
		t.Errorf("mismatch expects %s, want the pinned %s", mm.Expected, want)
	}
}

// TestAccPool_redialCheckedPerConfiguration: after a dropped connection is
// redialled to a host that has been re-keyed, and the new key is accepted
// through an @cert-authority line of the configuration that dialled first, a
// configuration sharing the connection that pins the old key is refused,
// both on its handle and on a new Get.
func TestAccPool_redialCheckedPerConfiguration(t *testing.T) {
	f := loadTestFleet(t)
	const hi = 2
	h := f.Hosts[hi]
	ctx := context.Background()
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte("@cert-authority "+h.Address+" "+f.HostCAPublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	viaCA := func(user string) Config {
		c := f.config(hi, user)
		c.HostKey, c.KnownHostsFile = "", knownHosts
		return c
	}
	// root, trusting the CA, re-keys the host and puts it back whatever the
	// key is by then.
	admin := NewPool()
	t.Cleanup(admin.Close) // after the restore below: cleanups run last first
	root, err := admin.Get(ctx, viaCA("root"))
	if err != nil {
		t.Fatal(err)
	}
	const dropIn, newKey = "/etc/ssh/sshd_config.d/00-steward-client-test.conf", "/etc/ssh/steward_client_test_ed25519"
	t.Cleanup(func() {
		restore := Script(`rm -f -- "$1" "$2" "$2-cert.pub" && systemctl reload ssh`, dropIn, newKey)
		if _, err := root.Output(ctx, restore); err != nil {
			t.Errorf("restore the host key of fleet host %s: %v (remove %s and reload ssh by hand)", h.Name, err, dropIn)
			return
		}
		// The host presents its own key again, as fleet.json pins it.
		check := NewPool()
		defer check.Close()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := check.Get(ctx, f.config(hi, "root"))
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("fleet host %s does not present its own key again after the test: %v", h.Name, err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	pool := NewPool()
	defer pool.Close()
	first, err := pool.Get(ctx, viaCA("deploy"))
	if err != nil {
		t.Fatal(err)
	}
	pinned := f.config(hi, "deploy")
	old, err := pool.Get(ctx, pinned)
	if err != nil {
		t.Fatal(err)
	}
	if old.shared != first.shared {
		t.Fatal("the two configurations do not share the connection; the test needs them to")
	}
	mustOutput(t, old, "true")

	// Re-key: a new host key, certified by the fleet's host CA.
	keyText, signer := newTestKey(t)
	cert := signTestCert(t, filepath.Join(filepath.Dir(f.PrivateKeyFile), "host_ca"), signer.PublicKey(), ssh.HostCert, h.Address, h.Name)
	for _, file := range []File{
		{Path: newKey, Mode: 0o600, Content: strings.NewReader(keyText)},
		{Path: newKey + "-cert.pub", Mode: 0o644, Content: strings.NewReader(cert)},
		{Path: dropIn, Mode: 0o644, Content: strings.NewReader("HostKey " + newKey + "\nHostCertificate " + newKey + "-cert.pub\n")},
	} {
		if err := root.Upload(ctx, file); err != nil {
			t.Fatal(err)
		}
	}
	mustOutput(t, root, "sshd", "-t")
	mustOutput(t, root, "systemctl", "reload", "ssh")
	// The connection drops; the next command redials with the first
	// configuration, whose CA accepts the new key.
	mustOutput(t, root, "sh", "-c", "pkill -KILL -u deploy -x sshd || true")
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := first.Output(ctx, Command{Args: []string{"echo", "back"}})
		if err == nil && string(out) == "back\n" && first.Dials() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first configuration did not redial to the re-keyed host: %q, %v, %d dials", out, err, first.Dials())
		}
		time.Sleep(200 * time.Millisecond)
	}
	rekeyed := ssh.FingerprintSHA256(signer.PublicKey())
	fresh := NewPool()
	defer fresh.Close()
	if c, err := fresh.Get(ctx, viaCA("deploy")); err != nil {
		t.Fatalf("a fresh dial to the re-keyed host: %v", err)
	} else if got := c.HostKeyFingerprint(); got != rekeyed {
		t.Fatalf("the host was not re-keyed: a fresh dial sees %s, want %s", got, rekeyed)
	}
	if got := first.HostKeyFingerprint(); got != rekeyed {
		t.Errorf("after the redial the connection reports host key %s, want the new key %s", got, rekeyed)
	}

	var mm *HostKeyMismatchError
	out, err := old.Output(ctx, Command{Args: []string{"id", "-un"}})
	if !errors.As(err, &mm) {
		t.Errorf("the configuration pinning the old key ran a command on the re-keyed host: %q, %v", out, err)
	}
	if c, err := pool.Get(ctx, pinned); !errors.As(err, &mm) {
		t.Errorf("a new Get pinning the old key got %v, %v; want a host key mismatch", c, err)
	}
	if got := mustOutput(t, first, "id", "-un"); got != "deploy\n" {
		t.Errorf("the first configuration after the refusal: %q", got)
	}
}
