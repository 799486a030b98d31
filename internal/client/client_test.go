package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestShellQuote_roundTrip feeds quoted words to a real sh and checks that
// each arrives as exactly the bytes that were quoted.
func TestShellQuote_roundTrip(t *testing.T) {
	t.Parallel()
	words := []string{
		"plain", "with space", `it's`, `"double"`, "$(touch /tmp/steward-pwned)", "`id`", "a\nnewline\n",
		"tab\there", `back\slash`, "*glob?[x]", "-n", "", "\xff\xfe non-UTF-8", "'", "''", `'\''`, "~root", "$HOME",
	}
	for _, w := range words {
		out, err := exec.Command("sh", "-c", "printf %s "+ShellQuote(w)).Output()
		if err != nil {
			t.Fatalf("sh rejected %q quoted as %s: %v", w, ShellQuote(w), err)
		}
		if string(out) != w {
			t.Errorf("ShellQuote(%q) came back as %q", w, out)
		}
	}
}

func TestParseFacts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    Facts
		wantErr string
	}{
		{
			name: "debian",
			in: "hostname=h1\nmachine_id=8e9d674914744ebd9d044c01de29a1ca\nos_PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n" +
				"os_ID=debian\nos_VERSION_ID=\"12\"\nkernel=6.1.0-18-amd64\narch=x86_64\ncpus=2\nmem_kb=2048000\nuptime=123.45 \n" +
				"init=systemd\nssh_connection=10.213.7.1 51234 10.213.7.11 22\ndisk_free_kb=1000\n",
			want: Facts{Hostname: "h1", HostID: "8e9d674914744ebd9d044c01de29a1ca", OSID: "debian", OSVersion: "12",
				OSName: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-18-amd64", Architecture: "x86_64", CPUCount: 2,
				MemoryBytes: 2048000 * 1024, UptimeSeconds: 123, InitSystem: "systemd", ClientAddress: "10.213.7.1", DiskFreeBytes: 1024000},
		},
		{
			name: "rhel with sudo refused",
			in:   "hostname=db\nmachine_id=0123456789abcdef0123456789abcdef\nos_ID=\"rocky\"\nos_VERSION_ID=\"9.3\"\narch=aarch64\ninit=systemd\nsudo_error=sudo: a password is required \n",
			want: Facts{Hostname: "db", HostID: "0123456789abcdef0123456789abcdef", OSID: "rocky", OSVersion: "9.3",
				Architecture: "aarch64", InitSystem: "systemd", SudoError: "sudo: a password is required"},
		},
		{name: "no machine id", in: "hostname=x\narch=x86_64\n", wantErr: "no /etc/machine-id"},
		{
			name: "line too long hides a sudo refusal",
			in: "hostname=db\nmachine_id=0123456789abcdef0123456789abcdef\narch=x86_64\nos_PRETTY_NAME=" + strings.Repeat("x", 100<<10) +
				"\nsudo_error=sudo: a password is required\n",
			wantErr: "a line is longer than 64 KiB",
		},
		{name: "garbage", in: "Welcome to the machine\nmachine_id=0123456789abcdef0123456789abcdef\n", wantErr: "unexpected answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseFacts([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("facts (-want +got):\n%s", d)
			}
		})
	}
}

const testHostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBshZnuy5r7RdepkzcgYA/ururEmk1wB2JazcemNx4pw"

