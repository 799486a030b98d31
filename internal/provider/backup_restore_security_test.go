package provider

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// inPlaceRace runs a root in-place restore of /home/nosudo while nosudo
// races it: once the restore has replaced ~/d/f (so it has merged into
// ~/d and is about to give ~/d the snapshot's 0777), nosudo swaps ~/d for
// a symlink to /etc/passwd. The security review got a root shell this
// way: /etc/passwd became 0777.
const inPlaceRace = `set -u
ino=$(stat -c %i /home/nosudo/d/f)
runuser -u nosudo -- sh -c 'cd /home/nosudo
  for i in $(seq 200000); do [ "$(stat -c %i d/f 2>/dev/null)" = "$1" ] || break; done
  mv d d.moved && ln -s /etc/passwd d' sh "$ino" &
racer=$!
/usr/local/lib/steward/current backup restore --schedule home --snapshot latest --target / --overwrite --identity /root/steward-test.key >/dev/null; rc=$?
wait $racer
echo "restore=$rc passwd=$(stat -c %a /etc/passwd)"`

// TestAccBackupSchedule_inPlaceRestoreRace reproduces findings 1 and 2 of
// the security review live: a user racing an in-place restore cannot
// redirect its chmod, and restoring one file of /etc or a home directory
// in place leaves /etc and /home as they were, so everyone can still log in.
func TestAccBackupSchedule_inPlaceRestoreRace(t *testing.T) {
	f, h, id := backupTestHost(t)
	// nosudo's home: a 0777 directory to race on, and enough after it in
	// walk order to keep an unsafe restore busy before it sets modes.
	setup := `set -e; rm -rf /var/backups/steward /home/nosudo/d /home/nosudo/d.moved /home/nosudo/z
runuser -u nosudo -- sh -c 'cd /home/nosudo && mkdir d z && chmod 0777 d && echo mine > d/f && for i in $(seq 3000); do echo $i > z/$i; done'
printf '%s\n' '` + id.String() + `' > /root/steward-test.key; chmod 600 /root/steward-test.key`
	if out, err := onHost(t, f, h, setup); err != nil {
		t.Fatalf("set up /home/nosudo: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// Whatever happened, leave the host usable for the next test.
		_, _ = onHost(t, f, h, "chmod 644 /etc/passwd; chmod 755 /etc /home; rm -rf /home/nosudo/d /home/nosudo/d.moved /home/nosudo/z")
	})
	config := hostConfig(f, h, "") + fmt.Sprintf(`
resource "steward_backup_schedule" "home" {
  host          = steward_host.h.host_connection
  name          = "home"
  paths         = ["/home/nosudo"]
  destination   = "/var/backups/steward"
  recipients    = [%[1]s]
  schedule      = "@daily"
  run_on_create = true
}

resource "steward_backup_schedule" "etc" {
  host          = steward_host.h.host_connection
  name          = "etc"
  paths         = ["/etc"]
  destination   = "/var/backups/steward"
  recipients    = [%[1]s]
  schedule      = "@daily"
  run_on_create = true
}
`, hcl(id.Recipient().String()))
	canLogIn := func(user string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			out, err := runSSH(t, f, h, user, "id -un")
			if err != nil || strings.TrimSpace(out) != user {
				return fmt.Errorf("%s can no longer log in to %s: %v %s", user, h.Name, err, out)
			}
			return nil
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: config,
			Check: resource.ComposeAggregateTestCheckFunc(
				hostCheck(t, f, h, inPlaceRace, "restore=0 passwd=644"),
				// The directory the restore merged through got the snapshot's mode.
				hostCheck(t, f, h, "stat -c %a /home/nosudo/d.moved; cat /home/nosudo/d.moved/f", "777\nmine"),
				hostCheck(t, f, h, "stat -c '%a %U' /home /home/nosudo", "755 root\n755 nosudo"),
				// One file of /etc in place: /etc keeps its mode (it became 0700).
				hostCheck(t, f, h, "/usr/local/lib/steward/current backup restore --schedule etc --snapshot latest --target / --include /etc/hostname --overwrite --identity /root/steward-test.key >/dev/null && stat -c '%a %U' /etc", "755 root"),
				canLogIn("nosudo"),
				canLogIn("deploy"),
			),
		}},
	})
}
