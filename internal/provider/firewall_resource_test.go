package provider

import (
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func TestRulesetDrift(t *testing.T) {
	expected := "table inet steward {\n\tchain input {\n\t\ttcp dport 22 accept\n\t\ttcp dport 80 accept\n\t}\n}\n"
	for _, c := range []struct {
		name string
		obs  api.FirewallObserved
		want string
	}{
		{"in sync", api.FirewallObserved{Present: true, InSync: true, Ruleset: expected, Expected: expected}, ""},
		{"gone", api.FirewallObserved{Expected: expected}, "table inet steward is missing"},
		{"added", api.FirewallObserved{Present: true, Expected: expected,
			Ruleset: "table inet steward {\n\tchain input {\n\t\ttcp dport 22 accept\n\t\ttcp dport 3306 accept\n\t\ttcp dport 80 accept\n\t}\n}\n"},
			"+ tcp dport 3306 accept"},
		{"removed", api.FirewallObserved{Present: true, Expected: expected,
			Ruleset: "table inet steward {\n\tchain input {\n\t\ttcp dport 22 accept\n\t}\n}\n"},
			"- tcp dport 80 accept"},
		{"reordered", api.FirewallObserved{Present: true, Expected: expected,
			Ruleset: "table inet steward {\n\tchain input {\n\t\ttcp dport 80 accept\n\t\ttcp dport 22 accept\n\t}\n}\n"},
			"the rules are in another order than Steward loaded them"},
	} {
		if got := rulesetDrift(c.obs); got != c.want {
			t.Errorf("%s: drift %q, want %q", c.name, got, c.want)
		}
	}
}

func TestFirewallSpec_validate(t *testing.T) {
	ok := api.Firewall{Name: "main", InputPolicy: "drop", Rules: []api.FirewallRule{{Protocol: "tcp", Ports: []string{"22", "8000-8080"}, Sources: []string{"10.0.0.0/8"}}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mutate func(*api.Firewall)
		want   string
	}{
		{func(f *api.Firewall) { f.InputPolicy = "reject" }, "input_policy"},
		{func(f *api.Firewall) { f.Rules[0].Ports = []string{"70000"} }, "rule[0].ports"},
		{func(f *api.Firewall) { f.Rules[0].Ports = []string{"90-80"} }, "rule[0].ports"},
		{func(f *api.Firewall) { f.Rules[0].Sources = []string{"10.0.0.1; flush ruleset"} }, "rule[0].sources"},
		{func(f *api.Firewall) { f.Rules[0].Comment = "a\" ; flush ruleset ; \"" }, "rule[0].comment"},
		{func(f *api.Firewall) { f.Rules[0].RateLimit = "lots" }, "rule[0].rate_limit"},
		{func(f *api.Firewall) { f.ConfirmTimeout = "5m" }, "confirm_timeout"},
	} {
		f := ok
		f.Rules = []api.FirewallRule{ok.Rules[0]}
		c.mutate(&f)
		if err := f.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v; want an error naming %s", f, err, c.want)
		}
	}
	if !ok.AdmitsPort(22) || ok.AdmitsPort(23) || !ok.AdmitsPort(8080) {
		t.Error("AdmitsPort")
	}
}
