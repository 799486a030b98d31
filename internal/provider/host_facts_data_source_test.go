package provider

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const factsAddr = "data.steward_host_facts.h"

// factsConfig renders a provider block with the given defaults and one
// steward_host_facts whose host object has the given body.
func factsConfig(defaults, host string) string {
	return providerBlock(defaults) + fmt.Sprintf("data \"steward_host_facts\" \"h\" {\n  host = {\n%s\n  }\n}\n", host)
}

func expectFacts(h fleetHost) []statecheck.StateCheck {
	return []statecheck.StateCheck{
		statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("hostname"), knownvalue.StringExact(h.Name)),
		statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
		statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("host_key"), knownvalue.StringExact(h.HostKey)),
	}
}

func sshKeygenFingerprint(t *testing.T, authorizedKey string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, []byte(authorizedKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(run(t, "ssh-keygen", "-lf", p))
	return fields[1]
}

func TestAccHostFacts_keyAuth(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	defaults := fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: factsConfig(defaults, fmt.Sprintf("    host = %s\n    host_key = %s", hcl(h.Address), hcl(h.HostKey))),
				ConfigStateChecks: append(expectFacts(h),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("id"), knownvalue.StringExact(h.MachineID)),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("os_id"), knownvalue.StringExact("debian")),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("os_version"), knownvalue.StringExact("12")),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("os_name"), knownvalue.StringRegexp(regexp.MustCompile(`^Debian GNU/Linux 12`))),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("architecture"), knownvalue.StringExact(strings.TrimSpace(run(t, "uname", "-m")))),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("kernel"), knownvalue.StringExact(strings.TrimSpace(run(t, "uname", "-r")))),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("init_system"), knownvalue.StringExact("systemd")),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("cpu_count"), knownvalue.Int64Func(positive)),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("memory_bytes"), knownvalue.Int64Func(positive)),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("uptime_seconds"), knownvalue.Int64Func(nonNegative)),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("host_key_fingerprint"), knownvalue.StringExact(sshKeygenFingerprint(t, h.HostKey))),
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("client_address"), knownvalue.StringExact(f.BridgeAddress)),
				),
			},
			{
				// The deploy user with passwordless sudo, the expected host_id checked.
				Config: factsConfig(defaults, fmt.Sprintf("    host = %s\n    user = \"deploy\"\n    sudo = true\n    host_key = %s\n    host_id = %s",
					hcl(h.Address), hcl(h.HostKey), hcl(h.MachineID))),
				ConfigStateChecks: expectFacts(h),
			},
		},
	})
}

// phrase matches words separated by any white space: terraform wraps diagnostics.
func phrase(s string) *regexp.Regexp {
	words := strings.Fields(s)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(words, `\s+`))
}

func positive(v int64) error {
	if v <= 0 {
		return fmt.Errorf("want > 0, got %d", v)
	}
	return nil
}

func nonNegative(v int64) error {
	if v < 0 {
		return fmt.Errorf("want >= 0, got %d", v)
	}
	return nil
}

func TestAccHostFacts_encryptedKey(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	// The fleet's key, re-encrypted with a passphrase.
	enc := filepath.Join(t.TempDir(), "id_encrypted")
	if err := os.WriteFile(enc, []byte(readFile(t, f.PrivateKeyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "ssh-keygen", "-q", "-p", "-P", "", "-N", "correct horse", "-f", enc)
	key := readFile(t, enc)
	cfg := func(passphrase string) string {
		return factsConfig("", fmt.Sprintf("    host = %s\n    user = \"root\"\n    host_key = %s\n    private_key = %s\n    private_key_passphrase = %s",
			hcl(h.Address), hcl(h.HostKey), hcl(key), hcl(passphrase)))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg("correct horse"), ConfigStateChecks: expectFacts(h)},
			{Config: cfg("wrong"), ExpectError: phrase("private_key_passphrase does not decrypt the private key")},
		},
	})
}

func TestAccHostFacts_agentAuth(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agent.Process.Kill(); _ = agent.Wait() })
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	run(t, "ssh-add", "-q", f.PrivateKeyFile)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			// No key configured anywhere: only the agent can authenticate.
			{Config: factsConfig("    user = \"root\"\n    use_agent = true", fmt.Sprintf("    host = %s\n    host_key = %s", hcl(h.Address), hcl(h.HostKey))),
				ConfigStateChecks: expectFacts(h)},
			// use_agent left unset: SSH_AUTH_SOCK is the fallback.
			{Config: factsConfig("    user = \"deploy\"", fmt.Sprintf("    host = %s\n    host_key = %s", hcl(h.Address), hcl(h.HostKey))),
				ConfigStateChecks: expectFacts(h)},
		},
	})
}

