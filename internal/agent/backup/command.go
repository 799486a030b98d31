package backup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// commandWaitDelay is how long a cancelled command's output may stay open
// (held by a child it left behind) before Wait gives up on it.
const commandWaitDelay = time.Second

// CommandContext is exec.CommandContext for the commands a backup runs
// (dumps, hooks): the command gets a process group of its own, and
// cancelling ctx kills the whole group, so a shell's children (a pipeline,
// a `sleep`) die with it and cannot keep the run, and with it a stopping
// daemon, waiting on their output.
func CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = commandWaitDelay
	return cmd
}
