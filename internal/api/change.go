package api

import (
	"fmt"
	"time"
)

// Confirm-or-revert (DESIGN.md §3, Safety). A kind whose changes can cut
// access (sshd, PAM, the firewall; access policies next) applies them with
// a revert armed on the host first: configure answers with a
// PendingChange, and unless the provider confirms it over a fresh SSH
// login before RevertAt, the host puts back what the change replaced.

// ConfirmChange confirms a pending change. The provider calls it over a new
// SSH connection, never the one that applied the change: the call itself
// is the proof that a login (and sudo) still works.
var ConfirmChange = Method[ChangeID, ChangeConfirmed]{Name: "change.confirm"}

// ChangeID names one pending change.
type ChangeID struct {
	ID string `json:"id"`
}

// Validate checks the id's shape (it becomes a file and a unit name).
func (c ChangeID) Validate() error {
	if len(c.ID) != 32 {
		return fmt.Errorf("change id %q: want 32 hex digits", c.ID)
	}
	for _, r := range c.ID {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return fmt.Errorf("change id %q: want 32 hex digits", c.ID)
		}
	}
	return nil
}

// ChangeConfirmed is the answer to change.confirm.
type ChangeConfirmed struct {
	HostID string    `json:"host_id"`
	At     time.Time `json:"at"`
}

// CodeChangeReverted answers change.confirm for a change the host has
// already put back (its timer fired first); the message says when and why.
const CodeChangeReverted = "change_reverted"

// Confirm timeouts: how long the host waits for the confirmation.
const (
	DefaultConfirmTimeout = 60 * time.Second
	MinConfirmTimeout     = 10 * time.Second
	MaxConfirmTimeout     = 120 * time.Second
)

// ParseConfirmTimeout parses a kind's confirm_timeout; empty is the default.
func ParseConfirmTimeout(s string) (time.Duration, error) {
	if s == "" {
		return DefaultConfirmTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < MinConfirmTimeout || d > MaxConfirmTimeout {
		return 0, fmt.Errorf("confirm_timeout %q: want a duration from %s to %s, e.g. \"60s\"", s, MinConfirmTimeout, MaxConfirmTimeout)
	}
	return d, nil
}
