package provider

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const backupAddr = "steward_backup_schedule.b"

// treeDigest prints one line per entry of DIR (path, type, mode, size) and a
// digest of every file's bytes: equal output means an identical tree.
const treeDigest = `cd "$1" && find . -printf '%%P %%y %%m %%s %%l\n' | LC_ALL=C sort | sha256sum | cut -c1-16 && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16`

func backupConfig(f fleet, h fleetHost, recipient, extra string) string {
	return hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_backup_schedule" "b" {
  host        = steward_host.h.host_connection
  name        = "data"
  paths       = ["/srv/data"]
  destination = "/var/backups/steward"
  recipients  = [%s]
  schedule    = "@daily"
%s
}
`, hcl(recipient), extra)
}

// backupTestHost prepares the first fleet host for a backup test: the agent
// under test built, the host clean of Steward, and a fresh operator key.
func backupTestHost(t *testing.T) (fleet, fleetHost, *age.X25519Identity) {
	t.Helper()
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return f, h, id
}

// sameTree checks that the restored copy of /srv/data equals the original.
func sameTree(t *testing.T, f fleet, h fleetHost, restored string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		want, err := onHost(t, f, h, fmt.Sprintf("sh -c %q sh /srv/data", treeDigest))
		if err != nil {
			return fmt.Errorf("digest source: %v %s", err, want)
		}
		got, err := onHost(t, f, h, fmt.Sprintf("sh -c %q sh %s", treeDigest, restored))
		if err != nil || got != want {
			return fmt.Errorf("restored tree %s differs from /srv/data: %q vs %q (%v)", restored, got, want, err)
		}
		return nil
	}
}

func restoreLatest(t *testing.T, f fleet, h fleetHost, target string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		out, err := onHost(t, f, h, "rm -rf "+target+" && /usr/local/lib/steward/current backup restore --schedule data --snapshot latest --target "+target+" --identity /root/steward-test.key")
		if err != nil {
			return fmt.Errorf("restore: %v\n%s", err, out)
		}
		return nil
	}
}

func TestAccBackupSchedule_lifecycle(t *testing.T) {
	f, h, id := backupTestHost(t)
	// Data with hostile names, modes, a symlink and a hard link; the identity
	// goes to /root so the test can restore (the schedule itself only has the public key).
	setup := `set -e; rm -rf /srv/data /var/backups/steward /tmp/r1 /tmp/r2; mkdir -p "/srv/data/sub dir" /var/backups
