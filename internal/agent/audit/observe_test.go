package audit

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestAppend_recordsObserved: beside the operator the caller claims, the line
// records what sudo and sshd told the agent, so a spoofed claim shows. Not
// parallel: it sets the process environment.
func TestAppend_recordsObserved(t *testing.T) {
	t.Setenv("SUDO_USER", "deploy")
	t.Setenv("SUDO_UID", "1000")
	t.Setenv("SSH_CONNECTION", "198.51.100.7 50022 10.213.7.11 22")
	t.Setenv("SSH_CLIENT", "")
	path := filepath.Join(t.TempDir(), "audit.log")
	claim := api.Operator{LocalUser: "ann", SSHUser: "root", KeyFingerprint: "SHA256:someone-else"}
	if err := Append(path, Entry{Operator: claim, Object: "x", Action: "create", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	var rec record
	if err := json.Unmarshal(readLines(t, path)[0], &rec); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Observed{SudoUser: "deploy", SudoUID: "1000", SSHClient: "198.51.100.7:50022"}, rec.Observed); d != "" {
		t.Errorf("observed (-want +got):\n%s", d)
	}
	if rec.Operator != claim {
		t.Errorf("operator = %+v, want the claim as sent %+v", rec.Operator, claim)
	}
}

func TestSSHClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SSH_CONNECTION": "10.213.7.1 51234 10.213.7.11 22"}, "10.213.7.1:51234"},
		{map[string]string{"SSH_CLIENT": "2001:db8::7 51234 22"}, "[2001:db8::7]:51234"},
		{map[string]string{"SSH_CONNECTION": "10.0.0.1 1 10.0.0.2 22", "SSH_CLIENT": "10.9.9.9 2 22"}, "10.0.0.1:1"},
		{map[string]string{"SSH_CONNECTION": "garbage"}, ""},
		{map[string]string{}, ""},
	}
	for _, tc := range cases {
		if got := sshClient(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("sshClient(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

// TestObserve_sshClientFromAncestor: sudo clears SSH_CONNECTION, but the
// login shell that ran sudo has it. The test plays that with a shell whose
// environment has it running this test binary with an environment without it.
func TestObserve_sshClientFromAncestor(t *testing.T) {
	if os.Getenv("STEWARD_OBSERVE_CHILD") != "" {
		b, _ := json.Marshal(observe(os.Getenv))
		_, _ = os.Stdout.Write([]byte("observed=" + string(b) + "\n"))
		return
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// "; :" keeps the shell alive as the child's parent instead of exec'ing it.
	cmd := exec.Command("sh", "-c", `env -i STEWARD_OBSERVE_CHILD=1 SUDO_USER=deploy SUDO_UID=1000 "$0" -test.run='^TestObserve_sshClientFromAncestor$'; :`, exe)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SSH_CONNECTION=198.51.100.9 40404 10.213.7.12 22"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got Observed
	for _, line := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(line, "observed="); ok {
			if err := json.Unmarshal([]byte(j), &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d := cmp.Diff(Observed{SudoUser: "deploy", SudoUID: "1000", SSHClient: "198.51.100.9:40404"}, got); d != "" {
		t.Errorf("observed in the child (-want +got):\n%s\nchild output:\n%s", d, out)
	}
}

// TestVerify_linesWithoutObserved: logs written before lines recorded what
// the agent observed still verify, and new lines chain onto them.
func TestVerify_linesWithoutObserved(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	old := []string{
		`{"time":"2025-03-01T12:00:00Z","operator":{"ssh_user":"deploy","key_fingerprint":"SHA256:abc"},"object":"agent","action":"install","after":"sha256:aa","result":"ok","prev":"` + GenesisPrev + `"}`,
	}
	old = append(old, `{"time":"2025-03-01T12:00:01Z","operator":{"ssh_user":"deploy"},"object":"config/agent.json","action":"write","result":"ok","prev":"`+lineHash([]byte(old[0]))+`"}`)
	if err := os.WriteFile(path, []byte(strings.Join(old, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Append(path, Entry{Object: "x", Action: "update", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if n, err := Verify(path); n != 3 || err != nil {
		t.Fatalf("Verify = %d, %v; want 3, nil", n, err)
	}
}
