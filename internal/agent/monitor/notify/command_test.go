package notify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func commandSpec(args ...string) api.NotificationChannel {
	return api.NotificationChannel{Name: "cmd", Type: api.ChannelCommand, Timeout: "5m", Command: &api.CommandChannel{Args: args}}
}

// The program gets the notification JSON on stdin, without a shell, in a
// minimal environment.
func TestCommand_stdinAndEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in, env := filepath.Join(dir, "stdin.json"), filepath.Join(dir, "env")
	spec := commandSpec("/bin/sh", "-c", `cat > "$1"; env > "$2"`, "notify-script", in, env)
	h := newHarness(t, t.TempDir(), nil, spec)
	note := notification(alert("disk_full", api.AlertFiring, "1"))
	h.enqueue("cmd", note)
	h.start()
	eventually(t, "the delivery", func() bool { return h.status("cmd").Delivered == 1 })
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var got api.Notification
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("stdin is not a notification: %v\n%s", err, b)
	}
	note.Channel = "cmd"
	if diff := cmp.Diff(note, got); diff != "" {
		t.Errorf("stdin (-want +got):\n%s", diff)
	}
	e, _ := os.ReadFile(env)
	for _, want := range []string{"STEWARD_CHANNEL=cmd", "STEWARD_EVENT=notification", "LANG=C.UTF-8"} {
		if !strings.Contains(string(e), want+"\n") {
			t.Errorf("environment lacks %s:\n%s", want, e)
		}
	}
	if strings.Contains(string(e), "HOME=") || strings.Contains(string(e), "GOPATH") {
		t.Errorf("the daemon's environment leaked to the command:\n%s", e)
	}
}

// A failing program's exit status and last words are the error; its
// output is bounded.
func TestCommand_failure(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), nil, commandSpec("/bin/sh", "-c", `head -c 3000000 /dev/zero | tr '\0' x; echo; echo "pager service said no" >&2; exit 3`))
	err := h.n.Test(t.Context(), "cmd")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "pager service said no") {
		t.Fatalf("Test: %v; want the exit status and the program's message", err)
	}
	if len(err.Error()) > 600 {
		t.Errorf("the error holds %d bytes of output", len(err.Error()))
	}
}

// A program that hangs is killed at the timeout with what it started.
func TestCommand_timeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	h := newHarness(t, t.TempDir(), nil, commandSpec("/bin/sh", "-c", `sleep 300 & echo $! > "$1"; sleep 300`, "hang", pidFile))
	h.enqueue("cmd", notification(alert("disk_full", api.AlertFiring, "1")))
	h.start()
	eventually(t, "the program to start its child", func() bool {
		b, _ := os.ReadFile(pidFile)
		return strings.HasSuffix(string(b), "\n")
	})
	b, _ := os.ReadFile(pidFile)
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(child) {
		t.Fatalf("child pid %q is not running", b)
	}
	h.driveThroughAttempts(time.Minute, "the timeout", func() bool { return h.status("cmd").Failed >= 1 })
	if e := h.status("cmd").LastError; !strings.Contains(e, "timed out after 5m") {
		t.Errorf("error %q; want a timeout", e)
	}
	eventually(t, "the program's child to be killed too", func() bool { return !alive(child) })
}

// alive reports whether pid runs (a zombie, killed and waiting to be
// reaped, does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state …: comm may hold spaces, so read after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
