package logs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestController_check: log_forward.configure refuses a log file whose
// directory does not exist and TLS files that are missing or that a user
// other than root could swap, naming the attribute, and writes nothing.
func TestController_check(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the root-only check needs files owned by root")
	}
	paths := coretest.NewHost(t)
	write := func(path string, mode os.FileMode) {
		t.Helper()
		full := filepath.Join(paths.Root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("pem\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			t.Fatal(err)
		}
	}
	// The fixture root is under /tmp (sticky), its own directories 0755.
	if err := os.Chmod(paths.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	write("/etc/ssl/logs/ca.pem", 0o644)
	write("/etc/ssl/logs/open-ca.pem", 0o666)
	write("/etc/ssl/logs/client.pem", 0o644)
	write("/etc/ssl/logs/client.key", 0o600)
	if err := os.MkdirAll(filepath.Join(paths.Root, "/var/log/app"), 0o755); err != nil {
		t.Fatal(err)
	}
	base := func() api.LogForward {
		return api.LogForward{Name: "app", Files: []api.LogFile{{Path: "/var/log/app/app.log"}},
			Target: api.LogTarget{Address: "10.0.0.1:6514", Protocol: api.LogProtocolTLS, CAFile: "/etc/ssl/logs/ca.pem",
				CertFile: "/etc/ssl/logs/client.pem", KeyFile: "/etc/ssl/logs/client.key"}}
	}
	cases := []struct {
		name   string
		edit   func(*api.LogForward)
		code   string
		prefix string
	}{
		{"accepted", func(*api.LogForward) {}, "", ""},
		{"log directory missing", func(s *api.LogForward) { s.Files = append(s.Files, api.LogFile{Path: "/var/log/nowhere/x.log"}) },
			api.CodeLogDirMissing, "files[1].path /var/log/nowhere/x.log: directory /var/log/nowhere: no such file"},
		{"ca missing", func(s *api.LogForward) { s.Target.CAFile = "/etc/ssl/logs/none.pem" },
			api.CodeLogTLSFile, "target.ca_file /etc/ssl/logs/none.pem: no such file"},
		{"ca writable by others", func(s *api.LogForward) { s.Target.CAFile = "/etc/ssl/logs/open-ca.pem" },
			api.CodeLogTLSFile, "target.ca_file /etc/ssl/logs/open-ca.pem: "},
		{"key is a directory", func(s *api.LogForward) { s.Target.KeyFile = "/etc/ssl/logs" },
			api.CodeLogTLSFile, "target.key_file /etc/ssl/logs: not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := base()
			tc.edit(&spec)
			err := coretest.Call(t, methods(), core.Deps{Paths: paths}, api.LogForwardKind.Configure().Name, spec, nil)
			file := paths.ObjectFile(api.LogForwardKind.Dir, "app")
			defer func() { _ = os.Remove(file) }()
			if tc.code == "" {
				if err != nil {
					t.Fatalf("configure: %v", err)
				}
				return
			}
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code || !strings.HasPrefix(ae.Message, tc.prefix) {
				t.Fatalf("configure: %v; want code %s and a message starting %q", err, tc.code, tc.prefix)
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused spec was written: %v", err)
			}
		})
	}
}

// TestController_observeWithoutDaemon: with no daemon, log_forward.status
// still answers, saying so.
func TestController_observeWithoutDaemon(t *testing.T) {
	paths := coretest.NewHost(t)
	if err := os.MkdirAll(filepath.Join(paths.Root, "/var/log"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := api.LogForward{Name: "app", Files: []api.LogFile{{Path: "/var/log/app.log"}},
		Target: api.LogTarget{Address: "10.0.0.1:514", Protocol: api.LogProtocolTCP}}
	var st api.ObjectStatus[api.LogForward, api.LogForwardObserved]
	if err := coretest.Call(t, methods(), core.Deps{Paths: paths}, api.LogForwardKind.Configure().Name, spec, &st); err != nil {
		t.Fatalf("configure: %v", err)
	}
	if !st.Present || !strings.HasPrefix(st.Observed.LastError, "the agent daemon does not answer on ") {
		t.Fatalf("status %+v: want present, with a last error saying the daemon does not answer", st)
	}
}
