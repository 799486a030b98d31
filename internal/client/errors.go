package client

import (
	"fmt"
	"time"
)

// HostKeyMismatchError means the host presented a key other than the trusted one.
// It is never retried: it may be an attack, or a reinstalled host.
type HostKeyMismatchError struct {
	Address   string
	Expected  string // SHA256 fingerprint(s) of the trusted key(s), or a description of the trust source.
	Presented string // SHA256 fingerprint of the key the host presented.
	Reason    string
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key mismatch for %s: expected %s, host presented %s (%s)", e.Address, e.Expected, e.Presented, e.Reason)
}

// UnreachableError means no SSH session could be set up within the timeout.
type UnreachableError struct {
	Address  string
	Timeout  time.Duration
	Attempts int
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("could not reach %s within %s (%d attempts): %v", e.Address, e.Timeout, e.Attempts, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// AuthError means the host refused every credential offered.
type AuthError struct {
	Address string
	User    string
	Methods []string
	Err     error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s@%s refused authentication (offered: %v): %v", e.User, e.Address, e.Methods, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// SudoError means the user cannot run commands as root without a password.
type SudoError struct {
	User    string
	Address string
	Stderr  string
}

func (e *SudoError) Error() string {
	return fmt.Sprintf("user %q on %s cannot run commands with passwordless sudo (sudo -n): %s", e.User, e.Address, e.Stderr)
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Command string
	Status  int
	Stderr  string
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with status %d: %s", e.Command, e.Status, e.Stderr)
}

// OutputLimitError means a command printed more than MaxOutput on one stream;
// the command was stopped and its output dropped.
type OutputLimitError struct {
	Command string
	Address string
	Stream  string // "stdout" or "stderr".
	Limit   int
}

func (e *OutputLimitError) Error() string {
	return fmt.Sprintf("run %s on %s: %s exceeded the limit of %d MiB, so Steward ended the command: it keeps no more of a "+
		"command's output in memory; a host that sends more is misbehaving or compromised, and a deploy step must print less",
		e.Command, e.Address, e.Stream, e.Limit>>20)
}
