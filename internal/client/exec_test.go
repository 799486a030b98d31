package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestExec_outputLimit plays a hostile host that prints more than MaxOutput:
// Exec must end the command with an *OutputLimitError naming the command and
// the limit, instead of buffering whatever the host sends.
func TestExec_outputLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		stream     string // "stdout" or "stderr"
		size       int
		wantStream string // "" when the output is within the limit.
	}{
		{name: "stdout within the limit", stream: "stdout", size: 1 << 20},
		{name: "stdout at the limit", stream: "stdout", size: MaxOutput},
		{name: "stdout one byte over", stream: "stdout", size: MaxOutput + 1, wantStream: "stdout"},
		{name: "stderr one byte over", stream: "stderr", size: MaxOutput + 1, wantStream: "stderr"},
		{name: "stdout four times over", stream: "stdout", size: 4 * MaxOutput, wantStream: "stdout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var written atomic.Int64
			finished := make(chan struct{})
			srv := newTestSSHServer(t, func(ch ssh.Channel, _ string) uint32 {
				defer close(finished)
				var w io.Writer = ch
				if tc.stream == "stderr" {
					w = ch.Stderr()
				}
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for left := tc.size; left > 0; left -= len(chunk) {
					n, err := w.Write(chunk[:min(left, len(chunk))])
					written.Add(int64(n))
					if err != nil {
						return 1
					}
				}
				return 0
			})
			pool := NewPool()
			defer pool.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := pool.Get(ctx, Config{Hop: Hop{Host: "127.0.0.1", Port: srv.port, User: "u", Password: "pw",
				HostKey: string(ssh.MarshalAuthorizedKey(srv.host.PublicKey()))}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Exec(ctx, Command{Args: []string{"flood", "--hard"}})
			if tc.wantStream == "" {
				if err != nil {
					t.Fatalf("output of %d bytes refused: %v", tc.size, err)
				}
				got := res.Stdout
				if tc.stream == "stderr" {
					got = res.Stderr
				}
				if len(got) != tc.size || res.ExitStatus != 0 {
					t.Errorf("got %d bytes and status %d, want %d bytes and status 0", len(got), res.ExitStatus, tc.size)
				}
				return
			}
			var le *OutputLimitError
			if !errors.As(err, &le) {
				t.Fatalf("want an *OutputLimitError, got %d bytes of stdout, %d of stderr, err %v", len(res.Stdout), len(res.Stderr), err)
			}
			if le.Stream != tc.wantStream || le.Limit != MaxOutput {
				t.Errorf("limit error for %s at %d bytes, want %s at %d", le.Stream, le.Limit, tc.wantStream, MaxOutput)
			}
			for _, want := range []string{"flood", tc.wantStream, "16 MiB"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if len(res.Stdout)+len(res.Stderr) != 0 {
				t.Errorf("output kept after the limit error: %d bytes", len(res.Stdout)+len(res.Stderr))
			}
			// The host could not send its flood to the end: the command was ended,
			// not drained into memory.
			if tc.size > 2*MaxOutput {
				select {
				case <-finished:
				case <-time.After(10 * time.Second):
					t.Fatalf("the host is still writing 10s after the limit error")
				}
				if n := written.Load(); n > 2*MaxOutput {
					t.Errorf("the host wrote %d bytes before the command was ended, want at most %d", n, 2*MaxOutput)
				}
			}
		})
	}
}
