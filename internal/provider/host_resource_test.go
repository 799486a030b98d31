package provider

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/agentbin"
)

const hostAddr = "steward_host.h"

var fleetScript = filepath.Join("..", "..", "test", "fleet", "fleet.sh")

// onHost runs a shell command on a fleet host as root with the ssh client,
// independently of the provider under test.
func onHost(t *testing.T, f fleet, h fleetHost, cmd string) (string, error) {
	t.Helper()
	return runSSH(t, f, h, "root", cmd)
}

// runSSH runs cmd on h as user (root, deploy or nosudo) with the fleet key.
func runSSH(t *testing.T, f fleet, h fleetHost, user, cmd string) (string, error) {
	t.Helper()
	out, err := exec.Command("ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=10", "-i", f.PrivateKeyFile, user+"@"+h.Address, cmd).CombinedOutput()
	return string(out), err
}

// hostCheck returns a check that runs cmd on the host and wants its output.
func hostCheck(t *testing.T, f fleet, h fleetHost, cmd, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		out, err := onHost(t, f, h, cmd)
		if err != nil || strings.TrimSpace(out) != want {
			return fmt.Errorf("on %s, %q printed %q (%v), want %q", h.Name, cmd, strings.TrimSpace(out), err, want)
		}
		return nil
	}
}

// mustOnHost runs cmd as root on h and fails the test if it fails.
func mustOnHost(t *testing.T, f fleet, h fleetHost, cmd string) {
	t.Helper()
	if out, err := onHost(t, f, h, cmd); err != nil {
		t.Fatalf("on %s: %s: %v\n%s", h.Name, cmd, err, out)
	}
}

// hostConfig is a steward_host on h, logged in as deploy with sudo; the
// defaults trust on first use so that import finds the host.
func hostConfig(f fleet, h fleetHost, body string) string {
	return providerBlock(fmt.Sprintf("    user = \"deploy\"\n    sudo = true\n    private_key_file = %s\n    trust_on_first_use = true", hcl(f.PrivateKeyFile))) +
		fmt.Sprintf("resource \"steward_host\" \"h\" {\n  host = {\n    host = %s\n    host_key = %s\n  }\n%s\n}\n", hcl(h.Address), hcl(h.HostKey), body)
}

func testAgent(t *testing.T) agentbin.Binary {
	t.Helper()
	bin, err := agentbin.For("x86_64")
	if err != nil {
		t.Fatalf("the provider under test needs the agent builds (make build): %v", err)
	}
	return bin
}

// drift is one change made behind Terraform's back, and how to tell it was undone.
type drift struct {
	name, change, verify, want string
}

