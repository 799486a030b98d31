package provider

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const customAddr = "steward_custom_metric.q"

// blamed matches a diagnostic with summary, shown at the configuration
// line of attr, whose detail says message (terraform wraps it).
func blamed(summary, attr, message string) *regexp.Regexp {
	words := strings.Fields(message)
	for i, w := range words {
		words[i] = regexp.QuoteMeta(w)
	}
	return regexp.MustCompile(`(?s)Error: ` + regexp.QuoteMeta(summary) + `\s.*\d+:\s+` + attr + ` = .*` + strings.Join(words, `\s+`))
}

// TestCustomMetric_invalidConfig: a command no agent would run fails at
// plan time, naming the attribute and what it accepts.
func TestCustomMetric_invalidConfig(t *testing.T) {
	requireTerraform(t)
	good := map[string]string{"name": `"queue_depth"`, "command": `["/usr/local/bin/queue-depth", "--queue", "mail"]`}
	cases := []struct{ name, attr, value, summary, message string }{
		{"relative program", "command", `["queue-depth", "--queue", "mail"]`, "Invalid Custom Metric Command", `command[0] "queue-depth": want the program's clean absolute path`},
		{"shell line", "command", `["sh -c 'wc -l /var/spool/mail'"]`, "Invalid Custom Metric Command", `command[0] "sh -c 'wc -l /var/spool/mail'": want the program's clean absolute path`},
		{"empty command", "command", `[]`, "Invalid Custom Metric Command", "command: empty: want the program's absolute path and its arguments"},
		{"dash in name", "name", `"queue-depth"`, "Invalid Custom Metric Name", `name "queue-depth": want 1 to 63 of a-z, 0-9 and _, starting with a letter`},
		{"digit first", "name", `"9lives"`, "Invalid Custom Metric Name", `name "9lives": want 1 to 63 of a-z, 0-9 and _, starting with a letter`},
		{"bad timeout", "timeout", `"a while"`, "Invalid Attribute Value", "timeout must be a positive duration of at most 1h"},
		{"long timeout", "timeout", `"2h"`, "Invalid Attribute Value", "timeout must be a positive duration of at most 1h"},
		{"help on two lines", "help", `"one\ntwo"`, "Invalid Attribute Value", "help must be one line of text"},
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
			expectPlanError(t, providerBlock("")+"resource \"steward_custom_metric\" \"q\" {\n  host = { host = \"h\", trust_on_first_use = true }\n"+body+"}\n",
				blamed(tc.summary, tc.attr, tc.message).String())
		})
	}
	t.Run("valid", func(t *testing.T) {
		expectValid(t, providerBlock("")+`resource "steward_custom_metric" "q" {
  host    = { host = "h", trust_on_first_use = true }
  name    = "queue_depth"
  command = ["/usr/local/bin/queue-depth"]
  timeout = "500ms"
  help    = "Mails waiting."
}
`)
	})
}

