package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// gatedProxy forwards TCP connections to a server, each only once released,
// and reports when the client side of a forwarded connection has closed it.
type gatedProxy struct {
	port     int
	accepted chan struct{} // One send per accepted connection.
	release  chan struct{} // Closed to let the connections through.
	closed   chan struct{} // One send per connection the client closed.

	mu   sync.Mutex
	open []net.Conn
}

// drop cuts every connection, as a host that reboots does.
func (p *gatedProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		_ = c.Close()
	}
	p.open = nil
}

func newGatedProxy(t *testing.T, target string) *gatedProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	p := &gatedProxy{accepted: make(chan struct{}, 64), release: make(chan struct{}), closed: make(chan struct{}, 8),
		port: int(netip.MustParseAddrPort(l.Addr().String()).Port())}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.open = append(p.open, c)
			p.mu.Unlock()
			p.accepted <- struct{}{}
			go func() {
				defer func() { _ = c.Close() }()
				<-p.release
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer func() { _ = s.Close() }()
				go func() { _, _ = io.Copy(c, s) }()
				_, _ = io.Copy(s, c) // Returns when the client closes its side.
				select {
				case p.closed <- struct{}{}:
				default:
				}
			}()
		}
	}()
	return p
}

// TestPool_closeDuringDial: a connection still being dialled when the pool is
// closed is closed as soon as its dial finishes, and is handed to no one.
func TestPool_closeDuringDial(t *testing.T) {
	t.Parallel()
	srv := newTestSSHServer(t, func(ssh.Channel, string) uint32 { return 0 })
	proxy := newGatedProxy(t, "127.0.0.1:"+strconv.Itoa(srv.port))
	pool := NewPool()
	cfg := Config{Hop: Hop{Host: "127.0.0.1", Port: proxy.port, User: "u", Password: "pw",
		HostKey: string(ssh.MarshalAuthorizedKey(srv.host.PublicKey()))}, Timeout: 10 * time.Second}
	type result struct {
		c   *Conn
		err error
	}
	got := make(chan result, 2)
	get := func() {
		c, err := pool.Get(context.Background(), cfg)
		got <- result{c, err}
	}
	go get()
	<-proxy.accepted // The dial is under way, held before the handshake.
	go get()         // A second caller waits for that dial.
	time.Sleep(100 * time.Millisecond)
	pool.Close()
	close(proxy.release)

	for range 2 {
		r := <-got
		if !errors.Is(r.err, ErrPoolClosed) {
			t.Errorf("Get across Close returned a connection: %v, error %v; want ErrPoolClosed", r.c != nil, r.err)
		}
	}
	select {
	case <-proxy.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection dialled while the pool closed is still open")
	}
	if c, err := pool.Get(context.Background(), cfg); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Get after Close returned a connection: %v, error %v; want ErrPoolClosed", c != nil, err)
	}
}

// testBastion is an SSH server on loopback that opens direct-tcpip channels,
// as a bastion does. rekey drops every connection and serves on the same
// port with a new host key.
type testBastion struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	l    net.Listener
	open []net.Conn
	key  ssh.Signer
}

func newTestBastion(t *testing.T) *testBastion {
	t.Helper()
	b := &testBastion{t: t}
	b.serve(newTestSigner(t), "127.0.0.1:0")
	t.Cleanup(b.stop)
	return b
}

func (b *testBastion) hostKey() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(ssh.MarshalAuthorizedKey(b.key.PublicKey()))
}

func (b *testBastion) serve(key ssh.Signer, addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.l, b.key = l, key
	b.port = int(netip.MustParseAddrPort(l.Addr().String()).Port())
	b.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Each connection is served with the key of the moment, so a
			// rekey keeps the port (rebinding it can race other tests).
			cfg := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
				if string(pw) != "pw" {
					return nil, errors.New("wrong password")
				}
				return nil, nil
			}}
			b.mu.Lock()
			cfg.AddHostKey(b.key)
			b.open = append(b.open, c)
			b.mu.Unlock()
			go b.forward(c, cfg)
		}
	}()
}

