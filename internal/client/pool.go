package client

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// MaxSessionsPerConn bounds concurrent sessions on one connection; sshd's
// default MaxSessions is 10 and a bastion hop may need one more.
const MaxSessionsPerConn = 8

// keepaliveInterval is how often an idle connection is probed.
const keepaliveInterval = 15 * time.Second

// Pool keeps one SSH connection per route: the same hosts, ports and users
// in the same order, logging in with the same credentials. It is safe for
// concurrent use: Terraform calls a provider from many goroutines at once.
type Pool struct {
	mu     sync.Mutex
	conns  map[string]*poolEntry
	dials  int
	closed bool // Set by Close: dials still running close what they open.
	// secret keys the digests of credentials in pool keys, so a key held in
	// memory or printed while debugging says nothing about a password.
	secret []byte
}

type poolEntry struct {
	ready chan struct{}
	conn  *shared
	err   error
}

// ErrPoolClosed is returned by Get once the pool is closed.
var ErrPoolClosed = errors.New("ssh connection pool closed")

// NewPool returns an empty pool.
func NewPool() *Pool {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never returns an error
	return &Pool{conns: map[string]*poolEntry{}, secret: secret}
}

// key identifies the connection cfg may use. Each hop's credentials are part
// of it, so a configuration whose key, certificate, agent or password sshd
// would refuse never borrows a login made with another, and each connection
// is audited under the key that really logged in. Host-key trust is not part
// of it: every hop's key, as verified by the handshake, is checked against
// the trust of each configuration that uses the connection (Conn.client).
func (p *Pool) key(cfg Config) string {
	hops := cfg.hops()
	parts := make([]string, len(hops))
	for i, h := range hops {
		parts[i] = h.label() + "#" + p.credentialDigest(h)
	}
	return strings.Join(parts, " -> ")
}

// credentialDigest is a keyed digest of everything a hop logs in with.
func (p *Pool) credentialDigest(h Hop) string {
	sock := h.AgentSocket
	if h.UseAgent && sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	mac := hmac.New(sha256.New, p.secret)
	for _, f := range []string{h.PrivateKey, h.PrivateKeyFile, h.PrivateKeyPassphrase, h.Certificate,
		strconv.FormatBool(h.UseAgent), sock, h.Password} {
		// Length-prefixed, so no two different credentials encode alike.
		_, _ = fmt.Fprintf(mac, "%d:%s;", len(f), f)
	}
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// Get returns the pooled connection for cfg, dialling it if needed. Callers
// for the same key wait for one dial instead of each opening their own. A
// pooled connection is still checked against cfg's host-key trust for every
// hop, so two configurations that disagree about a host's or a bastion's key
// cannot share a connection.
func (p *Pool) Get(ctx context.Context, cfg Config) (*Conn, error) {
	key := p.key(cfg)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	e, ok := p.conns[key]
	if !ok {
		e = &poolEntry{ready: make(chan struct{})}
		p.conns[key] = e
		p.dials++
		p.mu.Unlock()
		conn, err := dial(ctx, cfg)
		p.mu.Lock()
		if err == nil && p.closed {
			// Closed while dialling: Close could not reach this connection.
			conn.close()
			conn, err = nil, ErrPoolClosed
		}
		e.conn, e.err = conn, err
		if err != nil {
			// Failed dials are not cached: the next caller tries again.
			delete(p.conns, key)
		}
		p.mu.Unlock()
		close(e.ready)
		if e.err != nil {
			return nil, e.err
		}
		return e.conn.handle(cfg)
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
	return e.conn.handle(cfg)
}

// Close closes every pooled connection, and those still being dialled as
// their dials finish; Get fails from then on.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for k, e := range p.conns {
		select {
		case <-e.ready:
			if e.conn != nil {
				e.conn.close()
			}
		default:
		}
		delete(p.conns, k)
	}
}

// Conn is one configuration's handle on a connection to a host, shared by
// everything that talks to it with the same credentials. A dropped
// connection is redialled on next use, and the new route is checked against
// this configuration's host-key trust before the handle uses it.
type Conn struct {
	*shared
	sudo bool
	// trust is the configuration this handle was made for, with
	// trust-on-first-use hops pinned to the keys the handle first accepted.
	trust Config
	// checked is the generation of the last route that passed trust.
	checked atomic.Int64
}

type shared struct {
	// Set by the first dial and never changed; each redial uses the trust
	// of the handle that finds the connection dropped.
	cfg      Config
	sessions chan struct{}

	mu     sync.Mutex
	route  *route // nil while dropped
	last   *route // the latest route dialled, still there when route is dropped
	closed bool
	dials  int
}

