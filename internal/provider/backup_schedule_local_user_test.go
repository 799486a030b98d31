package provider

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// Acceptance tests of what a local unprivileged user (the fleet's nosudo)
// can do to the root agent's backups (issue 11).

// asNosudo runs a shell command on a fleet host as nosudo, the user
// without sudo, who logs in with the fleet's key.
func asNosudo(t *testing.T, f fleet, h fleetHost, cmd string) (string, error) {
	t.Helper()
	out, err := exec.Command("ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "ConnectTimeout=10", "-i", f.PrivateKeyFile, "nosudo@"+h.Address, cmd).CombinedOutput()
	return string(out), err
}

// walkRaceFlipper, run by nosudo as `python3 FILE DIR SECRET SECRETDIR`,
// flips DIR/f00..f19 between a regular file of its own and a symlink to the
// root-only SECRET, and DIR/sub between a directory of its own and a
// symlink to the root-only SECRETDIR, each by rename so that the names
// mostly exist, until DIR.stop appears. After each round it writes how
// many flips it made to DIR.count.
const walkRaceFlipper = `
import os, sys, time
d, secret, secretdir = sys.argv[1:4]
files = [os.path.join(d, 'f%02d' % i) for i in range(20)]
sub, away = os.path.join(d, 'sub'), os.path.join(d, 'sub.away')
n, end = 0, time.time() + 300
while not os.path.exists(d + '.stop') and time.time() < end:
    for p in files:
        try:
            os.symlink(secret, p + '.l'); os.rename(p + '.l', p)
            with open(p + '.r', 'w') as f:
                f.write('mine %d\n' % n)
            os.rename(p + '.r', p)
            n += 1
        except OSError:
            pass
    try:
        os.rename(sub, away); os.symlink(secretdir, sub)
        os.rename(sub, sub + '.l'); os.rename(away, sub); os.remove(sub + '.l')
    except OSError:
        pass
    with open(d + '.count.tmp', 'w') as f:
        f.write(str(n))
    os.replace(d + '.count.tmp', d + '.count')
`

// TestAccBackupSchedule_localUserRacesWalk: nosudo flips entries of its own
// tree between regular files and symlinks to root-only files (and a
// directory and a symlink to a root-only directory) while root backs the
// tree up again and again. No snapshot may hold the secret's bytes:
// restored, it would hand them to nosudo.
func TestAccBackupSchedule_localUserRacesWalk(t *testing.T) {
	f, h, id := backupTestHost(t)
	marker := "steward-walk-secret-" + rand.Text()
	const tree = "/home/nosudo/walkrace"
	setup := `set -e; rm -rf /var/backups/steward /tmp/walkrace /root/walkrace-secret /root/walkrace-secretdir ` + tree + `*
printf '%s\n' '` + marker + `' > /root/walkrace-secret; chmod 600 /root/walkrace-secret
mkdir -m 700 /root/walkrace-secretdir; cp /root/walkrace-secret /root/walkrace-secretdir/inner
printf '%s\n' '` + id.String() + `' > /root/steward-test.key; chmod 600 /root/steward-test.key`
	if out, err := onHost(t, f, h, setup); err != nil {
		t.Fatalf("set up the secret: %v\n%s", err, out)
	}
	// 200 files of 32 KiB sort before the flipped ones, so that each run
	// reads the directory well before it reaches them.
	userSetup := `set -e; mkdir ` + tree + ` ` + tree + `/sub; echo own > ` + tree + `/sub/own
for i in $(seq -w 0 199); do head -c 32768 /dev/urandom > ` + tree + `/a$i; done
for i in $(seq -w 0 19); do echo mine > ` + tree + `/f$i; done`
	if out, err := asNosudo(t, f, h, userSetup); err != nil {
		t.Fatalf("set up nosudo's tree: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_, _ = onHost(t, f, h, "touch "+tree+".stop; sleep 1; rm -rf /tmp/walkrace /tmp/walkrace.log /root/walkrace-secret /root/walkrace-secretdir "+tree+" "+tree+".*")
	})
	// Every run full: each one reads every file the flipper flips.
	cfg := strings.Replace(backupConfig(f, h, id.Recipient().String(), "  full_every = 1"), `["/srv/data"]`, `["`+tree+`"]`, 1)

	flips := func() (int, error) {
		out, err := asNosudo(t, f, h, "cat "+tree+".count")
		n, cerr := strconv.Atoi(strings.TrimSpace(out))
		if err != nil || cerr != nil {
			return 0, fmt.Errorf("read the flipper's count: %q %v %v", out, err, cerr)
		}
		return n, nil
	}
	race := func(*terraform.State) error {
		start := fmt.Sprintf("cat > %[1]s.py <<'EOF'\n%[2]sEOF\ncd /tmp; setsid -f python3 %[1]s.py %[1]s /root/walkrace-secret /root/walkrace-secretdir </dev/null >/dev/null 2>&1\n"+
			"for i in $(seq 1 50); do [ -s %[1]s.count ] && exit 0; sleep 0.1; done; exit 1", tree, walkRaceFlipper)
		if out, err := asNosudo(t, f, h, start); err != nil {
			return fmt.Errorf("start the flipper as nosudo: %v\n%s", err, out)
		}
		before, err := flips()
		if err != nil {
			return err
		}
		// Root backs the tree up while it flips.
		out, err := onHost(t, f, h, `for i in $(seq 1 16); do /usr/local/lib/steward/current backup run --schedule data >/dev/null || exit 1; done`)
		if err != nil {
			return fmt.Errorf("backup runs during the race: %v\n%s", err, out)
		}
		after, err := flips()
		if err != nil {
			return err
		}
		if after-before < 100 {
			return fmt.Errorf("the flipper made only %d flips during the backups", after-before)
		}
		if out, err := asNosudo(t, f, h, "touch "+tree+".stop"); err != nil {
			return fmt.Errorf("stop the flipper: %v\n%s", err, out)
		}
		// Every snapshot, restored: no file holds the secret.
		out, err = onHost(t, f, h, `set -e; mkdir -p /tmp/walkrace; ids=$(/usr/local/lib/steward/current backup list --schedule data | awk '{print $1}')
for id in $ids; do /usr/local/lib/steward/current backup restore --schedule data --snapshot "$id" --target /tmp/walkrace/$id \
  --identity /root/steward-test.key >/dev/null 2>/tmp/walkrace.log || { cat /tmp/walkrace.log; exit 1; }; done
echo "$ids" | wc -l; grep -rlF '`+marker+`' /tmp/walkrace || true`)
		if err != nil {
			return fmt.Errorf("restore the snapshots: %v\n%s", err, out)
		}
		if lines := strings.Fields(out); len(lines) != 1 || lines[0] != "16" {
			return fmt.Errorf("want 16 snapshots restored and no file holding the secret, got:\n%s", out)
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    []resource.TestStep{{Config: cfg, Check: race}},
	})
}

// TestAccBackupSchedule_userOwnedDestination: a destination in nosudo's
// home is refused unless destination_shared is set, with an error naming
// the first directory nosudo could change, its owner and the setting.
// Shared, it works, and the attack shown live no longer does: nosudo
// plants <schedule>/.lock -> /etc/nologin, and after root's run
// /etc/nologin does not exist and nosudo still logs in.
func TestAccBackupSchedule_userOwnedDestination(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	const dest = "/home/nosudo/steward-dest"
	t.Cleanup(func() {
		// A failing run must not leave the host refusing logins to the next test.
		_, _ = onHost(t, f, h, "rm -f /etc/nologin; rm -rf "+dest)
	})
	if out, err := onHost(t, f, h, "rm -f /etc/nologin; rm -rf /srv/data "+dest+" && mkdir -p /srv/data && echo x > /srv/data/x"); err != nil {
		t.Fatalf("set up: %v\n%s", err, out)
	}
	if out, err := asNosudo(t, f, h, "mkdir "+dest); err != nil {
		t.Fatalf("create the destination as nosudo: %v\n%s", err, out)
	}
	id, _ := age.GenerateX25519Identity()
	base := strings.Replace(backupConfig(f, h, id.Recipient().String(), ""), `"/var/backups/steward"`, hcl(dest), 1)
	shared := strings.Replace(base, "schedule    = \"@daily\"\n", "schedule    = \"@daily\"\n  destination_shared = true\n", 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: base,
				ExpectError: regexp.MustCompile(`(?s)Unsafe Backup Destination.*` +
					phrase("/home/nosudo is owned by another user (owner uid 1001 (nosudo)").String() + `.*` + phrase("destination_shared = true").String()),
			},
			{
				Config: shared,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("destination_shared"), knownvalue.Bool(true)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					func(*terraform.State) error {
						if out, err := asNosudo(t, f, h, "mkdir -p "+dest+"/data && ln -s /etc/nologin "+dest+"/data/.lock"); err != nil {
							return fmt.Errorf("plant the lock symlink as nosudo: %v\n%s", err, out)
						}
						out, err := onHost(t, f, h, "/usr/local/lib/steward/current backup run --schedule data 2>&1")
						if err == nil || !strings.Contains(out, dest+"/data/.lock is a symbolic link, which the destination never follows") {
							return fmt.Errorf("the run with a planted lock symlink: %v, want it refused naming the symlink:\n%s", err, out)
						}
						return nil
					},
					hostCheck(t, f, h, "test -e /etc/nologin && echo nologin-created || echo absent", "absent"),
					func(*terraform.State) error {
						if out, err := asNosudo(t, f, h, "echo logged-in"); err != nil || strings.TrimSpace(out) != "logged-in" {
							return fmt.Errorf("nosudo cannot log in after the run: %v\n%s", err, out)
						}
						return nil
					},
					// Without the plant, the shared destination takes snapshots.
					func(*terraform.State) error {
						if out, err := asNosudo(t, f, h, "rm "+dest+"/data/.lock"); err != nil {
							return fmt.Errorf("remove the plant: %v\n%s", err, out)
						}
						return nil
					},
					hostCheck(t, f, h, "/usr/local/lib/steward/current backup run --schedule data >/dev/null && ls "+dest+"/data | grep -c 'index.json$'", "1"),
				),
			},
		},
	})
}
