package provider

import (
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

// TestAccBackupSchedule_convergence: each change by hand that a plan shows
// is repaired by one plain terraform apply (no -target), after which the
// plan is empty (the testing framework checks that after every step).
func TestAccBackupSchedule_convergence(t *testing.T) {
	f, h, id := backupTestHost(t)
	if out, err := onHost(t, f, h, "rm -rf /srv/data /var/backups/steward; mkdir -p /srv/data /var/backups && echo x > /srv/data/x"); err != nil {
		t.Fatalf("set up /srv/data: %v\n%s", err, out)
	}
	config := backupConfig(f, h, id.Recipient().String(), "  run_on_create = true\n  stale_after = \"8s\"")
	breakHost := func(cmd string) func() {
		return func() {
			if out, err := onHost(t, f, h, cmd); err != nil {
				t.Fatalf("%s: %v\n%s", cmd, err, out)
			}
		}
	}
	bothUpdate := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
		plancheck.ExpectResourceAction("steward_host.h", plancheck.ResourceActionUpdate),
		plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
	}}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: config},
			{
				// The agent binary deleted: the schedule cannot be read, so it
				// plans to be written again after the host is redeployed.
				PreConfig:        breakHost("rm -f \"$(readlink -f /usr/local/lib/steward/current)\""),
				Config:           config,
				ConfigPlanChecks: bothUpdate,
			},
			{
				// The agent binary replaced by something that is no agent.
				PreConfig:        breakHost("printf '#!/bin/sh\\necho broken\\n' > \"$(readlink -f /usr/local/lib/steward/current)\""),
				Config:           config,
				ConfigPlanChecks: bothUpdate,
			},
			{
				// stale_after passes: the plan shows fresh turning true, and the
				// apply's backup changes the catalog without an inconsistent result.
				PreConfig: func() { time.Sleep(9 * time.Second) },
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(backupAddr, tfjsonpath.New("fresh"), knownvalue.Bool(true)),
					plancheck.ExpectUnknownValue(backupAddr, tfjsonpath.New("last_snapshot_id")),
				}},
			},
			{
				// The newest snapshot deleted at the destination: the plan shows
				// it, and the apply takes a new one.
				PreConfig: breakHost("cd /var/backups/steward/data && rm -f \"$(ls *.index.json | sort | tail -n1)\""),
				Config:    config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
				}},
			},
		},
	})
}