// TestCustomMetric_lifecycleOnTwin runs steward_custom_metric through the
// managed-object platform against the twin (which runs no daemon): create,
// an edit and a deletion by hand (each a plan, then one apply that
// converges), an update, import, and the agent's refusals blamed on their
// attribute.
func TestCustomMetric_lifecycleOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	for _, prog := range []string{"/usr/bin/cat", "/usr/local/bin/queue-depth"} {
		if err := os.MkdirAll(filepath.Dir(twin.file(prog)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(twin.file(prog), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := twin.file("/etc/steward/custom_metrics/queue_depth.json")
	config := func(command, extra string) string {
		return fmt.Sprintf(`
resource "steward_custom_metric" "q" {
  host    = { host = "192.0.2.1", trust_on_first_use = true }
  name    = "queue_depth"
  command = %s
%s
}
`, command, extra)
	}
	base := config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, "")
	onTwin := func(f func() error) func() {
		return func() {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
	}
	action := func(a plancheck.ResourceActionType) resource.ConfigPlanChecks {
		return resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(customAddr, a)}}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("id"), knownvalue.StringExact(twin.hostID+"/queue_depth")),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("metric_name"), knownvalue.StringExact("steward_custom_queue_depth")),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("config_sha256"), knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					// The twin runs no daemon: the read says so instead of failing.
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("collecting"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`^the agent daemon does not answer on `))),
				},
			},
			{
				// Edited by hand: the configuration's value shows in the plan.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(spec)
					if err == nil {
						err = os.WriteFile(spec, bytes.Replace(b, []byte(`"mail"`), []byte(`"spam"`), 1), 0o600)
					}
					return err
				}),
				Config: base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(customAddr, tfjsonpath.New("command").AtSliceIndex(2), knownvalue.StringExact("mail")),
				}},
			},
			{
				Config:           config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, `  timeout = "3s"`),
				ConfigPlanChecks: action(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("timeout"), knownvalue.StringExact("3s")),
				},
			},
			{
				// A timeout removed by hand is drift too.
				PreConfig: onTwin(func() error {
					b, err := os.ReadFile(spec)
					if err == nil && !bytes.Contains(b, []byte(`"timeout": "3s"`)) {
						err = fmt.Errorf("no timeout in %s", b)
					}
					if err == nil {
						err = os.WriteFile(spec, bytes.Replace(b, []byte(",\n  \"timeout\": \"3s\""), nil, 1), 0o600)
					}
					return err
				}),
				Config: config(`["/usr/local/bin/queue-depth", "--queue", "mail"]`, `  timeout = "3s"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(customAddr, tfjsonpath.New("timeout"), knownvalue.StringExact("3s")),
				}},
			},
			{
				// Deleted on the host: planned as a create.
				PreConfig:        onTwin(func() error { return os.Remove(spec) }),
				Config:           base,
				ConfigPlanChecks: action(plancheck.ResourceActionCreate),
			},
			{
				Config:           config(`["/usr/bin/cat", "/var/tmp/depth"]`, `  help = "Mails waiting."`),
				ConfigPlanChecks: action(plancheck.ResourceActionUpdate),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("help"), knownvalue.StringExact("Mails waiting.")),
				},
			},
			{
				ResourceName:            customAddr,
				ImportState:             true,
				ImportStateId:           "deploy@192.0.2.1/queue_depth",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host"},
			},
			{
				// The agent refuses what only the host can tell, blaming the attribute.
				Config:      config(`["/usr/bin/no-such-tool"]`, ""),
				ExpectError: blamed("Custom Metric Program Not Found", "command", "command[0] /usr/bin/no-such-tool: no such file on the host"),
			},
			{
				Config:      config(`["/usr/bin/cat", "/var/tmp/depth"]`, `  timeout = "30s"`),
				ExpectError: blamed("Custom Metric Timeout Too Long", "timeout", "timeout 30s: want at most the host's collection interval, 10s"),
			},
		},
	})
}

// agentMetrics prints what the agent serves on /metrics on the host (the
// fleet's hosts may lack curl; they have python3).
const agentMetrics = `{ curl -s 127.0.0.1:9276/metrics 2>/dev/null || python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:9276/metrics").read().decode())'; }`

// servedWithin checks that within a few collections every line of want is
// a line of the agent's /metrics on h, and none of absent is.
func servedWithin(t *testing.T, f fleet, h fleetHost, want, absent []string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		var cond []string
		for _, w := range want {
			cond = append(cond, fmt.Sprintf("grep -qxF %s /tmp/steward-metrics", shellQuote(w)))
		}
		for _, a := range absent {
			cond = append(cond, fmt.Sprintf("! grep -qF %s /tmp/steward-metrics", shellQuote(a)))
		}
		script := fmt.Sprintf(`for i in $(seq 1 40); do %s > /tmp/steward-metrics; if %s; then exit 0; fi; sleep 0.5; done; grep -E 'steward_custom|custom_' /tmp/steward-metrics; exit 1`,
			agentMetrics, strings.Join(cond, " && "))
		if out, err := onHost(t, f, h, script); err != nil {
			return fmt.Errorf("within 20 s, /metrics on %s did not serve %q without %q: %v\n%s", h.Name, want, absent, err, out)
		}
		return nil
	}
}

func customMetricConfig(f fleet, h fleetHost, metrics ...string) string {
	return hostConfig(f, h, `  monitoring = { interval = "2s" }`) + strings.Join(metrics, "")
}

func customMetricBlock(label, name, command, extra string) string {
	return fmt.Sprintf(`
resource "steward_custom_metric" %q {
  host    = steward_host.h.host_connection
  name    = %q
  command = %s
%s
}
`, label, name, command, extra)
}

// TestAccCustomMetric_lifecycle: a custom metric from HCL on a fleet host.
// Its number is served on the agent's /metrics within a few collections and
// follows the file it reads; an edit and a deletion by hand show in the
// plan and one apply converges; a command that hangs and one that prints
// garbage are collector errors in their observed state while every other
// metric is still served.
func TestAccCustomMetric_lifecycle(t *testing.T) {
	f := testFleet(t, 1)
	h := f.Hosts[0]
	testAgent(t)
	cleanHost(t, f, h)
	if out, err := onHost(t, f, h, `printf '42\n' > /var/tmp/steward-depth && printf 'queue_ok 1\nthis is garbage\n' > /var/tmp/steward-garbage`); err != nil {
		t.Fatalf("set up: %v\n%s", err, out)
	}
	queue := customMetricBlock("q", "queue_depth", `["/bin/cat", "/var/tmp/steward-depth"]`, `  help = "Mails waiting."`)
	base := customMetricConfig(f, h, queue)
	faulty := customMetricConfig(f, h, queue,
		customMetricBlock("hang", "hangs", `["/bin/sleep", "600"]`, `  timeout = "1s"`),
		customMetricBlock("garbage", "garbage", `["/bin/cat", "/var/tmp/steward-garbage"]`, ""))
	spec := "/etc/steward/custom_metrics/queue_depth.json"
	onHostStep := func(cmd string) func() {
		return func() {
			if out, err := onHost(t, f, h, cmd); err != nil {
				t.Fatalf("on %s: %s: %v\n%s", h.Name, cmd, err, out)
			}
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("host_id"), knownvalue.StringExact(h.MachineID)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("metric_name"), knownvalue.StringExact("steward_custom_queue_depth")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "stat -c %a /etc/steward/custom_metrics "+spec, "700\n600"),
					servedWithin(t, f, h, []string{"# HELP steward_custom_queue_depth Mails waiting.", "steward_custom_queue_depth 42"}, nil),
				),
			},
			{
				// The number changes on the host: the next collections serve it,
				// and the read sees how the runs go.
				PreConfig: onHostStep(`printf '43\n' > /var/tmp/steward-depth`),
				Config:    base,
				Check:     servedWithin(t, f, h, []string{"steward_custom_queue_depth 43"}, []string{"steward_custom_queue_depth 42"}),
			},
			{
				Config: base,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("collecting"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_run_ok"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_error"), knownvalue.StringExact("")),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("series_count"), knownvalue.Int64Exact(1)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_run_at"), knownvalue.StringRegexp(regexp.MustCompile(`^20\d\d-`))),
				},
			},
			{
				// Edited by hand: the plan shows it, one apply puts it back (and
				// the test framework then wants an empty plan).
				PreConfig: onHostStep(`sed -i 's#"/bin/cat"#"/usr/bin/cat"#' ` + spec + ` && grep -q /usr/bin/cat ` + spec),
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(customAddr, tfjsonpath.New("command").AtSliceIndex(0), knownvalue.StringExact("/bin/cat")),
				}},
				Check: hostCheck(t, f, h, "grep -c '\"/bin/cat\"' "+spec, "1"),
			},
			{
				// Deleted by hand: the plan creates it again, and it is served again.
				PreConfig: onHostStep("rm " + spec),
				Config:    base,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(customAddr, plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "test -f "+spec+" && echo ok", "ok"),
					servedWithin(t, f, h, []string{"steward_custom_queue_depth 43"}, nil),
				),
			},
			{
				// A timeout longer than the host's interval is refused on apply.
				Config: customMetricConfig(f, h, queue, customMetricBlock("slow", "slow", `["/bin/cat", "/var/tmp/steward-depth"]`, `  timeout = "5s"`)),
				ExpectError: blamed("Custom Metric Timeout Too Long", "timeout",
					"timeout 5s: want at most the host's collection interval, 2s"),
			},
			{
				// A command that hangs and one that prints garbage fail their
				// collectors; everything else is still served.
				Config: faulty,
				Check: servedWithin(t, f, h, []string{
					`steward_collector_success{collector="custom_hangs"} 0`,
					`steward_collector_success{collector="custom_garbage"} 0`,
					`steward_collector_success{collector="custom_queue_depth"} 1`,
					`steward_collector_success{collector="loadavg"} 1`,
					"steward_custom_queue_depth 43",
				}, []string{"queue_ok"}),
			},
			{
				Config: faulty,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("steward_custom_metric.hang", tfjsonpath.New("last_run_ok"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("steward_custom_metric.hang", tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`timed out after 1s|killed after 1`))),
					statecheck.ExpectKnownValue("steward_custom_metric.garbage", tfjsonpath.New("last_run_ok"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue("steward_custom_metric.garbage", tfjsonpath.New("last_error"), knownvalue.StringRegexp(regexp.MustCompile(`line 2 "this is garbage"`))),
					statecheck.ExpectKnownValue("steward_custom_metric.garbage", tfjsonpath.New("series_count"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(customAddr, tfjsonpath.New("last_run_ok"), knownvalue.Bool(true)),
				},
				// The hanging command is killed at each timeout, not left to pile up.
				Check: hostCheck(t, f, h, `n=$(pgrep -c -f '^/bin/sleep 600$'); test "$n" -le 1 && echo bounded`, "bounded"),
			},
			{
				ResourceName:            customAddr,
				ImportState:             true,
				ImportStateId:           "deploy@" + h.Address + "/queue_depth",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"host", "last_run_at"},
			},
			{
				// Removed from the configuration: the files go, and the daemon
				// stops running the commands and serving what they yielded.
				Config: customMetricConfig(f, h),
				Check: resource.ComposeAggregateTestCheckFunc(
					hostCheck(t, f, h, "ls /etc/steward/custom_metrics | wc -l", "0"),
					servedWithin(t, f, h, []string{`steward_collector_success{collector="loadavg"} 1`},
						[]string{"steward_custom_queue_depth", `collector="custom_`}),
				),
			},
		},
	})
}
