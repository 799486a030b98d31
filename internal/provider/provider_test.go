package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// testAccProtoV6ProviderFactories runs the provider in the test process, so
// the real terraform binary talks to the code under test.
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"steward": providerserver.NewProtocol6WithError(New("test")()),
}

// fleet is the description test/fleet/fleet.sh writes for the hosts it booted.
type fleet struct {
	BridgeAddress   string      `json:"bridge_address"`
	PrivateKeyFile  string      `json:"private_key_file"`
	UserCAKeyFile   string      `json:"user_ca_key_file"`
	HostCAPublicKey string      `json:"host_ca_public_key"`
	Hosts           []fleetHost `json:"hosts"`
}

type fleetHost struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Port      int    `json:"port"`
	MachineID string `json:"machine_id"`
	HostKey   string `json:"host_key"`
}

// testFleet loads the fleet description and fails the test when fewer than n
// hosts are up. Acceptance tests need `test/fleet/fleet.sh up` (make test does it).
func testFleet(t *testing.T, n int) fleet {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1 and boot the fleet (make testacc)")
	}
	file := os.Getenv("STEWARD_FLEET")
	if file == "" {
		file = "/var/lib/steward-fleet/fleet.json"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read fleet description (boot it with test/fleet/fleet.sh up 3): %v", err)
	}
	var f fleet
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	if len(f.Hosts) < n {
		t.Fatalf("the test needs %d fleet hosts, %s lists %d", n, file, len(f.Hosts))
	}
	return f
}

// hcl quotes s as an HCL string literal (heredocs would keep trailing newlines).
func hcl(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "${", "$${", "%{", "%%{")
	return `"` + r.Replace(s) + `"`
}

// run runs a command for test setup and fails the test if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newTestKey generates an ed25519 key pair in a temp dir; returns the private key path.
func newTestKey(t *testing.T, passphrase string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "steward-test", "-f", p)
	return p
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// requireTerraform skips a plan-time unit test when no terraform binary is at hand.
func requireTerraform(t *testing.T) {
	t.Helper()
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		if _, err := exec.LookPath("terraform"); err != nil {
			t.Skip("needs the terraform binary (make test installs it)")
		}
	}
}

// expectPlanError plans config with terraform and wants it to fail with an
// error matching the regular expression want.
func expectPlanError(t *testing.T, config, want string) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      config,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}},
	})
}

// expectValid plans config, which must pass validation (the plan creates
// what it names, without reaching any host).
func expectValid(t *testing.T, config string) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps:                    []resource.TestStep{{Config: config, PlanOnly: true, ExpectNonEmptyPlan: true}},
	})
}

func providerBlock(defaults string) string {
	return fmt.Sprintf("provider \"steward\" {\n  default_connection {\n%s\n  }\n}\n", defaults)
}

// TestProvider_configureAgain: a provider configured again keeps one
// connection pool, so the connections of the first configuration are the
// ones the second uses, not left open beside new ones.
func TestProvider_configureAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := New("test")()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	objType, ok := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		t.Fatalf("the provider schema is a %T", sr.Schema.Type().TerraformType(ctx))
	}
	configure := func() *providerData {
		t.Helper()
		raw := tftypes.NewValue(objType, map[string]tftypes.Value{
			"default_connection": tftypes.NewValue(objType.AttributeTypes["default_connection"], nil),
		})
		var resp provider.ConfigureResponse
		p.Configure(ctx, provider.ConfigureRequest{Config: tfsdk.Config{Schema: sr.Schema, Raw: raw}}, &resp)
		if resp.Diagnostics.HasError() {
			t.Fatalf("configure: %v", resp.Diagnostics)
		}
		data, ok := resp.ResourceData.(*providerData)
		if !ok || resp.DataSourceData != resp.ResourceData {
			t.Fatalf("configure handed resources %T and data sources %T", resp.ResourceData, resp.DataSourceData)
		}
		return data
	}
	first, second := configure(), configure()
	if first.pool == nil || second.pool != first.pool {
		t.Errorf("configured again, the provider made a new connection pool (%p, then %p) and left the first one open", first.pool, second.pool)
	}
}
