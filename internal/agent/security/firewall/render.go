// Package firewall is the agent side of steward_firewall: the input chain
// of Steward's own nftables table, `inet steward`, loaded atomically with
// `nft -f`, validated first with `nft -c`, under confirm-or-revert
// (core.Guarded), and loaded again at boot by steward-firewall.service. No
// other table is read or written.
package firewall

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Table is the one table Steward owns.
const Table = "inet steward"

// replaceTable makes one `nft -f` transaction replace the table whole,
// whether or not it exists: create it empty, delete it, then define it.
const replaceTable = "table " + Table + " {}\ndelete table " + Table + "\n"

// Render is the ruleset file for spec: the whole table, replaced in one
// transaction.
func Render(spec api.Firewall) string {
	var b strings.Builder
	b.WriteString("# Written by steward-agent for steward_firewall " + spec.Name + "; edits are drift.\n")
	b.WriteString(replaceTable)
	b.WriteString("table " + Table + " {\n\tchain input {\n")
	fmt.Fprintf(&b, "\t\ttype filter hook input priority filter; policy %s;\n", spec.InputPolicy)
	if spec.Established {
		b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
	}
	if spec.Loopback {
		b.WriteString("\t\tiif \"lo\" accept\n")
	}
	if spec.ICMP {
		// By number: a minimal host has no /etc/protocols to resolve names.
		b.WriteString("\t\tmeta l4proto { 1, 58 } accept\n")
	}
	for _, r := range spec.Rules {
		for _, line := range ruleLines(r) {
			b.WriteString("\t\t" + line + "\n")
		}
	}
	if spec.LogDrops && spec.InputPolicy == "drop" {
		b.WriteString("\t\tlimit rate 5/second log prefix \"steward-drop: \"\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// ruleLines renders one rule: a line per address family of its sources
// (one line when it names none).
func ruleLines(r api.FirewallRule) []string {
	ports := strings.Join(r.Ports, ", ")
	tail := fmt.Sprintf("%s dport { %s }", r.Protocol, ports)
	if r.RateLimit != "" {
		tail += " ct state new limit rate " + r.RateLimit
	}
	tail += " accept"
	if r.Comment != "" {
		tail += fmt.Sprintf(" comment %q", r.Comment)
	}
	var v4, v6 []string
	for _, s := range r.Sources {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
			v4 = append(v4, p.Masked().String())
		} else if err == nil {
			v6 = append(v6, p.Masked().String())
		}
	}
	if len(v4) == 0 && len(v6) == 0 {
		return []string{tail}
	}
	var lines []string
	if len(v4) > 0 {
		lines = append(lines, fmt.Sprintf("ip saddr { %s } %s", strings.Join(v4, ", "), tail))
	}
	if len(v6) > 0 {
		lines = append(lines, fmt.Sprintf("ip6 saddr { %s } %s", strings.Join(v6, ", "), tail))
	}
	return lines
}
