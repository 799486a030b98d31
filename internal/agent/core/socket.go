package core

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ListenSocket listens on the daemon's unix socket: in a directory only root
// may enter, the socket itself 0600, a stale one from a killed daemon
// replaced.
func ListenSocket(p Paths) (net.Listener, error) {
	if err := EnsurePrivateDir(filepath.Dir(p.Socket)); err != nil {
		return nil, err
	}
	if err := os.Remove(p.Socket); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("remove stale socket %s: %w", p.Socket, err)
	}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", p.Socket, err)
	}
	if err := os.Chmod(p.Socket, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", p.Socket, err)
	}
	return ln, nil
}

// DaemonURL is the base of the URLs DaemonClient answers.
const DaemonURL = "http://steward-daemon"

// DaemonClient is an HTTP client that reaches the running daemon through its
// unix socket, for rpc methods and CLI commands that need what only the
// daemon holds (current metrics, history).
func DaemonClient(p Paths) *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", p.Socket)
		},
	}}
}