func TestAccHostFacts_userCertificate(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	// A fresh key that no authorized_keys lists: only the CA's signature lets it in.
	key := newTestKey(t, "")
	run(t, "ssh-keygen", "-q", "-s", f.UserCAKeyFile, "-I", "steward-acc", "-n", "deploy", "-V", "-5m:+1h", key+".pub")
	cert := readFile(t, key+"-cert.pub")
	host := fmt.Sprintf("    host = %s\n    user = \"deploy\"\n    host_key = %s\n    private_key_file = %s", hcl(h.Address), hcl(h.HostKey), hcl(key))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: factsConfig("", host), ExpectError: regexp.MustCompile(`SSH Authentication Failed`)},
			{Config: factsConfig("", host+"\n    certificate = "+hcl(cert)), ConfigStateChecks: expectFacts(h)},
		},
	})
}

func TestAccHostFacts_bastionChain(t *testing.T) {
	f := testFleet(t, 3)
	b1, b2, target := f.Hosts[0], f.Hosts[1], f.Hosts[2]
	host := fmt.Sprintf(`    host = %s
    host_key = %s
    bastions = [
      { host = %s, host_key = %s, user = "deploy" },
      { host = %s, host_key = %s },
    ]`, hcl(target.Address), hcl(target.HostKey), hcl(b1.Address), hcl(b1.HostKey), hcl(b2.Address), hcl(b2.HostKey))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)), host),
				ConfigStateChecks: append(expectFacts(target),
					// The target saw the connection come from the second bastion.
					statecheck.ExpectKnownValue(factsAddr, tfjsonpath.New("client_address"), knownvalue.StringExact(b2.Address))),
			},
			{
				// A wrong key on the first hop stops the chain there.
				Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
					strings.Replace(host, hcl(b1.HostKey), hcl(b2.HostKey), 1)),
				ExpectError: regexp.MustCompile(`(?s)Host Key Mismatch.*` + regexp.QuoteMeta(b1.Address)),
			},
		},
	})
}

func TestAccHostFacts_knownHostsFile(t *testing.T) {
	f := testFleet(t, 2)
	h1, h2 := f.Hosts[0], f.Hosts[1]
	dir := t.TempDir()
	// A CA line vouches for every fleet host that presents a signed host key.
	caFile := filepath.Join(dir, "known_hosts_ca")
	if err := os.WriteFile(caFile, []byte("@cert-authority 10.213.7.* "+f.HostCAPublicKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A hashed plain entry, as ssh-keygen -H writes them.
	hashed := filepath.Join(dir, "known_hosts_hashed")
	if err := os.WriteFile(hashed, []byte(h2.Address+" "+h2.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "ssh-keygen", "-q", "-H", "-f", hashed)
	if strings.Contains(readFile(t, hashed), h2.Address) {
		t.Fatal("ssh-keygen -H left the address in clear text")
	}
	// The same hashed file claims h2's key for h1's address.
	wrong := filepath.Join(dir, "known_hosts_wrong")
	if err := os.WriteFile(wrong, []byte(h1.Address+" "+h2.HostKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "ssh-keygen", "-q", "-H", "-f", wrong)
	defaults := fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: factsConfig(defaults, fmt.Sprintf("    host = %s\n    known_hosts_file = %s", hcl(h1.Address), hcl(caFile))),
				ConfigStateChecks: expectFacts(h1)},
			{Config: factsConfig(defaults, fmt.Sprintf("    host = %s\n    known_hosts_file = %s", hcl(h2.Address), hcl(hashed))),
				ConfigStateChecks: expectFacts(h2)},
			{Config: factsConfig(defaults, fmt.Sprintf("    host = %s\n    known_hosts_file = %s", hcl(h1.Address), hcl(wrong))),
				ExpectError: regexp.MustCompile(`(?s)Host Key Mismatch.*` + regexp.QuoteMeta(sshKeygenFingerprint(t, h2.HostKey)) +
					`.*` + regexp.QuoteMeta(sshKeygenFingerprint(t, h1.HostKey)))},
		},
	})
}

func TestAccHostFacts_wrongHostKey(t *testing.T) {
	f := testFleet(t, 2)
	h1, h2 := f.Hosts[0], f.Hosts[1]
	expected, presented := sshKeygenFingerprint(t, h2.HostKey), sshKeygenFingerprint(t, h1.HostKey)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    host_key = %s", hcl(h1.Address), hcl(h2.HostKey))),
			ExpectError: regexp.MustCompile(`(?s)Host Key Mismatch.*expected: ` + regexp.QuoteMeta(expected) + `.*presented: ` + regexp.QuoteMeta(presented)),
		}},
	})
}

