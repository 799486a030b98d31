package logs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// conn is one connection to the receiver.
type conn struct {
	nc  net.Conn     // Where messages go: the TLS, TCP or UDP connection.
	tcp *net.TCPConn // The socket under nc, whose send queue tells what the receiver acknowledged; nil for UDP.
	out *countingConn
	// dead receives once when the receiver closes or resets the
	// connection. A syslog receiver never sends, so a read returns only
	// then.
	dead chan error
}

// countingConn counts the bytes written to the socket, TLS records
// included, to compare with the send queue.
type countingConn struct {
	net.Conn
	n atomic.Uint64
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(uint64(n))
	return n, err
}

// dialTimeout bounds connecting and the TLS handshake; userTimeout is how
// long sent data may stay unacknowledged before the kernel gives up on the
// connection.
const (
	dialTimeout = 10 * time.Second
	userTimeout = 30 * time.Second
)

func dial(ctx context.Context, t api.LogTarget) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	network := "tcp"
	if t.Protocol == api.LogProtocolUDP {
		network = "udp"
	}
	d := net.Dialer{}
	if network == "tcp" {
		d.Control = setUserTimeout(userTimeout)
	}
	nc, err := d.DialContext(ctx, network, t.Address)
	if err != nil {
		return nil, fmt.Errorf("connect to receiver %s: %w", t.Address, err)
	}
	c := &conn{out: &countingConn{Conn: nc}}
	c.nc = c.out
	if network == "udp" {
		return c, nil
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		_ = nc.Close()
		return nil, fmt.Errorf("connect to receiver %s: not a TCP connection", t.Address)
	}
	c.tcp = tcp
	if t.Protocol == api.LogProtocolTLS {
		cfg, err := tlsConfig(t)
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		tc := tls.Client(c.out, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			var verr *tls.CertificateVerificationError
			if errors.As(err, &verr) {
				return nil, fmt.Errorf("receiver %s: certificate refused, it does not verify with the pinned CA %s for %q: %w",
					t.Address, t.CAFile, cfg.ServerName, err)
			}
			return nil, fmt.Errorf("tls handshake with receiver %s: %w", t.Address, err)
		}
		c.nc = tc
	}
	c.dead = make(chan error, 1)
	go c.watch()
	return c, nil
}

func (c *conn) watch() {
	buf := make([]byte, 512)
	for {
		if _, err := c.nc.Read(buf); err != nil {
			c.dead <- err
			return
		}
	}
}

// tlsConfig trusts the pinned CA only, never the system's roots.
func tlsConfig(t api.LogTarget) (*tls.Config, error) {
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read pinned CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("read pinned CA %s: no PEM certificate in it", t.CAFile)
	}
	name := t.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(t.Address)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", t.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// written is how many bytes went to the socket so far.
func (c *conn) written() uint64 { return c.out.n.Load() }

// acked is how many of them the receiver's TCP acknowledged: over UDP,
// all that the kernel took.
func (c *conn) acked() (uint64, error) {
	w := c.written()
	if c.tcp == nil {
		return w, nil
	}
	q, err := unackedBytes(c.tcp)
	if err != nil {
		return 0, err
	}
	return w - min(uint64(q), w), nil
}

func (c *conn) close() { _ = c.nc.Close() } // Nothing written after the last acknowledgement counts as sent.

// closedErr says how the receiver went away.
func closedErr(addr string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("receiver %s closed the connection", addr)
	}
	return fmt.Errorf("connection to receiver %s: %w", addr, err)
}