printf 'hello\n' > /srv/data/a.txt; chmod 640 /srv/data/a.txt
printf 'quoted\n' > "/srv/data/sub dir/it's \$(touch pwned) \"q\""
printf 'nl\n' > "/srv/data/new
line"
head -c 300000 /dev/urandom > /srv/data/random.bin
ln -s a.txt /srv/data/link; ln /srv/data/a.txt /srv/data/hard
printf '%s\n' '` + id.String() + `' > /root/steward-test.key; chmod 600 /root/steward-test.key`
	if out, err := onHost(t, f, h, setup); err != nil {
		t.Fatalf("set up /srv/data: %v\n%s", err, out)
	}
	rcpt := id.Recipient().String()
	base := backupConfig(f, h, rcpt, "  run_on_create = true\n  keep_last = 10")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				// The first backup runs during the apply; it restores byte for byte.
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("last_snapshot_id"), knownvalue.StringRegexp(regexp.MustCompile(`^20\d{6}T\d{6}Z-`))),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("last_success_at"), knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`))),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("fresh"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "stat -c %a /etc/steward/backups /etc/steward/backups/data.json", "700\n600"),
					restoreLatest(t, f, h, "/tmp/r1"),
					sameTree(t, f, h, "/tmp/r1/srv/data"),
					hostCheck(t, f, h, "ls /root/pwned /home/deploy/pwned /pwned 2>/dev/null | wc -l", "0"),
				),
			},
			{
				// Changes on the host, then a run: an incremental that restores to the new tree.
				PreConfig: func() {
					if out, err := onHost(t, f, h, "printf 'changed\\n' >> /srv/data/a.txt; rm /srv/data/random.bin; printf 'new\\n' > '/srv/data/sub dir/added'; /usr/local/lib/steward/current backup run --schedule data >/dev/null"); err != nil {
						t.Fatalf("change data and run: %v\n%s", err, out)
					}
				},
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(2)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "/usr/local/lib/steward/current backup list --schedule data | awk '{print $2}'", "full\nincremental"),
					restoreLatest(t, f, h, "/tmp/r2"),
					sameTree(t, f, h, "/tmp/r2/srv/data"),
				),
			},
			{
				// Someone edits the schedule file: plan shows it, apply restores it.
				PreConfig: func() {
					if out, err := onHost(t, f, h, `sed -i 's/"@daily"/"@hourly"/' /etc/steward/backups/data.json`); err != nil {
						t.Fatalf("edit schedule: %v\n%s", err, out)
					}
				},
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(backupAddr, tfjsonpath.New("schedule"), knownvalue.StringExact("@daily")),
				}},
				Check: hostCheck(t, f, h, "grep -c '\"@daily\"' /etc/steward/backups/data.json", "1"),
			},
			{
				// The catalog as a data source.
				Config: base + `
data "steward_backups" "b" {
  host     = steward_host.h.host_connection
  schedule = steward_backup_schedule.b.name
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.steward_backups.b", tfjsonpath.New("snapshots"), knownvalue.ListPartial(map[int]knownvalue.Check{
						0: knownvalue.ObjectPartial(map[string]knownvalue.Check{"kind": knownvalue.StringExact("full"), "verified": knownvalue.StringExact("ok"), "parent": knownvalue.StringExact("")}),
						1: knownvalue.ObjectPartial(map[string]knownvalue.Check{"kind": knownvalue.StringExact("incremental"), "verified": knownvalue.StringExact("ok")}),
					})),
				},
			},
			{
				ResourceName:            backupAddr,
				ImportState:             true,
				ImportStateId:           "deploy@" + h.Address + "/data",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host", "run_on_create"},
			},
		},
		// Removing the schedule leaves its snapshots in place.
		CheckDestroy: hostCheck(t, f, h, "test -e /etc/steward/backups/data.json && echo config-left; ls /var/backups/steward/data | grep -c '\\.index'", "2"),
	})
}

func TestAccBackupSchedule_missingPath(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	id, _ := age.GenerateX25519Identity()
	cfg := strings.Replace(backupConfig(f, h, id.Recipient().String(), ""), `["/srv/data"]`, `["/srv/data", "/no/such dir"]`, 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			PreConfig:   func() { _, _ = onHost(t, f, h, "mkdir -p /srv/data") },
			Config:      cfg,
			ExpectError: regexp.MustCompile(`(?s)Backup Path Missing.*/no/such dir`),
		}},
	})
}

// TestBackupSchedule_invalidConfig: bad schedules fail at plan time, naming
// the attribute and what it accepts.
func TestBackupSchedule_invalidConfig(t *testing.T) {
	requireTerraform(t)
	id, _ := age.GenerateX25519Identity()
	good := map[string]string{"name": `"etc"`, "paths": `["/etc"]`, "destination": `"/var/backups"`,
		"recipients": `[` + hcl(id.Recipient().String()) + `]`, "schedule": `"@daily"`}
	cases := []struct{ name, attr, value, want string }{
		{"cron hour", "schedule", `"0 25 * * *"`, `(?s)schedule must be a cron expression.*hour field "25": must be 0-23`},
		{"relative path", "paths", `["etc"]`, `(?s)paths.*must be an absolute path`},
		{"dot dot", "paths", `["/srv/../etc"]`, `(?s)paths.*contains ".."`},
		{"recipient", "recipients", `["ssh-ed25519 AAAA"]`, `(?s)recipients.*must be an age X25519 public key`},
		{"name", "name", `"Etc Files"`, `(?s)name.*must be 1-63 lower-case letters`},
		{"keep within", "keep_within", `"a week"`, `(?s)keep_within must be a positive duration`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			for k, v := range good {
				if k != tc.attr {
					body += fmt.Sprintf("  %s = %s\n", k, v)
				}
			}
			body += fmt.Sprintf("  %s = %s\n", tc.attr, tc.value)
			expectPlanError(t, providerBlock("")+"resource \"steward_backup_schedule\" \"b\" {\n  host = { host = \"h\", trust_on_first_use = true }\n"+body+"}\n", tc.want)
		})
	}
}

// TestAccBackupSchedule_daemonRunsSchedule: the agent's daemon runs a due
// schedule by itself and exports its freshness on /metrics.
func TestAccBackupSchedule_daemonRunsSchedule(t *testing.T) {
	f := testFleet(t, 2)
	h := f.Hosts[1]
	testAgent(t)
	cleanHost(t, f, h)
	if out, err := onHost(t, f, h, "rm -rf /srv/data /var/backups/steward && mkdir -p /srv/data /var/backups && echo x > /srv/data/x"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	id, _ := age.GenerateX25519Identity()
	cfg := strings.Replace(backupConfig(f, h, id.Recipient().String(), ""), `"@daily"`, `"* * * * *"`, 1)
	waitForRun := func() {
		// The scheduler looks every 20 s; the first run is at the next minute.
		out, err := onHost(t, f, h, `for i in $(seq 1 75); do n=$(/usr/local/lib/steward/current backup list --schedule data 2>/dev/null | wc -l); [ "$n" -ge 1 ] && exit 0; sleep 2; done; exit 1`)
		if err != nil {
			t.Fatalf("the daemon did not run the schedule within 150 s: %v\n%s", err, out)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(0)),
			}},
			{
				PreConfig: waitForRun,
				Config:    cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Func(func(v int64) error {
						if v < 1 {
							return fmt.Errorf("want at least one snapshot, got %d", v)
						}
						return nil
					})),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("last_success_at"), knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`))),
				},
				Check: hostCheck(t, f, h, `python3 -c 'import urllib.request;print(urllib.request.urlopen("http://127.0.0.1:9276/metrics").read().decode())' | grep -c '^steward_backup_last_success_timestamp_seconds{schedule="data"} [1-9]'`, "1"),
			},
		},
	})
}