func TestAccHost_lifecycle(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	bin := testAgent(t)
	cleanHost(t, f, h)
	base := `  packages    = ["hello"]
  pre_deploy  = ["echo pre > /root/steward-pre"]
  post_deploy = ["echo post-$(hostname) > /root/steward-post"]`
	updated := `  packages           = ["hello", "tree"]
  heartbeat_interval = "5s"
  pre_deploy         = ["echo pre > /root/steward-pre"]`
	steps := []resource.TestStep{
		{
			Config: hostConfig(f, h, base),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(hostAddr, plancheck.ResourceActionCreate),
				plancheck.ExpectKnownValue(hostAddr, tfjsonpath.New("agent_version"), knownvalue.StringExact(bin.Version)),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("hostname"), knownvalue.StringExact(h.Name)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("os_id"), knownvalue.StringExact("debian")),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("agent_version"), knownvalue.StringExact(bin.Version)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("agent_sha256"), knownvalue.StringExact(bin.SHA256)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("service_active"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("service_enabled"), knownvalue.Bool(true)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("package_versions"),
					knownvalue.MapExact(map[string]knownvalue.Check{"hello": knownvalue.StringRegexp(regexp.MustCompile(`^2\.`))})),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_key"), knownvalue.StringExact(h.HostKey)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_connection").AtMapKey("host_id"), knownvalue.StringExact(h.MachineID)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_connection").AtMapKey("host_key"), knownvalue.StringExact(h.HostKey)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("deployed_at"), knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`))),
			},
			Check: resource.ComposeAggregateTestCheckFunc(
				hostCheck(t, f, h, "systemctl is-active steward-agent; systemctl is-enabled steward-agent", "active\nenabled"),
				hostCheck(t, f, h, "stat -c %a /etc/steward /etc/steward/agent.json", "700\n600"),
				hostCheck(t, f, h, "cat /root/steward-pre /root/steward-post", "pre\npost-"+h.Name),
				hostCheck(t, f, h, "hello", "Hello, world!"),
				hostCheck(t, f, h, "/usr/local/lib/steward/current audit verify | cut -d: -f1", "audit log OK"),
				hostCheck(t, f, h, "curl -s 127.0.0.1:9276/healthz 2>/dev/null || python3 -c 'import urllib.request;print(urllib.request.urlopen(\"http://127.0.0.1:9276/healthz\").status)'", "200"),
			),
		},
		{
			ResourceName:      hostAddr,
			ImportState:       true,
			ImportStateId:     "deploy@" + h.Address + ":22",
			ImportStateVerify: true,
			// Only the configuration knows these; the host does not.
			ImportStateVerifyIgnore: []string{"host", "packages", "pre_deploy", "post_deploy", "package_versions", "deployed_at", "host_connection"},
		},
		{
			// The same through an import block: terraform plan imports the host.
			// The configuration lists packages and steps the host cannot tell, so
			// the plan also proposes an update to record them.
			ResourceName:       hostAddr,
			ImportState:        true,
			ImportStateKind:    resource.ImportBlockWithID,
			ImportStateId:      "deploy@" + h.Address + ":22",
			Config:             hostConfig(f, h, base),
			ExpectNonEmptyPlan: true,
			ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
				plancheck.ExpectKnownValue(hostAddr, tfjsonpath.New("agent_sha256"), knownvalue.StringExact(bin.SHA256)),
			}},
		},
		{
			Config: hostConfig(f, h, updated),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(hostAddr, plancheck.ResourceActionUpdate),
			}},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("package_versions").AtMapKey("tree"), knownvalue.StringRegexp(regexp.MustCompile(`^2\.`))),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("heartbeat_interval"), knownvalue.StringExact("5s")),
			},
			Check: hostCheck(t, f, h, "grep -c '\"heartbeat_interval\": \"5s\"' /etc/steward/agent.json; tree --version | cut -c1-4", "1\ntree"),
		},
	}
	for _, d := range []drift{
		{"service stopped", "systemctl stop steward-agent", "systemctl is-active steward-agent", "active"},
		{"service disabled", "systemctl disable steward-agent", "systemctl is-enabled steward-agent", "enabled"},
		{"binary replaced", "t=$(readlink -f /usr/local/lib/steward/current) && cp /bin/true $t.x && mv -f $t.x $t", "sha256sum </usr/local/lib/steward/current | cut -d' ' -f1", bin.SHA256},
		{"binary deleted", "rm -f $(readlink -f /usr/local/lib/steward/current)", "sha256sum </usr/local/lib/steward/current | cut -d' ' -f1", bin.SHA256},
		{"config edited", "sed -i 's/9276/9999/' /etc/steward/agent.json", "grep -c 9276 /etc/steward/agent.json", "1"},
		{"package removed", "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hello >/dev/null 2>&1", "hello", "Hello, world!"},
	} {
		steps = append(steps, resource.TestStep{
			PreConfig: func() {
				if out, err := onHost(t, f, h, d.change); err != nil {
					t.Fatalf("drift %q: %v\n%s", d.name, err, out)
				}
			},
			Config: hostConfig(f, h, updated),
			// The change made by hand shows as an update, and the apply undoes it.
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(hostAddr, plancheck.ResourceActionUpdate),
			}},
			Check: hostCheck(t, f, h, d.verify, d.want),
		})
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    steps,
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			hostCheck(t, f, h, "ls -d /usr/local/lib/steward /etc/steward /etc/systemd/system/steward-agent.service 2>/dev/null | wc -l", "0"),
			// State and the audit log stay (purge_on_destroy = false); the log ends with the removal.
			hostCheck(t, f, h, "test -d /var/lib/steward && tail -n1 /var/log/steward/audit.log | grep -o '\"action\":\"remove\"'", `"action":"remove"`),
			// Packages stay installed: they may be in use.
			hostCheck(t, f, h, "hello", "Hello, world!"),
		),
	})
}

