package core

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Command runs a program (no shell) and returns its combined output; a
// failure names the command line and quotes the output.
func Command(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// systemctl drives systemd through its command-line tool.
type systemctl struct{}

func (systemctl) run(ctx context.Context, args ...string) (string, error) {
	return Command(ctx, "systemctl", args...)
}

func (s systemctl) DaemonReload(ctx context.Context) error {
	_, err := s.run(ctx, "daemon-reload")
	return err
}

func (s systemctl) Enable(ctx context.Context, unit string) (bool, error) {
	if out, _ := s.run(ctx, "is-enabled", unit); strings.TrimSpace(out) == "enabled" {
		return false, nil
	}
	_, err := s.run(ctx, "enable", unit)
	return err == nil, err
}

func (s systemctl) Restart(ctx context.Context, unit string) error {
	// A unit that crashed in a loop (a failed upgrade) hit its start limit;
	// clear it so a rollback can start the previous agent at once.
	_, _ = s.run(ctx, "reset-failed", unit)
	_, err := s.run(ctx, "restart", unit)
	return err
}

func (s systemctl) IsActive(ctx context.Context, unit string) bool {
	out, _ := s.run(ctx, "is-active", unit)
	return strings.TrimSpace(out) == "active"
}

func (s systemctl) DisableNow(ctx context.Context, unit string) error {
	out, err := s.run(ctx, "disable", "--now", unit)
	if err != nil && (strings.Contains(out, "does not exist") || strings.Contains(out, "not loaded") || strings.Contains(out, "No such file")) {
		return nil
	}
	return err
}

func (s systemctl) NeedsReload(ctx context.Context, unit string) bool {
	out, _ := s.run(ctx, "show", "--property=NeedDaemonReload", "--value", unit)
	return strings.TrimSpace(out) == "yes"
}
