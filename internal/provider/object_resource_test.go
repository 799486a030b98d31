package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"

	"filippo.io/age"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/stewardhq/terraform-provider-steward/internal/agent"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// hostTwin is an in-process twin of a host, as restic keeps an in-memory
// backend: the real agent's rpc dispatch (agent.Serve) on a file system
// under a temporary directory, behind the provider's hostConn. Unit tests
// run the managed-object lifecycle against it in seconds, without a fleet.
type hostTwin struct {
	deps   core.Deps
	hostID string
}

func newHostTwin(t *testing.T) *hostTwin {
	t.Helper()
	p := core.PathsUnder(t.TempDir())
	id := "0123456789abcdef0123456789abcdef"
	if err := os.MkdirAll(filepath.Dir(p.MachineID), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.MachineID, []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &hostTwin{deps: core.Deps{Paths: p}, hostID: id}
}

// file is a path on the twin's file system.
func (h *hostTwin) file(p string) string { return filepath.Join(h.deps.Paths.Root, p) }

func (h *hostTwin) AgentRPC(ctx context.Context, _, method string, op api.Operator, params, result any) error {
	req, err := api.NewRequest(method, op, params)
	if err != nil {
		return err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := agent.Serve(ctx, bytes.NewReader(in), &out, h.deps); err != nil {
		return err
	}
	var resp api.Response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return err
	}
	return resp.Decode(result)
}

func (h *hostTwin) Address() string { return "twin" }

func (h *hostTwin) Operator(localUser string) api.Operator {
	return api.Operator{LocalUser: localUser, SSHUser: "twin"}
}

func (h *hostTwin) Facts(context.Context) (client.Facts, error) {
	id, err := os.ReadFile(h.deps.Paths.MachineID)
	return client.Facts{HostID: strings.TrimSpace(string(id))}, err
}

func twinFactories(twin hostConn) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"steward": providerserver.NewProtocol6WithError(&stewardProvider{version: "test", twin: twin}),
	}
}

// TestObjectResource_lifecycleOnTwin runs steward_backup_schedule's whole
// lifecycle through the generic object resource against the twin: create,
// a spec file edited, broken and deleted by hand (each a plan, then one
// apply that converges), an update, import, and a host that answers as
// another machine.
func TestObjectResource_lifecycleOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	// The agent checks configured paths under its root but its engine reads
	// them from "/": the source exists in both places.
	src := t.TempDir()
	if err := os.MkdirAll(twin.file(src), 0o755); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	spec := twin.file("/etc/steward/backups/data.json")
	id1, _ := age.GenerateX25519Identity()
	id2, _ := age.GenerateX25519Identity()
	config := func(id *age.X25519Identity) string {
		return fmt.Sprintf(`
resource "steward_backup_schedule" "b" {
  host        = { host = "192.0.2.1", trust_on_first_use = true }
  name        = "data"
  paths       = [%s]
  destination = %s
  recipients  = [%s]
  schedule    = "@daily"
}
`, hcl(src), hcl(dest), hcl(id.Recipient().String()))
	}
	onTwin := func(f func() error) func() {
		return func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
	}
	update := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate)}}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: config(id1),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(twin.hostID)),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/data")),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("config_sha256"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("next_snapshot_kind"), knownvalue.StringExact("full")),
				},
			},
			{
				// Edited by hand: the host's value shows in the plan.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(spec)
					if err == nil {
						err = os.WriteFile(spec, bytes.Replace(b, []byte(`"@daily"`), []byte(`"@hourly"`), 1), 0o600)
					}
					return err
				}),
				Config: config(id1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(backupAddr, tfjsonpath.New("schedule"), knownvalue.StringExact("@daily")),
				}},
			},
			{
				// A file that no longer parses is written again.
				PreConfig:        onTwin(func() error { return os.WriteFile(spec, []byte("{not json"), 0o600) }),
				Config:           config(id1),
				ConfigPlanChecks: update,
			},
			{
				// Deleted on the host: planned as a create.
				PreConfig: onTwin(func() error { return os.Remove(spec) }),
				Config:    config(id1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(backupAddr, plancheck.ResourceActionCreate),
				}},
			},
			{
				// An update of the spec.
				Config:           config(id2),
				ConfigPlanChecks: update,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(backupAddr, tfjsonpath.New("recipients"), knownvalue.ListExact([]knownvalue.Check{knownvalue.StringExact(id2.Recipient().String())})),
				},
			},
			{
				ResourceName:            backupAddr,
				ImportState:             true,
				ImportStateId:           "deploy@192.0.2.1/data",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host", "run_on_create"},
			},
			{
				// The address now answers as another machine.
				PreConfig: onTwin(func() error {
					return os.WriteFile(twin.deps.Paths.MachineID, []byte("fedcba9876543210fedcba9876543210\n"), 0o644)
				}),
				Config:      config(id2),
				ExpectError: regexp.MustCompile(`Host Identity Mismatch`),
			},
			{
				// The right machine again: nothing to do.
				PreConfig: onTwin(func() error {
					return os.WriteFile(twin.deps.Paths.MachineID, []byte(twin.hostID+"\n"), 0o644)
				}),
				Config:   config(id2),
				PlanOnly: true,
			},
		},
	})
	audit, err := os.ReadFile(twin.deps.Paths.AuditLog)
	if err != nil || strings.Count(string(audit), `"action":"configure"`) < 4 {
		t.Errorf("audit log has %d configure entries (%v), want one per change", strings.Count(string(audit), `"action":"configure"`), err)
	}
}

// TestBackupsDataSource_onTwin reads a catalog through the shared
// agent-reading data source shape, and refuses a host that answers as
// another machine than the connection's host_id.
func TestBackupsDataSource_onTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	src, dest := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(twin.file(src), 0o755); err != nil {
		t.Fatal(err)
	}
	id, _ := age.GenerateX25519Identity()
	config := func(hostID string) string {
		return fmt.Sprintf(`
resource "steward_backup_schedule" "b" {
  host        = { host = "192.0.2.1", trust_on_first_use = true }
  name        = "data"
  paths       = [%s]
  destination = %s
  recipients  = [%s]
  schedule    = "@daily"
}

data "steward_backups" "b" {
  host     = { host = "192.0.2.1", trust_on_first_use = true, host_id = %s }
  schedule = steward_backup_schedule.b.name
}
`, hcl(src), hcl(dest), hcl(id.Recipient().String()), hcl(hostID))
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: config(twin.hostID),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.steward_backups.b", tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/data")),
					statecheck.ExpectKnownValue("data.steward_backups.b", tfjsonpath.New("snapshots"), knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
			{
				Config:      config("fedcba9876543210fedcba9876543210"),
				ExpectError: regexp.MustCompile(`Host Identity Mismatch`),
			},
		},
	})
}