// cleanHost removes what an earlier (failed) run may have left on h.
func cleanHost(t *testing.T, f fleet, h fleetHost) {
	t.Helper()
	if out, err := onHost(t, f, h, "systemctl disable --now steward-agent >/dev/null 2>&1; "+
		// A firewall or a pending revert another test left behind.
		"systemctl stop 'steward-revert-*.timer' >/dev/null 2>&1; nft delete table inet steward >/dev/null 2>&1; systemctl disable steward-firewall.service >/dev/null 2>&1; "+
		"if ls /etc/ssh/sshd_config.d/*-steward-hardening.conf >/dev/null 2>&1; then rm -f /etc/ssh/sshd_config.d/*-steward-hardening.conf /etc/sudoers.d/zz-steward-hardening; systemctl reload ssh; fi; "+
		"rm -rf /usr/local/lib/steward /etc/steward /etc/systemd/system/steward-agent.service /etc/systemd/system/steward-agent.service.d "+
		"/etc/systemd/system/steward-firewall.service /var/lib/steward /var/log/steward; systemctl daemon-reload"); err != nil {
		t.Fatalf("clean %s: %v\n%s", h.Name, err, out)
	}
}

func TestAccHost_unknownPackage(t *testing.T) {
	f := testFleet(t, 2)
	h := f.Hosts[1]
	testAgent(t)
	cleanHost(t, f, h)
	if out, err := onHost(t, f, h, "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q figlet >/dev/null 2>&1; true"); err != nil {
		t.Fatalf("remove figlet: %v\n%s", err, out)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      hostConfig(f, h, `  packages = ["figlet", "no-such-package-steward"]`),
			ExpectError: regexp.MustCompile(`(?s)Unknown Package.*no-such-package-steward`),
		}},
		// Nothing half done: the known package was not installed, no service runs.
		CheckDestroy: resource.ComposeAggregateTestCheckFunc(
			hostCheck(t, f, h, "dpkg-query -W -f='${db:Status-Abbrev}' figlet 2>/dev/null | cut -c1-2", "un"),
			hostCheck(t, f, h, "systemctl is-active steward-agent", "inactive"),
		),
	})
	cleanHost(t, f, h)
}