// TestAccBackupSchedule_sftpDestination backs h1 up to h2 over SFTP with h2's
// host key pinned, restores on h1 from there, and refuses a wrong host key.
func TestAccBackupSchedule_sftpDestination(t *testing.T) {
	f := testFleet(t, 3)
	src, dst := f.Hosts[0], f.Hosts[1]
	testAgent(t)
	cleanHost(t, f, src)
	id, _ := age.GenerateX25519Identity()
	key := base64.StdEncoding.EncodeToString([]byte(readFile(t, f.PrivateKeyFile)))
	setup := `set -e; rm -rf /srv/data /tmp/rs; mkdir -p "/srv/data/d 1"; echo one > /srv/data/a; echo two > "/srv/data/d 1/b"
printf '%s\n' '` + id.String() + `' > /root/steward-test.key; chmod 600 /root/steward-test.key
echo ` + key + ` | base64 -d > /root/steward-sftp-key; chmod 600 /root/steward-sftp-key`
	if out, err := onHost(t, f, src, setup); err != nil {
		t.Fatalf("set up %s: %v\n%s", src.Name, err, out)
	}
	if out, err := onHost(t, f, dst, "rm -rf /srv/backups"); err != nil {
		t.Fatalf("clean %s: %v\n%s", dst.Name, err, out)
	}
	sftpBlock := func(name, hostKey string) string {
		return fmt.Sprintf(`
resource "steward_backup_schedule" "%s" {
  host          = steward_host.h.host_connection
  name          = "%s"
  paths         = ["/srv/data"]
  recipients    = [%s]
  schedule      = "@daily"
  run_on_create = true
  sftp = {
    host             = %s
    user             = "root"
    private_key_file = "/root/steward-sftp-key"
    host_key         = %s
    path             = "/srv/backups"
  }
}
`, name, name, hcl(id.Recipient().String()), hcl(dst.Address), hcl(hostKey))
	}
	cfg := hostConfig(f, src, "") + sftpBlock("data", dst.HostKey)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("steward_backup_schedule.data", tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(1)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					// The snapshot is on the SFTP server, not on the backed-up host.
					hostCheck(t, f, dst, "ls /srv/backups/data/ | grep -c 'index.json$'", "1"),
					func(*terraform.State) error {
						out, err := onHost(t, f, src, "/usr/local/lib/steward/current backup restore --schedule data --target /tmp/rs --identity /root/steward-test.key")
						if err != nil {
							return fmt.Errorf("restore from sftp: %v\n%s", err, out)
						}
						return nil
					},
					sameTree(t, f, src, "/tmp/rs/srv/data"),
				),
			},
			{
				// Another machine's key pinned for the SFTP server: the run fails, nothing is sent.
				Config:      cfg + sftpBlock("wrongkey", f.Hosts[2].HostKey),
				ExpectError: regexp.MustCompile(`(?s)Backup Failed.*` + phrase("host key mismatch").String()),
				Check:       hostCheck(t, f, dst, "ls /srv/backups/ | grep -c wrongkey", "0"),
			},
		},
	})
}

