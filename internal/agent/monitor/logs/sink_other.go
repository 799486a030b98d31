//go:build !linux

package logs

import (
	"net"
	"syscall"
	"time"
)

// setUserTimeout is Linux only; elsewhere the kernel's default applies.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}

// unackedBytes is not known off Linux: a write counts as acknowledged once
// the kernel took it.
func unackedBytes(*net.TCPConn) (int, error) { return 0, nil }