func TestAccHost_rollbackOnFailedUpgrade(t *testing.T) {
	f := testFleet(t, 2)
	h := f.Hosts[1]
	bin := testAgent(t)
	cleanHost(t, f, h)
	broken := buildBrokenAgent(t)
	cfg := hostConfig(f, h, `  health_timeout = "8s"`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, Check: hostCheck(t, f, h, "/usr/local/lib/steward/current version | cut -d' ' -f1,2", "steward-agent "+bin.Version)},
			{
				// The provider now ships an agent whose daemon cannot start.
				PreConfig:   func() { t.Setenv(agentbin.OverrideEnv, broken) },
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Agent Upgrade Rolled Back.*broken-test.*` + phrase("the previous agent is running again and healthy").String()),
			},
			{
				// The host runs the previous agent again, healthy, and the state agrees.
				PreConfig: func() { _ = os.Unsetenv(agentbin.OverrideEnv) },
				Config:    cfg,
				PlanOnly:  true,
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "/usr/local/lib/steward/current version | cut -d' ' -f1,2; systemctl is-active steward-agent", "steward-agent "+bin.Version+"\nactive"),
					hostCheck(t, f, h, "tail -n1 /var/log/steward/audit.log | grep -o '\"action\":\"rollback\"'", `"action":"rollback"`),
				),
			},
		},
	})
}

// buildBrokenAgent builds the agent with the stewardbroken tag (its daemon
// refuses to start) into a directory laid out like agentbin's dist/.
func buildBrokenAgent(t *testing.T) string {
	t.Helper()
	return buildAgent(t, "stewardbroken", "broken-test")
}

// buildAgent builds the agent with the given build tags and version into a
// directory laid out like agentbin's dist/, for agentbin.OverrideEnv.
func buildAgent(t *testing.T, tags, version string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "steward-agent-linux-amd64")
	cmd := exec.Command("go", "build", "-tags", tags, "-trimpath",
		"-ldflags", "-s -w -X github.com/stewardhq/terraform-provider-steward/internal/agent.Version="+version,
		"-o", out, "./cmd/steward-agent")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build broken agent: %v\n%s", err, b)
	}
	run(t, "gzip", "-n", out)
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAccHost_diskFullDuringUpload(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	bin := testAgent(t)
	cleanHost(t, f, h)
	upgrade := buildAgent(t, "", "upgrade-test")
	const dir = "/usr/local/lib/steward"
	filled := false
	t.Cleanup(func() {
		if filled {
			run(t, fleetScript, "unfill", h.Name, dir)
		}
	})
	cfg := hostConfig(f, h, "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				// A new agent to upload, and no room left for it.
				PreConfig: func() {
					t.Setenv(agentbin.OverrideEnv, upgrade)
					run(t, fleetScript, "fill", h.Name, dir, "256")
					filled = true
				},
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Agent Upload Failed.*` + phrase("the agent that was running (if any) is untouched").String() + `.*No space left`),
			},
			{
				PreConfig: func() {
					_ = os.Unsetenv(agentbin.OverrideEnv)
					// The old agent kept running, and no partial upload was left behind.
					out, _ := onHost(t, f, h, "systemctl is-active steward-agent; /usr/local/lib/steward/current version | cut -d' ' -f1,2; ls -a "+dir+" | grep -c steward-upload")
					if want := "active\nsteward-agent " + bin.Version + "\n0"; strings.TrimSpace(out) != want {
						t.Errorf("after the failed upload: %q, want %q", strings.TrimSpace(out), want)
					}
					run(t, fleetScript, "unfill", h.Name, dir)
					filled = false
				},
				Config:   cfg,
				PlanOnly: true,
			},
		},
	})
}

func TestAccHost_withoutSudoRights(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	cfg := providerBlock(fmt.Sprintf("    private_key_file = %s", hcl(f.PrivateKeyFile))) +
		fmt.Sprintf("resource \"steward_host\" \"h\" {\n  host = {\n    host = %s\n    host_key = %s\n    user = \"nosudo\"\n    sudo = true\n  }\n}\n", hcl(h.Address), hcl(h.HostKey))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)Preflight Failed.*"nosudo".*passwordless` + `|(?s)Preflight Failed.*passwordless.*"nosudo"`),
		}},
	})
}

func TestAccHost_addressSwap(t *testing.T) {
	f := testFleet(t, 3)
	h2, h3 := f.Hosts[1], f.Hosts[2]
	cleanHost(t, f, h2)
	// Trust both hosts' keys at any fleet address, so only the identity check
	// can notice the swap. (A host CA would not do: a host certificate names
	// the addresses it is valid for, and catches the swap by itself.)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte("10.213.7.* "+h2.HostKey+"\n10.213.7.* "+h3.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := providerBlock(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile))) +
		fmt.Sprintf("resource \"steward_host\" \"h\" {\n  host = {\n    host = %s\n    known_hosts_file = %s\n  }\n}\n", hcl(h2.Address), hcl(kh))
	swapped := false
	swap := func() { run(t, fleetScript, "swap", h2.Name, h3.Name); swapped = !swapped }
	t.Cleanup(func() {
		if swapped {
			swap()
		}
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h2.MachineID)),
			}},
			{
				PreConfig:   swap,
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)Host Identity Mismatch.*` + h3.MachineID + `.*` + h2.MachineID),
			},
			{
				// Nothing was applied to the impostor; with the addresses back, nothing to do.
				PreConfig: swap,
				Config:    cfg,
				PlanOnly:  true,
				Check:     hostCheck(t, f, h3, "test -e /usr/local/lib/steward/current && echo installed || echo clean", "clean"),
			},
		},
	})
}

