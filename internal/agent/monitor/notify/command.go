package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// maxCommandOutput bounds what is kept of a command's output (for the
// error of a failed run); the rest is read and discarded.
const maxCommandOutput = 4 << 10

// commandEnv is the whole environment of a channel command: the daemon's
// own is not passed on.
var commandEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

type commandSender struct {
	n       *Notifier
	channel string
	cfg     api.CommandChannel
}

// send runs the program, without a shell, in its own process group (so a
// timeout kills what it started too) with the notification JSON on stdin.
func (s *commandSender) send(ctx context.Context, m message) error {
	in, err := json.Marshal(m.n)
	if err != nil {
		return fmt.Errorf("encode notification: %w", err)
	}
	prog := s.cfg.Args[0]
	cmd := exec.CommandContext(ctx, prog, s.cfg.Args[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	out := &cappedBuffer{max: maxCommandOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = "/"
	cmd.Env = append(commandEnv[:len(commandEnv):len(commandEnv)],
		"STEWARD_CHANNEL="+s.channel, "STEWARD_DELIVERY="+m.id, "STEWARD_EVENT="+m.event)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a child that keeps the output open cannot hold the channel
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil {
		return fmt.Errorf("run %s: %w", prog, cause)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("run %s: %s%s", prog, exit.String(), answerText(out.tail()))
	}
	return fmt.Errorf("run %s: %w", prog, err)
}

// cappedBuffer keeps the last max bytes written to it, where a program
// says why it failed.
type cappedBuffer struct {
	max int
	buf []byte
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > c.max {
		p = p[len(p)-c.max:]
	}
	c.buf = append(c.buf, p...)
	if over := len(c.buf) - c.max; over > 0 {
		c.buf = append(c.buf[:0:0], c.buf[over:]...)
	}
	return n, nil
}

// tail is the end of the output, short enough for an error message.
func (c *cappedBuffer) tail() []byte {
	s := strings.TrimSpace(string(c.buf))
	if len(s) > 180 {
		s = "…" + s[len(s)-180:]
	}
	return []byte(s)
}
