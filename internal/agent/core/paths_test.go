package core

import "testing"

func TestPathsUnder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		root string
		want Paths
	}{
		{root: "/", want: Paths{
			Root: "/", LibDir: "/usr/local/lib/steward", ConfigDir: "/etc/steward", StateDir: "/var/lib/steward",
			AuditLog: "/var/log/steward/audit.log", MachineID: "/etc/machine-id", Uptime: "/proc/uptime", Socket: "/run/steward/daemon.sock",
		}},
		{root: "/tmp/host1", want: Paths{
			Root: "/tmp/host1", LibDir: "/tmp/host1/usr/local/lib/steward", ConfigDir: "/tmp/host1/etc/steward", StateDir: "/tmp/host1/var/lib/steward",
			AuditLog: "/tmp/host1/var/log/steward/audit.log", MachineID: "/tmp/host1/etc/machine-id", Uptime: "/tmp/host1/proc/uptime", Socket: "/tmp/host1/run/steward/daemon.sock",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			t.Parallel()
			if got := PathsUnder(tt.root); got != tt.want {
				t.Errorf("PathsUnder(%q) = %+v, want %+v", tt.root, got, tt.want)
			}
		})
	}
	if got, want := DefaultPaths().Heartbeat(), "/var/lib/steward/heartbeat"; got != want {
		t.Errorf("Heartbeat() = %q, want %q", got, want)
	}
}