func TestAccHost_killedMidApply(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	testAgent(t)
	cleanHost(t, f, h)
	stopped := false
	t.Cleanup(func() {
		if stopped {
			run(t, fleetScript, "start", h.Name)
		}
	})
	cfg := hostConfig(f, h, `  pre_deploy = ["sleep 6"]`)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// The host loses power while the apply runs its pre_deploy step.
				PreConfig: func() {
					go func() {
						time.Sleep(3 * time.Second)
						_ = exec.Command(fleetScript, "stop", h.Name).Run()
					}()
					stopped = true
				},
				Config:      cfg,
				ExpectError: regexp.MustCompile(`(?s)(Deploy Step Failed|Unable to Connect to Host).*` + regexp.QuoteMeta(h.Address)),
			},
			{
				// Back up, a re-apply converges.
				PreConfig: func() { run(t, fleetScript, "start", h.Name); stopped = false },
				Config:    cfg,
				Check:     hostCheck(t, f, h, "systemctl is-active steward-agent", "active"),
			},
		},
	})
}

// TestHost_invalidConfig: bad steward_host settings fail at plan time, naming
// the attribute and what it accepts.
func TestHost_invalidConfig(t *testing.T) {
	requireTerraform(t)
	host := "  host = {\n    host = \"h\"\n    trust_on_first_use = true\n  }\n"
	cases := []struct{ name, body, want string }{
		{"package name with a space", `packages = ["nginx; rm -rf /"]`, `(?s)packages.*must be a package name`},
		{"package option", `packages = ["--reinstall"]`, `(?s)packages.*must be a package name`},
		{"listen address", `listen_address = "everywhere"`, `(?s)listen_address must be a loopback host:port address`},
		// The daemon's endpoints have no TLS or authentication: never on the network.
		{"listen on every interface", `listen_address = "0.0.0.0:9276"`, loopbackOnly(`"0\.0\.0\.0"\s+is\s+not\s+a\s+loopback`)},
		{"listen with an empty host", `listen_address = ":9276"`, loopbackOnly(`""\s+is\s+not\s+a\s+loopback`)},
		{"listen on every IPv6 interface", `listen_address = "[::]:9276"`, loopbackOnly(`"::"\s+is\s+not\s+a\s+loopback`)},
		{"listen on a network address", `listen_address = "10.213.7.11:9276"`, loopbackOnly(`"10\.213\.7\.11"\s+is\s+not\s+a\s+loopback`)},
		{"listen on a host name", `listen_address = "h1:9276"`, loopbackOnly(`"h1"\s+is\s+not\s+a\s+loopback`)},
		{"health timeout", `health_timeout = "-5s"`, `(?s)health_timeout must be a positive duration`},
		{"monitoring interval", `monitoring = { interval = "soon" }`, `(?s)monitoring.interval\s+must\s+be\s+a\s+positive\s+duration`},
		{"monitoring interval too short", `monitoring = { interval = "100ms" }`, `(?s)monitoring:.*interval\s+100ms:\s+want\s+whole\s+seconds\s+between\s+1s\s+and\s+1h`},
		{"monitoring interval not dividing an hour", `monitoring = { interval = "7s" }`, `(?s)monitoring:.*interval\s+7s:\s+want\s+whole\s+seconds.*divide\s+an\s+hour`},
		{"raw history too short for roll-ups", `monitoring = { history_raw = "30m" }`, `(?s)monitoring:.*history_raw\s+30m0s:\s+want\s+at\s+least\s+2h`},
		{"minute roll-ups shorter than raw", `monitoring = {
    history_raw    = "48h"
    history_minute = "24h"
  }`, `(?s)monitoring:.*history_minute\s+24h0m0s:\s+want\s+at\s+least\s+history_raw\s+\(48h0m0s\)\s+plus\s+1h`},
		{"monitoring unit", `monitoring = { units = ["nginx"] }`, `(?s)monitoring.units.*must\s+be\s+a\s+systemd\s+unit\s+name\s+with\s+its\s+type`},
		{"monitoring unit with a shell", `monitoring = { units = ["$(reboot).service"] }`, `(?s)monitoring.units.*must\s+be\s+a\s+systemd\s+unit\s+name\s+with\s+its\s+type`},
		{"web config relative", `monitoring = { web_config_file = "web.yml" }`, `(?s)monitoring.web_config_file\s+must\s+be\s+a\s+clean\s+absolute\s+path`},
		{"max series", `monitoring = { max_series = 0 }`, `(?s)monitoring.max_series.*between 1 and 100000`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectPlanError(t, providerBlock("")+"resource \"steward_host\" \"h\" {\n"+host+"  "+tc.body+"\n}\n", tc.want)
		})
	}
}

