package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// MaxSessionsPerConn bounds concurrent sessions on one connection; sshd's
// default MaxSessions is 10 and a bastion hop may need one more.
const MaxSessionsPerConn = 8

// keepaliveInterval is how often an idle connection is probed.
const keepaliveInterval = 15 * time.Second

// Pool keeps one SSH connection per (host, port, user, route). It is safe for
// concurrent use: Terraform calls a provider from many goroutines at once.
type Pool struct {
	mu    sync.Mutex
	conns map[string]*poolEntry
	dials int
}

type poolEntry struct {
	ready chan struct{}
	conn  *Conn
	err   error
}

// NewPool returns an empty pool.
func NewPool() *Pool {
	return &Pool{conns: map[string]*poolEntry{}}
}

// Get returns the pooled connection for cfg, dialling it if needed. Callers
// for the same key wait for one dial instead of each opening their own. A
// pooled connection is still checked against cfg's host-key trust, so two
// configurations that disagree about a host's key cannot share a connection.
func (p *Pool) Get(ctx context.Context, cfg Config) (*Conn, error) {
	key := cfg.poolKey()
	p.mu.Lock()
	e, ok := p.conns[key]
	if !ok {
		e = &poolEntry{ready: make(chan struct{})}
		p.conns[key] = e
		p.dials++
		p.mu.Unlock()
		e.conn, e.err = dial(ctx, cfg)
		if e.err != nil {
			// Failed dials are not cached: the next caller tries again.
			p.mu.Lock()
			delete(p.conns, key)
			p.mu.Unlock()
		}
		close(e.ready)
		return e.conn, e.err
	}
	p.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return p.Get(ctx, cfg)
	}
	if err := e.conn.checkTrust(cfg); err != nil {
		return nil, err
	}
	return e.conn.withSudo(cfg.Sudo), nil
}

// Close closes every pooled connection.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, e := range p.conns {
		select {
		case <-e.ready:
			if e.conn != nil {
				e.conn.Close()
			}
		default:
		}
		delete(p.conns, k)
	}
}

// Conn is a connection to one host, shared by everything that talks to it.
// A dropped connection is redialled on next use.
type Conn struct {
	*shared
	sudo bool
}

type shared struct {
	// Set by the first dial and never changed.
	cfg             Config
	authFingerprint string        // Of the key (or method) the login used, for audit records.
	hostKey         ssh.PublicKey // The target's key (or certificate) as verified by the first dial.
	sessions        chan struct{}

	mu     sync.Mutex
	route  *route
	remote net.Addr
	closed bool
	dials  int
}

func dial(ctx context.Context, cfg Config) (*Conn, error) {
	r, err := dialWithRetry(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &shared{cfg: cfg, authFingerprint: r.authFingerprint, hostKey: r.hostKey, sessions: make(chan struct{}, MaxSessionsPerConn),
		route: r, remote: r.target.RemoteAddr(), dials: 1}
	if cfg.TrustOnFirstUse {
		// From now on the key seen first is the only one accepted, also on redial.
		s.cfg.TrustOnFirstUse = false
		s.cfg.HostKey = string(ssh.MarshalAuthorizedKey(plainKey(r.hostKey)))
	}
	go s.keepalive(r)
	return &Conn{shared: s, sudo: cfg.Sudo}, nil
}

func (c *Conn) withSudo(sudo bool) *Conn {
	return &Conn{shared: c.shared, sudo: sudo}
}

func (s *shared) checkTrust(cfg Config) error {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	return verifyKnownKey(cfg.Hop, remote, s.hostKey)
}

// HostKey returns the target's host public key in authorized_keys format
// (without trailing newline), as verified during the handshake.
func (c *Conn) HostKey() string {
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(plainKey(c.hostKey))), "\n")
}

// HostKeyFingerprint returns the SHA256 fingerprint of the target's host key.
func (c *Conn) HostKeyFingerprint() string {
	return ssh.FingerprintSHA256(plainKey(c.hostKey))
}

// Address returns host:port of the target.
func (c *Conn) Address() string { return c.cfg.Address() }

// User returns the login user on the target.
func (c *Conn) User() string { return c.cfg.User }

// Dials reports how many times this connection was established (1 plus redials).
func (c *Conn) Dials() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

// Close closes the connection and its bastion hops.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.route != nil {
		c.route.close()
		c.route = nil
	}
}

// client returns the live SSH client, redialling if the connection dropped.
func (s *shared) client(ctx context.Context, stale *ssh.Client) (*ssh.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("connection closed")
	}
	if s.route != nil && s.route.target != stale {
		return s.route.target, nil
	}
	if s.route != nil {
		s.route.close()
		s.route = nil
	}
	slog.Debug("redialling dropped ssh connection", "address", s.cfg.Address())
	r, err := dialWithRetry(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	s.route, s.remote = r, r.target.RemoteAddr()
	s.dials++
	go s.keepalive(r)
	return r.target, nil
}

// keepalive probes the connection; when the host stops answering, the
// connection is closed so the next use redials instead of hanging.
func (s *shared) keepalive(r *route) {
	t := time.NewTicker(keepaliveInterval)
	defer t.Stop()
	for range t.C {
		if alive(r.target, keepaliveInterval) {
			continue
		}
		s.mu.Lock()
		if s.route == r {
			r.close()
		}
		s.mu.Unlock()
		return
	}
}

// session opens a session, waiting for a free slot and redialling once if the
// connection turns out to be dead.
func (c *Conn) session(ctx context.Context) (*ssh.Session, func(), error) {
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	release := func() { <-c.sessions }
	cl, err := c.client(ctx, nil)
	if err != nil {
		release()
		return nil, nil, err
	}
	sess, err := openSession(ctx, cl)
	if err != nil && !alive(cl, 5*time.Second) {
		// The connection died (host rebooted, network cut, idle timeout): redial once.
		cl, err = c.client(ctx, cl)
		if err == nil {
			sess, err = openSession(ctx, cl)
		}
	}
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("open ssh session to %s: %w", c.Address(), err)
	}
	return sess, release, nil
}

// openSession opens a session, retrying briefly when sshd refuses the channel
// (sshd answers "open failed" while earlier sessions of the connection are
// still being torn down and count against its MaxSessions).
func openSession(ctx context.Context, cl *ssh.Client) (*ssh.Session, error) {
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		sess, err := cl.NewSession()
		var oc *ssh.OpenChannelError
		if err == nil || !errors.As(err, &oc) || oc.Reason == ssh.UnknownChannelType || attempt == 8 {
			return sess, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// alive probes the connection with a keepalive request and reports whether the
// host answered within timeout.
func alive(cl *ssh.Client, timeout time.Duration) bool {
	errc := make(chan error, 1)
	go func() {
		_, _, err := cl.SendRequest("keepalive@openssh.com", true, nil)
		errc <- err
	}()
	select {
	case err := <-errc:
		return err == nil
	case <-time.After(timeout):
		return false
	}
}