// TestAccBackupSchedule_hostKilledMidBackup: power is cut while a backup
// runs; after the reboot no partial snapshot is listed and the next run works.
func TestAccBackupSchedule_hostKilledMidBackup(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	testAgent(t)
	cleanHost(t, f, h)
	if out, err := onHost(t, f, h, "rm -rf /srv/data /var/backups/steward && mkdir -p /srv/data /var/backups && head -c 96000000 /dev/urandom > /srv/data/blob1 && for i in $(seq 2 16); do cp /srv/data/blob1 /srv/data/blob$i; done"); err != nil {
		t.Fatalf("set up: %v\n%s", err, out)
	}
	stopped := false
	t.Cleanup(func() {
		if stopped {
			run(t, fleetScript, "start", h.Name)
		}
	})
	id, _ := age.GenerateX25519Identity()
	cfg := backupConfig(f, h, id.Recipient().String(), "")
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				PreConfig: func() {
					if out, err := onHost(t, f, h, "(setsid /usr/local/lib/steward/current backup run --schedule data >/tmp/steward-run.log 2>&1 </dev/null &); for i in $(seq 1 100); do ls -a /var/backups/steward/data/ 2>/dev/null | grep -q '^.tmp-' && break; sleep 0.1; done; ls -a /var/backups/steward/data/; cat /tmp/steward-run.log"); err != nil || !strings.Contains(out, ".tmp-") || strings.Contains(out, "index.json") {
						t.Fatalf("the backup was not under way when the power was cut: %v %q", err, out)
					}
					run(t, fleetScript, "stop", h.Name)
					stopped = true
					run(t, fleetScript, "start", h.Name)
					stopped = false
				},
				Config: cfg,
				// Nothing that looks like a snapshot survived the power cut.
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(0)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "ls /var/backups/steward/data/ | grep -c 'index.json$' || true", "0"),
					// The next run works and sweeps the leftovers.
					hostCheck(t, f, h, "/usr/local/lib/steward/current backup run --schedule data >/dev/null 2>&1; /usr/local/lib/steward/current backup list --schedule data | wc -l; ls -a /var/backups/steward/data/ | grep -c '^.tmp-' || true", "1\n0"),
				),
			},
		},
	})
}
