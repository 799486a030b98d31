package provider

import (
	"fmt"
	"testing"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// TestAccBackupSchedule_keyRotation: rotating recipients starts a new full
// chain, so the new key alone restores the latest snapshot; the plan says
// so, run_on_change takes that snapshot during the apply, and the catalog
// shows which key each snapshot needs. A chain continued on a second host
// (state and destination copied) with other recipients starts full too.
func TestAccBackupSchedule_keyRotation(t *testing.T) {
	f := testFleet(t, 2)
	h, h2 := f.Hosts[0], f.Hosts[1]
	testAgent(t)
	cleanHost(t, f, h)
	cleanHost(t, f, h2)
	var ids [4]*age.X25519Identity
	for i := range ids {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	setup := `set -e; rm -rf /srv/data /var/backups/steward /tmp/rot; mkdir -p /srv/data/sub /var/backups
printf 'one\n' > /srv/data/a.txt; head -c 200000 /dev/urandom > /srv/data/sub/random.bin
printf '%s\n' '` + ids[1].String() + `' > /root/steward-test.key; chmod 600 /root/steward-test.key`
	if out, err := onHost(t, f, h, setup); err != nil {
		t.Fatalf("set up /srv/data: %v\n%s", err, out)
	}
	config := func(id *age.X25519Identity, extra string) string {
		return backupConfig(f, h, id.Recipient().String(), "  run_on_create = true\n"+extra)
	}
	fingerprints := func(id *age.X25519Identity) knownvalue.Check {
		return knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(api.RecipientFingerprint(id.Recipient().String()))})
	}
	kinds := "/usr/local/lib/steward/current backup list --schedule data | awk '{print $2}'"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: config(ids[0], ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("next_snapshot_kind"), knownvalue.StringExact("incremental")),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("recipient_fingerprints"), fingerprints(ids[0])),
				},
			},
			{
				// Rotate to a new key during the apply: the second snapshot
				// is full, and the new key alone restores it byte for byte.
				PreConfig: func() {
					if out, err := onHost(t, f, h, "printf 'two\\n' >> /srv/data/a.txt"); err != nil {
						t.Fatalf("change data: %v\n%s", err, out)
					}
				},
				Config: config(ids[1], "  run_on_change = true"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(backupAddr, tfjsonpath.New("recipient_fingerprints"), fingerprints(ids[1])),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("next_snapshot_kind"), knownvalue.StringExact("incremental")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, kinds, "full\nfull"),
					restoreLatest(t, f, h, "/tmp/rot"),
					sameTree(t, f, h, "/tmp/rot/srv/data"),
				),
			},
			{
				// The catalog names each snapshot's key.
				Config: config(ids[1], "  run_on_change = true") + `
data "steward_backups" "b" {
  host     = steward_host.h.host_connection
  schedule = steward_backup_schedule.b.name
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.steward_backups.b", tfjsonpath.New("snapshots"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"kind": knownvalue.StringExact("full"), "recipient_fingerprints": fingerprints(ids[0])}),
						knownvalue.ObjectPartial(map[string]knownvalue.Check{"kind": knownvalue.StringExact("full"), "recipient_fingerprints": fingerprints(ids[1])}),
					})),
				},
			},
			{
				// Without run_on_change the plan says the next run is full.
				Config: config(ids[2], ""),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectKnownValue(backupAddr, tfjsonpath.New("next_snapshot_kind"), knownvalue.StringExact("full")),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("snapshot_count"), knownvalue.Int64Exact(2)),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "/usr/local/lib/steward/current backup run --schedule data >/dev/null && "+kinds, "full\nfull\nfull"),
					// The retired key cannot read it, and the error says what can.
					hostCheck(t, f, h, "/usr/local/lib/steward/current backup restore --schedule data --snapshot latest --target /tmp/rot2 --identity /root/steward-test.key 2>&1 | grep -c 'needs one of "+ids[2].Recipient().String()+"'", "1"),
				),
			},
		},
	})

	// The second host continues the chain from copies of h1's destination
	// and backup state: with the chain's key it would take an incremental,
	// with other recipients its first snapshot is full.
	ssh := "ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i " + f.PrivateKeyFile
	run(t, "sh", "-c", fmt.Sprintf("%[1]s root@%[2]s 'tar -C / -cf - srv/data var/backups/steward var/lib/steward/backups' | %[1]s root@%[3]s 'rm -rf /srv/data /var/backups/steward; tar -C / -xf -'",
		ssh, h.Address, h2.Address))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: backupConfig(f, h2, ids[2].Recipient().String(), ""),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("next_snapshot_kind"), knownvalue.StringExact("incremental")),
				},
			},
			{
				Config: backupConfig(f, h2, ids[3].Recipient().String(), "  run_on_change = true"),
				Check:  hostCheck(t, f, h2, kinds, "full\nfull\nfull\nfull"),
			},
		},
	})
}
