package provider

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// profile is a baseline profile with control values ("sshd.max_auth_tries=5").
func profile(name string, values ...string) api.HardeningProfile {
	p := api.HardeningProfile{Name: name, Level: "baseline", Controls: map[string]api.ControlSetting{}}
	for _, kv := range values {
		id, v, _ := strings.Cut(kv, "=")
		p.Controls[id] = api.ControlSetting{Value: v, Reason: "test"}
	}
	return p
}

// What the registry reports as profiles are planned one after another, in
// one configuration of the provider.
func TestPlannedProfiles_conflicts(t *testing.T) {
	t.Parallel()
	const h1, h2 = "10.0.0.1:22", "bastion:22 > 10.0.0.1:22"
	custom := func(name, check string) api.HardeningProfile {
		p := profile(name)
		p.CustomControls = []api.CustomControl{{ID: "custom.x", Title: "x", Check: check, Expected: "ok", Apply: "true"}}
		return p
	}
	type add struct {
		host string
		p    api.HardeningProfile
	}
	for _, c := range []struct {
		name string
		adds []add
		want []string // "<attr> <summary>" of every conflict, in order
	}{
		{"two that agree", []add{{h1, profile("a")}, {h1, profile("b", "sshd.max_auth_tries=3")}}, nil},
		{"two that disagree", []add{{h1, profile("a")}, {h1, profile("b", "sshd.max_auth_tries=5")}}, []string{"controls Hardening Profiles Disagree"}},
		{"disagree, the other planned first", []add{{h1, profile("b", "sshd.max_auth_tries=5")}, {h1, profile("a")}}, []string{"controls Hardening Profiles Disagree"}},
		{"one switched off in the other", []add{{h1, profile("a")}, {h1, func() api.HardeningProfile {
			p, off := profile("b"), false
			p.Controls["sshd.max_auth_tries"] = api.ControlSetting{Enabled: &off, Reason: "test"}
			return p
		}()}}, nil},
		{"on other hosts (one behind a bastion)", []add{{h1, profile("a")}, {h2, profile("b", "sshd.max_auth_tries=5")}}, nil},
		// Terraform plans a replacement twice, and every change again at apply.
		{"the same profile planned again", []add{{h1, profile("a", "sshd.max_auth_tries=5")}, {h1, profile("b", "sshd.max_auth_tries=5")}, {h1, profile("a", "sshd.max_auth_tries=5")}}, nil},
		// A profile renamed from "a" to "c" plans only as "c" (its destroy
		// plans null): a new "a" meets no stale entry.
		{"a renamed profile and a new one with its old name", []add{{h1, profile("c", "sshd.max_auth_tries=5")}, {h1, profile("c", "sshd.max_auth_tries=5")}, {h1, profile("a", "sshd.max_auth_tries=5")}}, nil},
		{"two resources with one name", []add{{h1, profile("a")}, {h1, profile("a", "sshd.max_auth_tries=5")}}, []string{"name Two Hardening Profiles With One Name"}},
		{"one name on two hosts", []add{{h1, profile("a")}, {h2, profile("a", "sshd.max_auth_tries=5")}}, nil},
		{"custom controls with one id", []add{{h1, custom("a", "echo ok")}, {h1, custom("b", "echo ok")}}, nil},
		{"custom controls with one id and two checks", []add{{h1, custom("a", "echo ok")}, {h1, custom("b", "printf ok")}}, []string{"custom_control Hardening Profiles Disagree"}},
		{"a third against both", []add{{h1, profile("a")}, {h1, profile("b")}, {h1, profile("c", "sshd.max_auth_tries=5")}},
			[]string{"controls Hardening Profiles Disagree", "controls Hardening Profiles Disagree"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var r plannedProfiles
			var got []string
			for _, a := range c.adds {
				for _, k := range r.add(a.host, a.p) {
					got = append(got, k.attr+" "+k.summary)
				}
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("conflicts (-want +got):\n%s", d)
			}
		})
	}
}

// The error names both profiles, the host, the control and both values.
func TestPlannedProfiles_message(t *testing.T) {
	t.Parallel()
	var r plannedProfiles
	r.add("10.0.0.1:22", profile("base"))
	got := r.add("10.0.0.1:22", profile("second", "sshd.max_auth_tries=5"))
	want := `steward_hardening_profile "second" and steward_hardening_profile "base" are both planned for 10.0.0.1:22 and disagree about ` +
		`control sshd.max_auth_tries: "second" wants "5", "base" wants "3".`
	if len(got) != 1 || !strings.HasPrefix(got[0].detail, want) {
		t.Errorf("%+v\nwant a detail starting %q", got, want)
	}
}

// Terraform plans resources in parallel.
func TestPlannedProfiles_concurrent(t *testing.T) {
	t.Parallel()
	var r plannedProfiles
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := len(r.add("h:22", profile(fmt.Sprintf("p%d", i), fmt.Sprintf("sshd.max_auth_tries=%d", 1+i%2))))
			mu.Lock()
			conflicts += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// Whatever the order, every pair with two values is reported once: by
	// the later of the two.
	if conflicts != 10*10 {
		t.Errorf("%d conflicts, want 100 (10 profiles of each value)", conflicts)
	}
}

// Through Terraform, against the twin: two profiles of one configuration
// that disagree fail the plan naming both, and two with one name too;
// nothing reaches the host.
func TestHardeningProfile_conflictAtPlanOnTwin(t *testing.T) {
	requireTerraform(t)
	twin := newHostTwin(t)
	profiles := func(second, secondName string) string {
		return fmt.Sprintf(`
resource "steward_hardening_profile" "a" {
  host = { host = "192.0.2.1", trust_on_first_use = true, user = "deploy" }
  name = "base"
}

resource "steward_hardening_profile" "b" {
  host = { host = "192.0.2.1", trust_on_first_use = true, user = "deploy" }
  name = %q
  controls = {
    "sshd.max_auth_tries" = { value = %q, reason = "the other team's" }
  }
}
`, secondName, second)
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: twinFactories(twin),
		Steps: []resource.TestStep{
			{
				Config: profiles("5", "second"), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Hardening\s+Profiles\s+Disagree.*(steward_hardening_profile\s+"second"\s+and\s+steward_hardening_profile\s+"base"|` +
					`steward_hardening_profile\s+"base"\s+and\s+steward_hardening_profile\s+"second").*control\s+sshd\.max_auth_tries`),
			},
			{
				Config: profiles("5", "base"), PlanOnly: true,
				ExpectError: regexp.MustCompile(`(?s)Two\s+Hardening\s+Profiles\s+With\s+One\s+Name.*named\s+"base"\s+on\s+192\.0\.2\.1:22`),
			},
			// Two that agree plan (and would create both).
			{Config: profiles("3", "second"), PlanOnly: true, ExpectNonEmptyPlan: true},
		},
	})
	if _, err := os.Stat(twin.file("/etc/steward/hardening")); !os.IsNotExist(err) {
		t.Errorf("a plan wrote to the host: %v", err)
	}
}
