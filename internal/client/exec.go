package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Command is one program run on the host. Args are passed as an argument
// vector: each is quoted for the remote shell, so no argument is ever
// interpreted by it.
type Command struct {
	Args  []string
	Stdin io.Reader
	// AsLoginUser runs the command as the login user even when the
	// connection runs commands through sudo.
	AsLoginUser bool
}

// MaxOutput bounds what one command may print, on stdout and on stderr each.
// The provider keeps a command's output in memory, so a compromised or broken
// host could otherwise exhaust it. The largest legitimate answers are a few
// MiB: an agent RPC listing a year of hourly backups (about 3 MiB of JSON),
// the host inspection, a deploy step's log; 16 MiB leaves room above them
// while bounding a hostile host to 16 MiB per stream of each of its
// MaxSessionsPerConn sessions.
const MaxOutput = 16 << 20

// cappedBuffer keeps at most limit bytes; a write past the limit fails and
// closes over, so Exec stops the command instead of buffering without end.
// The buffer is a field, not embedded: an embedded bytes.Buffer would give
// io.Copy its ReadFrom, which reads past any limit.
type cappedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  chan struct{}
}

func newCappedBuffer(limit int) *cappedBuffer {
	return &cappedBuffer{limit: limit, over: make(chan struct{})}
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.limit {
		if !b.exceeded() {
			close(b.over)
		}
		return 0, errors.New("output limit exceeded")
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) exceeded() bool {
	select {
	case <-b.over:
		return true
	default:
		return false
	}
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout     []byte
	Stderr     []byte
	ExitStatus int
}

// ShellQuote quotes s for a POSIX shell: the result is one word whose value is
// exactly s, whatever s contains (quotes, $(...), newlines, non-UTF-8 bytes).
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// Script returns a Command that runs a fixed sh script with positional
// arguments ($1, $2, ...). The script text is the program; hostile values go
// only into args.
func Script(script string, args ...string) Command {
	return Command{Args: append([]string{"sh", "-c", script, "sh"}, args...)}
}

// Exec runs cmd on the host (through `sudo -n` when the connection was
// configured with sudo and the user is not root). A non-zero exit is reported
// in Result.ExitStatus, not as an error; errors are transport failures and
// sudo refusals.
func (c *Conn) Exec(ctx context.Context, cmd Command) (Result, error) {
	if len(cmd.Args) == 0 {
		return Result{}, errors.New("exec: empty command")
	}
	for _, a := range cmd.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return Result{}, fmt.Errorf("exec %s: argument contains a NUL byte", cmd.Args[0])
		}
	}
	args := cmd.Args
	useSudo := c.usesSudo() && !cmd.AsLoginUser
	if useSudo {
		args = append([]string{"sudo", "-n", "--"}, args...)
	}
	sess, release, err := c.session(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	defer func() { _ = sess.Close() }() // io.EOF after Wait is normal
	stdout, stderr := newCappedBuffer(MaxOutput), newCappedBuffer(MaxOutput)
	sess.Stdout, sess.Stderr, sess.Stdin = stdout, stderr, cmd.Stdin
	if err := sess.Start(commandLine(args)); err != nil {
		return Result{}, fmt.Errorf("start %s on %s: %w", cmd.Args[0], c.Address(), err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	stop := func() {
		_ = sess.Signal(ssh.SIGKILL)
		_ = sess.Close()
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		stop()
		return Result{}, fmt.Errorf("run %s on %s: %w", cmd.Args[0], c.Address(), ctx.Err())
	case <-stdout.over:
		stop()
	case <-stderr.over:
		stop()
	}
	for _, s := range []struct {
		name string
		buf  *cappedBuffer
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if s.buf.exceeded() {
			return Result{}, &OutputLimitError{Command: cmd.Args[0], Address: c.Address(), Stream: s.name, Limit: MaxOutput}
		}
	}
	res := Result{Stdout: stdout.buf.Bytes(), Stderr: stderr.buf.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitStatus = exitErr.ExitStatus()
	default:
		return res, fmt.Errorf("run %s on %s: %w", cmd.Args[0], c.Address(), err)
	}
	if useSudo && res.ExitStatus == 1 && sudoRefused(res.Stderr) {
		return res, &SudoError{User: c.User(), Address: c.Address(), Stderr: strings.TrimSpace(string(res.Stderr))}
	}
	return res, nil
}

// usesSudo says whether commands go through `sudo -n`: sudo was asked for and
// the login user is not already root.
func (c *Conn) usesSudo() bool {
	return c.sudo && c.User() != "root"
}

// Output runs cmd and returns its stdout, or an *ExitError carrying stderr when
// it exits non-zero.
func (c *Conn) Output(ctx context.Context, cmd Command) ([]byte, error) {
	res, err := c.Exec(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitStatus != 0 {
		return res.Stdout, &ExitError{Command: cmd.Args[0], Status: res.ExitStatus, Stderr: strings.TrimSpace(string(res.Stderr))}
	}
	return res.Stdout, nil
}

func sudoRefused(stderr []byte) bool {
	s := string(stderr)
	for _, m := range []string{"a password is required", "is not in the sudoers file", "a terminal is required",
		"is not allowed to execute", "may not run sudo", "sudo: command not found", "sudo: not found"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// File is a file to upload.
type File struct {
	Path    string      // Absolute path on the host; any bytes but NUL.
	Mode    os.FileMode // Permission bits.
	Owner   string      // Optional user name or uid.
	Group   string      // Optional group name or gid.
	Content io.Reader
}

// uploadScript writes stdin to a temporary file beside the target, flushes it
// to disk, sets mode and owner, renames it over the target and prints the
// SHA-256 of what is now at the target. Paths arrive only as positional
// arguments. Command substitutions that would drop a trailing newline of a
// directory name are guarded with a sentinel character.
const uploadScript = `set -eu
dst=$1 mode=$2 owner=$3 group=$4
dir=$(dirname -- "$dst"; echo x); dir=${dir%??}
tmp=$(mktemp -- "$dir/.steward-upload.XXXXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat >"$tmp"
chmod -- "$mode" "$tmp"
if [ -n "$owner" ]; then chown -- "$owner${group:+:$group}" "$tmp"
elif [ -n "$group" ]; then chgrp -- "$group" "$tmp"; fi
sync -- "$tmp" 2>/dev/null || sync
mv -fT -- "$tmp" "$dst"
trap - EXIT
sync -- "$dir" 2>/dev/null || true
sha256sum <"$dst"
`

// Upload writes f atomically (temporary file, fsync, rename) and verifies the
// SHA-256 of the written file against what was sent.
func (c *Conn) Upload(ctx context.Context, f File) error {
	if !strings.HasPrefix(f.Path, "/") {
		return fmt.Errorf("upload %q: path must be absolute", f.Path)
	}
	if f.Content == nil {
		f.Content = bytes.NewReader(nil)
	}
	h := sha256.New()
	cmd := Script(uploadScript, f.Path, fmt.Sprintf("%04o", f.Mode.Perm()), f.Owner, f.Group)
	cmd.Stdin = io.TeeReader(f.Content, h)
	out, err := c.Output(ctx, cmd)
	if err != nil {
		return fmt.Errorf("upload %q to %s: %w", f.Path, c.Address(), err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	got, _, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if got != want {
		return fmt.Errorf("upload %q to %s: SHA-256 after write is %s, sent %s", f.Path, c.Address(), got, want)
	}
	return nil
}
