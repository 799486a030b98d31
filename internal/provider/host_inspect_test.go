package provider

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stewardhq/terraform-provider-steward/internal/agentbin"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestParseHostState_longLine: a line the parser cannot hold fails the
// inspection instead of silently dropping every line after it.
func TestParseHostState_longLine(t *testing.T) {
	t.Parallel()
	tail := "service_active=active\nservice_enabled=enabled\nunit=present\npackage=curl=7.88.1\n"
	head := "machine_id=0123456789abcdef0123456789abcdef\nhostname=h1\n"
	cases := []struct {
		name    string
		out     string
		wantErr string
	}{
		{name: "long line within the bound", out: head + "health=" + strings.Repeat("x", maxInspectLine-len("health=")-1) + "\n" + tail},
		{name: "line over the bound", out: head + "health=" + strings.Repeat("x", 2*maxInspectLine) + "\n" + tail,
			wantErr: "a line is longer than 1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseHostState([]byte(tc.out), []string{"curl"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got %v (state %+v)", tc.wantErr, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Every line after the long one was read.
			want := struct {
				Active, Enabled, Unit bool
				Packages              map[string]string
			}{true, true, true, map[string]string{"curl": "7.88.1"}}
			gotFields := struct {
				Active, Enabled, Unit bool
				Packages              map[string]string
			}{got.ServiceActive, got.ServiceEnabled, got.UnitPresent, got.Packages}
			if d := cmp.Diff(want, gotFields); d != "" {
				t.Errorf("lines after the long one (-want +got):\n%s", d)
			}
		})
	}
}

// TestParseHostState_installation: what the inspection prints about the
// paths, the unit file and the unit as systemd runs it is compared with what
// a deployment leaves, and every difference made by hand is reported.
func TestParseHostState_installation(t *testing.T) {
	t.Parallel()
	bin := agentbin.Binary{Version: "1.2.3", SHA256: strings.Repeat("ab", 32)}
	want := wantedInstallation(bin)
	staged := stagedPath(bin)
	stat := func(raw, path string) string { return "stat=" + raw + " " + path }
	link := func(path, target string) string { return "stat=a000 0 0 " + path + "\ntarget=" + target }
	// As inspectScript prints it on a host just deployed, by what it describes.
	deployed := map[string]string{
		"unit_sha256":      "unit_sha256=" + want.UnitSHA256,
		"LoadState":        "unit_state=LoadState=loaded",
		"FragmentPath":     "unit_state=FragmentPath=" + agentUnitFile,
		"NeedDaemonReload": "unit_state=NeedDaemonReload=no",
		agentLibDir:        stat("41ed 0 0", agentLibDir),
		"/etc/steward":     stat("41c0 0 0", "/etc/steward"),
		agentConfigFile:    stat("8180 0 0", agentConfigFile),
		agentUnitFile:      stat("81a4 0 0", agentUnitFile),
		"/var/lib/steward": stat("41c0 0 0", "/var/lib/steward"),
		"/var/log/steward": stat("41c0 0 0", "/var/log/steward"),
		api.AuditLog:       stat("8180 0 0", api.AuditLog),
		agentCurrent:       link(agentCurrent, staged),
		staged:             stat("81ed 0 0", staged),
	}
	render := func(lines map[string]string) []byte {
		out := "machine_id=0123456789abcdef0123456789abcdef\n"
		for _, k := range slices.Sorted(maps.Keys(lines)) {
			out += lines[k] + "\n"
		}
		return []byte(out)
	}
	with := func(kv ...string) []byte {
		m := maps.Clone(deployed)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return render(m)
	}
	const dropIn = "/etc/systemd/system/steward-agent.service.d/my override.conf"
	cases := []struct {
		name  string
		out   []byte
		diffs []string // one substring per expected difference
	}{
		{"as deployed", render(deployed), nil},
		{"config directory opened", with("/etc/steward", stat("41ed 0 0", "/etc/steward")),
			[]string{`path /etc/steward is "directory 0755 0:0", want "directory 0700 0:0"`}},
		{"state directory setgid", with("/var/lib/steward", stat("45c0 0 0", "/var/lib/steward")), []string{`"directory 2700 0:0"`}},
		{"agent.json given away", with(agentConfigFile, stat("8180 1000 1000", agentConfigFile)), []string{`"file 0600 1000:1000"`}},
		{"agent.json a link", with(agentConfigFile, link(agentConfigFile, "/tmp/x")), []string{`"symlink to /tmp/x"`}},
		{"binary deleted", with(staged, stat("0 0 0", staged)), []string{`path ` + staged + ` is "missing"`}},
		{"current elsewhere", with(agentCurrent, link(agentCurrent, "/tmp/steward-agent")), []string{`"symlink to /tmp/steward-agent"`}},
		{"unit edited, not reloaded", with("unit_sha256", "unit_sha256="+strings.Repeat("0", 64), "NeedDaemonReload", "unit_state=NeedDaemonReload=yes"),
			[]string{"has SHA-256", `NeedDaemonReload is "yes"`}},
		{"unit masked", with(agentUnitFile, link(agentUnitFile, "/dev/null"), "LoadState", "unit_state=LoadState=masked", "unit_sha256", ""),
			[]string{`"symlink to /dev/null"`, `has SHA-256 ""`, `LoadState is "masked"`}},
		{"unit loaded from elsewhere", with("FragmentPath", "unit_state=FragmentPath=/run/systemd/system.control/steward-agent.service"),
			[]string{`FragmentPath is "/run/systemd/system.control/steward-agent.service"`}},
		{"drop-in", with(dropIn, stat("81a4 0 0", dropIn)), []string{"path " + dropIn + " is there (file 0644 0:0) and should not be"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseHostState(tc.out, nil)
			if err != nil {
				t.Fatal(err)
			}
			diffs := want.differences(got.installation)
			if len(diffs) != len(tc.diffs) {
				t.Fatalf("differences:\n%s\nwant one for each of %q", strings.Join(diffs, "\n"), tc.diffs)
			}
			for _, w := range tc.diffs {
				if !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, w) }) {
					t.Errorf("no difference mentions %q:\n%s", w, strings.Join(diffs, "\n"))
				}
			}
		})
	}
}
