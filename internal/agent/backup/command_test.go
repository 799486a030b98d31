package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBackup_cancelKillsDumpChildren: cancelling a run stops a dump at once
// even when the dump's shell started a child that holds its output open, and
// that child dies too, so neither the run nor a stopping daemon waits for it.
func TestBackup_cancelKillsDumpChildren(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t)
	src := t.TempDir()
	writeTree(t, src, map[string]*string{"f": ptr("x")})
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	cfg := testConfig(testIdentity(t), src)
	cfg.Dumps = []Dump{{Name: "db", Command: []string{"sh", "-c", "sleep 30 & echo $! >" + pidFile + "; wait"}}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := e.Backup(ctx, cfg); done <- err }()

	var child int
	for deadline := time.Now().Add(10 * time.Second); child == 0; time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			if _, err := fmt.Sscan(string(b), &child); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the dump did not start its child within 10s")
		}
	}
	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		t.Logf("the run returned %s after the cancel: %v", time.Since(cancelled).Round(time.Millisecond), err)
		if err == nil {
			t.Error("a cancelled run succeeded")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a cancelled run waited on its dump's child for more than 3s")
	}
	for deadline := time.Now().Add(3 * time.Second); processLives(child); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the dump's child %d outlived the cancelled run", child)
			_ = syscall.Kill(child, syscall.SIGKILL)
			break
		}
	}
}

// processLives reports whether pid runs (a zombie waiting to be reaped does not).
func processLives(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z")
}