// TestHost_networkListenWithWebConfig: beyond loopback, a listen address is
// accepted once the web configuration (TLS, basic auth) is named.
func TestHost_networkListenWithWebConfig(t *testing.T) {
	requireTerraform(t)
	cfg := providerBlock("") + `resource "steward_host" "h" {
  host = {
    host               = "h"
    trust_on_first_use = true
  }
  listen_address = "10.213.7.11:9276"
  monitoring = {
    web_config_file = "/etc/steward/web.yml"
    units           = ["ssh.service"]
  }
}
`
	expectValid(t, cfg)
}

// loopbackOnly is the plan error for a non-loopback listen_address: it names
// the attribute, the address, what is accepted and why.
func loopbackOnly(address string) string {
	return `(?s)listen_address\s+must\s+be\s+a\s+loopback.*` + address + `.*127\.0\.0\.0/8,\s+::1\s+or\s+localhost.*without\s+TLS\s+or\s+authentication`
}

// TestAccHost_connectionTrustOnFirstUse: the key seen at creation is pinned in
// state and exported in host_connection, which other objects take as is.
func TestAccHost_connectionTrustOnFirstUse(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	testAgent(t)
	cleanHost(t, f, h)
	cfg := providerBlock(fmt.Sprintf("    user = \"deploy\"\n    sudo = true\n    private_key_file = %s", hcl(f.PrivateKeyFile))) +
		fmt.Sprintf("resource \"steward_host\" \"h\" {\n  host = {\n    host = %s\n    trust_on_first_use = true\n  }\n}\n", hcl(h.Address)) +
		"data \"steward_host_facts\" \"h\" {\n  host = steward_host.h.host_connection\n}\n"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: cfg,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_key"), knownvalue.StringExact(h.HostKey)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_connection").AtMapKey("host_key"), knownvalue.StringExact(h.HostKey)),
				statecheck.ExpectKnownValue(hostAddr, tfjsonpath.New("host_connection").AtMapKey("trust_on_first_use"), knownvalue.Null()),
				statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
				statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("host_key"), knownvalue.StringExact(h.HostKey)),
			},
		}},
	})
}

// TestAccHost_purgeOnDestroy: with purge_on_destroy, destroy also removes the
// agent's state and audit log.
func TestAccHost_purgeOnDestroy(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	testAgent(t)
	cleanHost(t, f, h)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: hostConfig(f, h, "  purge_on_destroy = true"),
			Check: resource.ComposeAggregateTestCheckFunc(
				hostCheck(t, f, h, "test -s /var/log/steward/audit.log && test -d /var/lib/steward && echo present", "present"),
				// Beside the operator the provider claims, the audit log records who the
				// agent saw: the sudo user, and the SSH client (this machine, on the bridge).
				hostCheck(t, f, h, `tail -n 1 /var/log/steward/audit.log | python3 -c 'import json, sys; o = json.load(sys.stdin)["observed"]; print(o["sudo_user"], o["sudo_uid"], o["ssh_client"].rsplit(":", 1)[0])'`,
					"deploy 1000 "+f.BridgeAddress),
			),
		}},
		CheckDestroy: hostCheck(t, f, h, "ls -d /var/lib/steward /var/log/steward /usr/local/lib/steward /etc/steward 2>/dev/null | wc -l", "0"),
	})
}

// TestMonitoringAttrTypes: the monitoring block's object type is the one its schema declares.
func TestMonitoringAttrTypes(t *testing.T) {
	t.Parallel()
	want := monitoringAttribute().GetType().(basetypes.ObjectType).AttrTypes //nolint:forcetypeassert // a nested attribute is an object
	if got := monitoringAttrTypes(); !maps.EqualFunc(got, want, func(a, b attr.Type) bool { return a.Equal(b) }) {
		t.Errorf("monitoringAttrTypes() = %v, want the schema's %v", got, want)
	}
}
