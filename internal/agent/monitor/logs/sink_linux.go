package logs

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout makes the kernel drop a connection whose sent data stays
// unacknowledged for longer than d (TCP_USER_TIMEOUT): a receiver host
// that vanished is noticed in d instead of after minutes of retransmits.
func setUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
		}
		return nil
	}
}

// unackedBytes is how much of what was written to c the receiver's TCP has
// not acknowledged yet (SIOCOUTQ: bytes in the send queue, sent or not).
func unackedBytes(c *net.TCPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("send queue: %w", err)
	}
	var n int
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil {
		return 0, fmt.Errorf("send queue: %w", err)
	}
	if ierr != nil {
		return 0, fmt.Errorf("send queue: ioctl SIOCOUTQ: %w", ierr)
	}
	return n, nil
}
