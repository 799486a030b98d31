package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests need the fleet (test/fleet/fleet.sh up) and TF_ACC=1, like the
// provider's acceptance tests: they talk to real sshd on real hosts.

type testFleetHost struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	HostKey string `json:"host_key"`
}

func fleetConfig(t *testing.T, user string) Config {
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
	var f struct {
		PrivateKeyFile string          `json:"private_key_file"`
		Hosts          []testFleetHost `json:"hosts"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	h := f.Hosts[0]
	return Config{Hop: Hop{Host: h.Address, User: user, PrivateKeyFile: f.PrivateKeyFile, HostKey: h.HostKey}, Timeout: 20 * time.Second}
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
