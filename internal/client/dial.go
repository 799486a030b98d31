package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// authenticator builds the auth methods of one hop. close releases the
// ssh-agent connection once the handshake is over.
type authenticator struct {
	fingerprint string // Of the configured key, or the method name.
	methods     []ssh.AuthMethod
	names       []string
	closers     []io.Closer
}

func (a *authenticator) close() {
	for _, c := range a.closers {
		_ = c.Close()
	}
}

func newAuthenticator(h Hop) (*authenticator, error) {
	a := &authenticator{}
	var signers []ssh.Signer
	keyText := []byte(h.PrivateKey)
	if h.PrivateKeyFile != "" {
		b, err := readKeyFile(h.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		keyText = b
	}
	if len(keyText) > 0 {
		signer, err := parseSigner(keyText, h.PrivateKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("parse private key for %s: %w", h.label(), err)
		}
		if h.Certificate != "" {
			cert, err := parseCertificate(h.Certificate)
			if err != nil {
				return nil, fmt.Errorf("parse certificate for %s: %w", h.label(), err)
			}
			certSigner, err := ssh.NewCertSigner(cert, signer)
			if err != nil {
				return nil, fmt.Errorf("certificate for %s does not match its private key: %w", h.label(), err)
			}
			signers = append(signers, certSigner)
			a.names = append(a.names, "certificate")
		}
		signers = append(signers, signer)
		a.names = append(a.names, "private key")
		a.fingerprint = ssh.FingerprintSHA256(signer.PublicKey())
	}
	if len(signers) > 0 {
		a.methods = append(a.methods, ssh.PublicKeys(signers...))
	}
	if h.UseAgent {
		sock := h.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock == "" {
			return nil, fmt.Errorf("use_agent is set for %s but SSH_AUTH_SOCK is empty: start ssh-agent and add a key", h.label())
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, fmt.Errorf("connect to ssh-agent at %s: %w", sock, err)
		}
		a.closers = append(a.closers, conn)
		a.methods = append(a.methods, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		a.names = append(a.names, "ssh-agent")
	}
	if h.Password != "" {
		pw := h.Password
		a.methods = append(a.methods, ssh.Password(pw), ssh.KeyboardInteractive(
			func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
		a.names = append(a.names, "password")
	}
	if a.fingerprint == "" && len(a.names) > 0 {
		a.fingerprint = a.names[0]
	}
	if len(a.methods) == 0 {
		a.close()
		return nil, fmt.Errorf("no authentication configured for %s", h.label())
	}
	return a, nil
}

// dialHop performs one SSH handshake over conn. ctx bounds the handshake.
func dialHop(ctx context.Context, conn net.Conn, h Hop) (*ssh.Client, ssh.PublicKey, string, error) {
	verifier, err := newHostKeyVerifier(h)
	if err != nil {
		_ = conn.Close()
		return nil, nil, "", err
	}
	auth, err := newAuthenticator(h)
	if err != nil {
		_ = conn.Close()
		return nil, nil, "", err
	}
	defer auth.close()
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              auth.methods,
		HostKeyCallback:   verifier.callback,
		HostKeyAlgorithms: verifier.algos,
		ClientVersion:     "SSH-2.0-Steward",
	}
	// The handshake has no context of its own: closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, h.Address(), cfg)
	expired := !stop()
	if err != nil {
		_ = conn.Close()
		var mm *HostKeyMismatchError
		if errors.As(err, &mm) {
			return nil, nil, "", mm
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, nil, "", &AuthError{Address: h.Address(), User: h.User, Methods: auth.names, Err: err}
		}
		if expired {
			return nil, nil, "", fmt.Errorf("ssh handshake with %s: %w", h.Address(), ctx.Err())
		}
		return nil, nil, "", fmt.Errorf("ssh handshake with %s: %w", h.Address(), err)
	}
	if expired {
		_ = c.Close()
		return nil, nil, "", fmt.Errorf("ssh handshake with %s: %w", h.Address(), ctx.Err())
	}
	return ssh.NewClient(c, chans, reqs), verifier.presented(), auth.fingerprint, nil
}

// route is an established chain: the bastion clients and the target client.
type route struct {
	bastions []*ssh.Client
	target   *ssh.Client
	// hostKeys and remotes are, hop by hop (bastions, then the target), the
	// key each host presented as the handshake verified it and its address.
	hostKeys []ssh.PublicKey
	remotes  []net.Addr
	// authFingerprint identifies the credential that logged in to the target.
	authFingerprint string
	gen             int64 // Which dial of its connection made it: 1, then one more per redial.
}

func (r *route) close() {
	if r.target != nil {
		_ = r.target.Close()
	}
	for i := len(r.bastions) - 1; i >= 0; i-- {
		_ = r.bastions[i].Close()
	}
}

// dialRoute opens the TCP connection to the first hop and tunnels each later
// hop through the previous one.
func dialRoute(ctx context.Context, cfg Config) (*route, error) {
	hops := cfg.hops()
	r := &route{}
	var prev *ssh.Client
	for i, h := range hops {
		var conn net.Conn
		var err error
		if prev == nil {
			var d net.Dialer
			conn, err = d.DialContext(ctx, "tcp", h.Address())
		} else {
			conn, err = prev.DialContext(ctx, "tcp", h.Address())
			if err != nil {
				err = fmt.Errorf("via bastion %s: %w", hops[i-1].label(), err)
			}
		}
		if err != nil {
			r.close()
			return nil, fmt.Errorf("connect to %s: %w", h.Address(), err)
		}
		c, key, fp, err := dialHop(ctx, conn, h)
		if err != nil {
			r.close()
			if i < len(hops)-1 {
				return nil, fmt.Errorf("bastion %d (%s): %w", i+1, h.label(), err)
			}
			return nil, err
		}
		r.hostKeys, r.remotes = append(r.hostKeys, key), append(r.remotes, c.RemoteAddr())
		if i < len(hops)-1 {
			r.bastions = append(r.bastions, c)
		} else {
			r.target, r.authFingerprint = c, fp
		}
		prev = c
	}
	return r, nil
}

// retryable says whether a failed dial may succeed later: the host may still be
// booting, or sshd may be shedding load (MaxStartups). Authentication and
// host-key failures are final.
func retryable(err error) bool {
	var mm *HostKeyMismatchError
	var ae *AuthError
	if errors.As(err, &mm) || errors.As(err, &ae) {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oc *ssh.OpenChannelError
	if errors.As(err, &oc) { // a bastion could not reach the next hop yet
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "EOF") || strings.Contains(msg, "no route to host")
}

// dialWithRetry dials until it succeeds, hits a final error, or cfg's timeout
// passes, backing off between attempts.
func dialWithRetry(ctx context.Context, cfg Config) (*route, error) {
	timeout := cfg.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	backoff := 250 * time.Millisecond
	attempts := 0
	for {
		attempts++
		r, err := dialRoute(ctx, cfg)
		if err == nil {
			return r, nil
		}
		if !retryable(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, &UnreachableError{Address: cfg.Address(), Timeout: timeout, Attempts: attempts, Err: err}
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 3*time.Second)
	}
}