func TestHopValidate(t *testing.T) {
	t.Parallel()
	ok := Hop{Host: "h", User: "u", PrivateKeyFile: "/k", HostKey: testHostKey}
	cases := []struct {
		name   string
		mutate func(*Hop)
		want   []string // fields blamed
	}{
		{"valid", func(*Hop) {}, nil},
		{"no host", func(h *Hop) { h.Host = "" }, []string{"host"}},
		{"host with space", func(h *Hop) { h.Host = "a b" }, []string{"host"}},
		{"port too big", func(h *Hop) { h.Port = 65536 }, []string{"port"}},
		{"no user", func(h *Hop) { h.User = "" }, []string{"user"}},
		{"two keys", func(h *Hop) { h.PrivateKey = "x" }, []string{"private_key", "private_key"}},
		{"no auth", func(h *Hop) { h.PrivateKeyFile = "" }, []string{"private_key"}},
		{"agent only", func(h *Hop) { h.PrivateKeyFile, h.UseAgent = "", true }, nil},
		{"no trust", func(h *Hop) { h.HostKey = "" }, []string{"host_key"}},
		{"two trusts", func(h *Hop) { h.TrustOnFirstUse = true }, []string{"host_key"}},
		{"bad host key", func(h *Hop) { h.HostKey = "ssh-ed25519 !!!" }, []string{"host_key"}},
		{"plain key as certificate", func(h *Hop) { h.Certificate = testHostKey }, []string{"certificate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := ok
			tc.mutate(&h)
			var got []string
			for _, fe := range h.Validate() {
				got = append(got, fe.Field)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("blamed fields (-want +got):\n%s\n%v", d, h.Validate())
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("connect: %w", syscall.ECONNREFUSED), true},
		{fmt.Errorf("handshake: %w", io.EOF), true},
		{fmt.Errorf("handshake: %w", context.DeadlineExceeded), true},
		{errors.New("ssh: handshake failed: read tcp: connection reset by peer"), true},
		{&AuthError{Err: errors.New("ssh: unable to authenticate")}, false},
		{&HostKeyMismatchError{}, false},
		{fmt.Errorf("wrapped: %w", &HostKeyMismatchError{}), false},
		{errors.New("read private key file: no such file"), false},
	}
	for _, tc := range cases {
		if got := retryable(tc.err); got != tc.want {
			t.Errorf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestPoolKey(t *testing.T) {
	t.Parallel()
	p := NewPool()
	a := Config{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k"}}
	pw := Config{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k", Password: "hunter2"}}
	same := []Config{
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", Port: 22, PrivateKeyFile: "/k"}, Sudo: true, Timeout: 5},
		// Trust is checked per configuration on the shared connection, not keyed.
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k", HostKey: testHostKey}},
	}
	other := []Config{
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k"}, Bastions: []Hop{{Host: "bastion", User: "jump", PrivateKeyFile: "/k"}}},
		{Hop: Hop{Host: "10.0.0.5", User: "root", PrivateKeyFile: "/k"}},
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/other"}},
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k", PrivateKeyPassphrase: "x"}},
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k", Certificate: "ssh-ed25519-cert-v01@openssh.com AAAA"}},
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKeyFile: "/k", UseAgent: true, AgentSocket: "/run/agent"}},
		pw,
		{Hop: Hop{Host: "10.0.0.5", User: "deploy", PrivateKey: "/k"}},
	}
	for _, c := range same {
		if p.key(a) != p.key(c) {
			t.Errorf("%+v must share a connection with %+v: %q vs %q", c, a, p.key(c), p.key(a))
		}
	}
	for _, c := range other {
		if p.key(a) == p.key(c) {
			t.Errorf("%+v must not share a connection with %+v", c, a)
		}
	}
	// Bastion credentials count as much as the target's.
	b1 := other[0]
	b2 := b1
	b2.Bastions = []Hop{{Host: "bastion", User: "jump", PrivateKeyFile: "/other"}}
	if p.key(b1) == p.key(b2) {
		t.Errorf("routes whose bastion logs in with other keys share a connection")
	}
	if k := p.key(b1); !strings.HasPrefix(k, "jump@bastion:22#") || !strings.Contains(k, " -> deploy@10.0.0.5:22#") {
		t.Errorf("route key = %q, want the bastion then the target", k)
	}
	// Secrets never appear in a key, and another pool digests them differently.
	if strings.Contains(p.key(pw), "hunter2") || p.key(pw) == NewPool().key(pw) {
		t.Errorf("pool key %q shows the password or is the same in every pool", p.key(pw))
	}
}