func (b *testBastion) forward(c net.Conn, cfg *ssh.ServerConfig) {
	defer func() { _ = c.Close() }()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		var to struct {
			Addr       string
			Port       uint32
			OriginAddr string
			OriginPort uint32
		}
		if nc.ChannelType() != "direct-tcpip" || ssh.Unmarshal(nc.ExtraData(), &to) != nil {
			_ = nc.Reject(ssh.Prohibited, "test bastion forwards only")
			continue
		}
		s, err := net.Dial("tcp", net.JoinHostPort(to.Addr, strconv.Itoa(int(to.Port))))
		if err != nil {
			_ = nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			_ = s.Close()
			continue
		}
		go ssh.DiscardRequests(chReqs)
		go func() {
			defer func() { _ = ch.Close(); _ = s.Close() }()
			go func() { _, _ = io.Copy(ch, s) }()
			_, _ = io.Copy(s, ch)
		}()
	}
}

func (b *testBastion) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.l.Close()
	for _, c := range b.open {
		_ = c.Close()
	}
	b.open = nil
}

// rekey drops every connection and serves on with a new key.
func (b *testBastion) rekey() {
	key := newTestSigner(b.t)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.key = key
	for _, c := range b.open {
		_ = c.Close()
	}
	b.open = nil
}

// TestPool_bastionTrust: two configurations that disagree about a bastion's
// key never share a usable route through it, and a bastion trusted on first
// use is pinned: once it presents another key, a redial is refused, for the
// handle that had the route and for a new Get. (TestAccPool_bastionTrustPerConfiguration
// proves the first half on fleet hosts.)
func TestPool_bastionTrust(t *testing.T) {
	t.Parallel()
	target := newTestSSHServer(t, func(ch ssh.Channel, _ string) uint32 {
		_, _ = io.WriteString(ch, "target\n")
		return 0
	})
	bastion := newTestBastion(t)
	pool := NewPool()
	defer pool.Close()
	ctx := context.Background()
	route := func(bastionTrust func(*Hop)) Config {
		b := Hop{Host: "127.0.0.1", Port: bastion.port, User: "jump", Password: "pw"}
		bastionTrust(&b)
		return Config{Hop: Hop{Host: "127.0.0.1", Port: target.port, User: "u", Password: "pw",
			HostKey: string(ssh.MarshalAuthorizedKey(target.host.PublicKey()))}, Bastions: []Hop{b}, Timeout: 5 * time.Second}
	}
	run := func(c *Conn) (string, error) {
		out, err := c.Output(ctx, Command{Args: []string{"hostname"}})
		return string(out), err
	}
	wantBastionMismatch := func(what string, err error) {
		t.Helper()
		var mm *HostKeyMismatchError
		if !errors.As(err, &mm) || !strings.Contains(err.Error(), "bastion 1") {
			t.Errorf("%s: %v; want a host key mismatch for bastion 1", what, err)
		}
	}

	tofu := route(func(h *Hop) { h.TrustOnFirstUse = true })
	first, err := pool.Get(ctx, tofu)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(first); err != nil || out != "target\n" {
		t.Fatalf("through the bastion: %q, %v", out, err)
	}

	// Another configuration pins another key for the same bastion.
	other := route(func(h *Hop) { h.HostKey = string(ssh.MarshalAuthorizedKey(newTestSigner(t).PublicKey())) })
	c, err := pool.Get(ctx, other)
	wantBastionMismatch("a configuration pinning another bastion key", err)
	if c != nil {
		if out, err := run(c); err == nil {
			t.Errorf("the configuration pinning another bastion key ran a command: %q", out)
		}
	}
	pinned := route(func(h *Hop) { h.HostKey = bastion.hostKey() })
	if c, err := pool.Get(ctx, pinned); err != nil {
		t.Errorf("a configuration pinning the bastion's real key: %v", err)
	} else if c.shared != first.shared {
		t.Error("configurations that agree about the bastion do not share the route")
	}

	// The bastion is re-keyed and drops the connection: the redial meets the
	// new key, which the key seen first does not match.
	bastion.rekey()
	out, err := run(first)
	wantBastionMismatch("the first-use configuration after the bastion changed its key", err)
	if err == nil {
		t.Errorf("the command ran through the re-keyed bastion: %q", out)
	}
	if c, err := pool.Get(ctx, tofu); err == nil {
		out, err := run(c)
		wantBastionMismatch("a new Get of the first-use configuration after the bastion changed its key", err)
		if err == nil {
			t.Errorf("the command ran through the re-keyed bastion: %q", out)
		}
	}
	// A new pool knows nothing of the old key: trust on first use accepts the
	// new one, so the refusal above came from the pin, not from a broken bastion.
	fresh := NewPool()
	defer fresh.Close()
	if c, err := fresh.Get(ctx, tofu); err != nil {
		t.Fatalf("a fresh dial through the re-keyed bastion: %v", err)
	} else if out, err := run(c); err != nil || out != "target\n" {
		t.Fatalf("a fresh dial through the re-keyed bastion: %q, %v", out, err)
	}
}