func dial(ctx context.Context, cfg Config) (*shared, error) {
	r, err := dialWithRetry(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.gen = 1
	s := &shared{cfg: cfg, sessions: make(chan struct{}, MaxSessionsPerConn), route: r, last: r, dials: 1}
	go s.keepalive(r)
	return s, nil
}

// pinFirstUse returns cfg with every trust-on-first-use hop pinned to the key
// that hop presented on r.
func pinFirstUse(cfg Config, r *route) Config {
	cfg.Bastions = slices.Clone(cfg.Bastions)
	pin := func(h *Hop, key ssh.PublicKey) {
		if h.TrustOnFirstUse {
			h.TrustOnFirstUse = false
			h.HostKey = string(ssh.MarshalAuthorizedKey(plainKey(key)))
		}
	}
	for i := range cfg.Bastions {
		pin(&cfg.Bastions[i], r.hostKeys[i])
	}
	pin(&cfg.Hop, r.hostKeys[len(r.hostKeys)-1])
	return cfg
}

// handle returns a handle for cfg once the current route passes cfg's trust.
func (s *shared) handle(cfg Config) (*Conn, error) {
	s.mu.Lock()
	r := s.last
	s.mu.Unlock()
	if err := checkRoute(cfg, r); err != nil {
		return nil, err
	}
	c := &Conn{shared: s, sudo: cfg.Sudo, trust: pinFirstUse(cfg, r)}
	c.checked.Store(r.gen)
	return c, nil
}

// checkRoute checks the key every hop of r presented against cfg's trust for
// that hop, without a new handshake.
func checkRoute(cfg Config, r *route) error {
	hops := cfg.hops()
	if len(hops) != len(r.hostKeys) {
		return fmt.Errorf("connection to %s: the pooled route has %d hops, the configuration %d; please report this to the provider developers",
			cfg.Address(), len(r.hostKeys), len(hops))
	}
	for i, h := range hops {
		if err := verifyKnownKey(h, r.remotes[i], r.hostKeys[i]); err != nil {
			if i < len(hops)-1 {
				return fmt.Errorf("bastion %d (%s): %w", i+1, h.label(), err)
			}
			return err
		}
	}
	return nil
}

// HostKey returns the target's host public key in authorized_keys format
// (without trailing newline), as verified during the handshake.
func (c *Conn) HostKey() string {
	return strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(plainKey(c.targetKey()))), "\n")
}

// HostKeyFingerprint returns the SHA256 fingerprint of the target's host key.
func (c *Conn) HostKeyFingerprint() string {
	return ssh.FingerprintSHA256(plainKey(c.targetKey()))
}

func (s *shared) targetKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.hostKeys[len(s.last.hostKeys)-1]
}

// authFingerprint identifies the credential the login used, for audit records.
func (s *shared) authFingerprint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.authFingerprint
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

// Close closes the connection and its bastion hops, for every handle on it.
func (c *Conn) Close() { c.close() }

func (s *shared) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.route != nil {
		s.route.close()
		s.route = nil
	}
}

// client returns the live SSH client, redialling with this handle's own
// trust if the connection dropped (stale is the client found dead): another
// configuration's trust source may be gone by then (a known_hosts file of a
// finished run). A route dialled since this handle last looked is first
// checked against the handle's own trust: another handle may have redialled
// it, and a host re-keyed in between (accepted, say, through an
// @cert-authority line) must not pass for a configuration that pins its old
// key.
func (c *Conn) client(ctx context.Context, stale *ssh.Client) (*ssh.Client, error) {
	r, err := c.liveRoute(ctx, stale, c.trust)
	if err != nil {
		return nil, err
	}
	if c.checked.Load() != r.gen {
		if err := checkRoute(c.trust, r); err != nil {
			return nil, err
		}
		c.checked.Store(r.gen)
	}
	return r.target, nil
}

// liveRoute returns the live route, redialling with cfg (same credentials as
// every user of s, its own trust) if the connection dropped.
func (s *shared) liveRoute(ctx context.Context, stale *ssh.Client, cfg Config) (*route, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("connection closed")
	}
	if s.route != nil && s.route.target != stale {
		return s.route, nil
	}
	if s.route != nil {
		s.route.close()
		s.route = nil
	}
	slog.Debug("redialling dropped ssh connection", "address", s.cfg.Address())
	r, err := dialWithRetry(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("reconnect: %w", err)
	}
	s.dials++
	r.gen = int64(s.dials)
	s.route, s.last = r, r
	go s.keepalive(r)
	return r, nil
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

// Fresh opens a new connection with this handle's configuration and
// trust, outside the pool, and returns a handle on it that the caller
// closes: the proof that a login (and sudo) works now, not one made before
// a change. Confirm-or-revert confirms through it.
func (c *Conn) Fresh(ctx context.Context) (*Conn, error) {
	s, err := dial(ctx, c.trust)
	if err != nil {
		return nil, err
	}
	h, err := s.handle(c.trust)
	if err != nil {
		s.close()
		return nil, err
	}
	return h, nil
}