func TestAccHostFacts_trustOnFirstUse(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    trust_on_first_use = true", hcl(h.Address))),
			// The key reported for pinning is the host's real key.
			ConfigStateChecks: expectFacts(h),
		}},
	})
}

func TestAccHostFacts_unreachable(t *testing.T) {
	f := testFleet(t, 1)
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			// A fleet host's address with no sshd on the port: every attempt is refused.
			Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    port = 2222\n    trust_on_first_use = true\n    timeout = \"3s\"", hcl(f.Hosts[0].Address))),
			ExpectError: regexp.MustCompile(`(?s)Unable to Connect to Host.*` + regexp.QuoteMeta(f.Hosts[0].Address+":2222") + `.*` + phrase("within the timeout of 3s").String()),
		}},
	})
	// Terraform's own start-up is included; the connection attempts stop at 3 s.
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the unreachable host took %s to report, want the 3s timeout plus terraform's overhead", d)
	}
}

// TestAccHostFacts_linkCut cuts a fleet host's network link: nothing answers
// at all (no refusal), and the error still comes within the timeout.
func TestAccHostFacts_linkCut(t *testing.T) {
	f := testFleet(t, 3)
	h := f.Hosts[2]
	run(t, fleetScript, "link", h.Name, "down")
	t.Cleanup(func() { run(t, fleetScript, "link", h.Name, "up") })
	start := time.Now()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    host_key = %s\n    timeout = \"4s\"", hcl(h.Address), hcl(h.HostKey))),
			ExpectError: regexp.MustCompile(`(?s)Unable to Connect to Host.*` + regexp.QuoteMeta(h.Address+":22") + `.*` + phrase("within the timeout of 4s").String()),
		}},
	})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the cut-off host took %s to report, want the 4s timeout plus terraform's overhead", d)
	}
}

func TestAccHostFacts_sudoWithoutRights(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: factsConfig(fmt.Sprintf("    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    host_key = %s\n    user = \"nosudo\"\n    sudo = true", hcl(h.Address), hcl(h.HostKey))),
			ExpectError: regexp.MustCompile(`(?s)Sudo Not Permitted.*"nosudo" on ` + regexp.QuoteMeta(h.Address)),
		}},
	})
}

func TestAccHostFacts_hostIDMismatch(t *testing.T) {
	f := testFleet(t, 2)
	h1, h2 := f.Hosts[0], f.Hosts[1]
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: factsConfig(fmt.Sprintf("    user = \"root\"\n    private_key_file = %s", hcl(f.PrivateKeyFile)),
				fmt.Sprintf("    host = %s\n    host_key = %s\n    host_id = %s", hcl(h1.Address), hcl(h1.HostKey), hcl(h2.MachineID))),
			ExpectError: regexp.MustCompile(`(?s)Host Identity Mismatch.*` + h1.MachineID + `.*` + h2.MachineID),
		}},
	})
}

// TestHostFacts_invalidConfig runs terraform's validation on bad configuration:
// each mistake is reported at plan time, naming the attribute and what it accepts.
func TestHostFacts_invalidConfig(t *testing.T) {
	requireTerraform(t)
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBshZnuy5r7RdepkzcgYA/ururEmk1wB2JazcemNx4pw"
	cases := []struct {
		name, defaults, host, want string
	}{
		{"port out of range", "", `host = "h"` + "\n port = 70000\n host_key = \"" + key + "\"", `(?s)host\.port.*between 1 and 65535, got: 70000`},
		{"key and key file", "", `host = "h"` + "\n private_key = \"x\"\n private_key_file = \"/k\"\n host_key = \"" + key + "\"", `(?s)Invalid Attribute Combination.*private_key_file`},
		{"bad host key", "", `host = "h"` + "\n host_key = \"not a key\"", `(?s)host\.host_key must be one public key in authorized_keys format`},
		{"bad timeout", "", `host = "h"` + "\n timeout = \"soon\"\n trust_on_first_use = true", `(?s)host\.timeout must be a positive duration`},
		{"bad host id", "", `host = "h"` + "\n host_id = \"abc\"\n trust_on_first_use = true", `(?s)host\.host_id must be a machine id`},
		{"bad default port", "    port = 0", `host = "h"`, `(?s)default_connection\.port.*between 1 and 65535, got: 0`},
		{"bad bastion host key", "", `host = "h"` + "\n trust_on_first_use = true\n bastions = [{ host = \"b\", host_key = \"ssh-rsa nope\" }]", `(?s)host\.bastions\[0\]\.host_key must be one public key`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectPlanError(t, factsConfig(tc.defaults, tc.host), tc.want)
		})
	}
}