// TestPool_sharedAcrossTrustForms: configurations that agree about a host,
// one pinning its plain key and one trusting its host CA, share the
// connection whichever dials first: the route carries the host's
// certificate, which both can verify.
func TestPool_sharedAcrossTrustForms(t *testing.T) {
	t.Parallel()
	srv := newTestSSHServer(t, func(ch ssh.Channel, _ string) uint32 {
		_, _ = io.WriteString(ch, "ok\n")
		return 0
	})
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	line := "@cert-authority [127.0.0.1]:" + strconv.Itoa(srv.port) + " " + string(ssh.MarshalAuthorizedKey(srv.ca.PublicKey()))
	if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	hop := Hop{Host: "127.0.0.1", Port: srv.port, User: "u", Password: "pw"}
	pinned, viaCA, tofu := hop, hop, hop
	pinned.HostKey = string(ssh.MarshalAuthorizedKey(srv.host.PublicKey()))
	viaCA.KnownHostsFile = knownHosts
	tofu.TrustOnFirstUse = true
	for _, first := range []Hop{pinned, tofu} {
		pool := NewPool()
		a, err := pool.Get(context.Background(), Config{Hop: first})
		if err != nil {
			t.Fatal(err)
		}
		b, err := pool.Get(context.Background(), Config{Hop: viaCA})
		if err != nil {
			t.Errorf("after a dial trusting %s, the configuration trusting the host CA was refused: %v", trustName(first), err)
		} else if b.shared != a.shared {
			t.Errorf("after a dial trusting %s, the configuration trusting the host CA got a connection of its own", trustName(first))
		} else if out, err := b.Output(context.Background(), Command{Args: []string{"true"}}); err != nil || string(out) != "ok\n" {
			t.Errorf("over the shared connection: %q, %v", out, err)
		}
		pool.Close()
	}
}

func trustName(h Hop) string {
	if h.TrustOnFirstUse {
		return "on first use"
	}
	return "a pinned key"
}

// TestPool_redialWithOwnTrust: a configuration redials a dropped connection
// with its own host-key trust, so it does not depend on the trust source of
// the configuration that dialled first (here a known_hosts file since
// deleted).
func TestPool_redialWithOwnTrust(t *testing.T) {
	t.Parallel()
	srv := newTestSSHServer(t, func(ch ssh.Channel, _ string) uint32 {
		_, _ = io.WriteString(ch, "ok\n")
		return 0
	})
	proxy := newGatedProxy(t, "127.0.0.1:"+strconv.Itoa(srv.port))
	close(proxy.release)
	hostKey := string(ssh.MarshalAuthorizedKey(srv.host.PublicKey()))
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(knownHosts, []byte("[127.0.0.1]:"+strconv.Itoa(proxy.port)+" "+hostKey), 0o600); err != nil {
		t.Fatal(err)
	}
	hop := Hop{Host: "127.0.0.1", Port: proxy.port, User: "u", Password: "pw"}
	viaFile, pinned := hop, hop
	viaFile.KnownHostsFile = knownHosts
	pinned.HostKey = hostKey
	pool := NewPool()
	defer pool.Close()
	ctx := context.Background()
	first, err := pool.Get(ctx, Config{Hop: viaFile})
	if err != nil {
		t.Fatal(err)
	}
	second, err := pool.Get(ctx, Config{Hop: pinned})
	if err != nil {
		t.Fatal(err)
	}
	if second.shared != first.shared {
		t.Fatal("the two configurations do not share the connection; the test needs them to")
	}
	if err := os.Remove(knownHosts); err != nil {
		t.Fatal(err)
	}
	proxy.drop()
	out, err := second.Output(ctx, Command{Args: []string{"true"}})
	if err != nil || string(out) != "ok\n" {
		t.Fatalf("the pinned configuration after the connection dropped: %q, %v", out, err)
	}
	if d := second.Dials(); d != 2 {
		t.Errorf("connection established %d times, want 2 (one redial)", d)
	}
	// The first configuration's own trust is gone: it is refused, not served.
	if out, err := first.Output(ctx, Command{Args: []string{"true"}}); err == nil {
		t.Errorf("the configuration whose known_hosts file is gone ran a command: %q", out)
	}
}
