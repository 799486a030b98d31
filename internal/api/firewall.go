package api

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Firewall is /etc/steward/firewall/<name>.json, the spec of
// steward_firewall: the input chain of Steward's own nftables table,
// `inet steward`. No other table is ever read or written (Docker's, the
// distribution's), and a host has at most one steward_firewall.
type Firewall struct {
	Name string `json:"name"`
	// InputPolicy is what happens to input no rule accepts: "drop" or "accept".
	InputPolicy string `json:"input_policy"`
	// Established, Loopback and ICMP accept established/related traffic,
	// everything on lo, and ICMP/ICMPv6 before any rule.
	Established bool `json:"established"`
	Loopback    bool `json:"loopback"`
	ICMP        bool `json:"icmp"`
	// LogDrops logs what the policy drops, at most 5 a second, prefixed
	// "steward-drop: ".
	LogDrops bool           `json:"log_drops,omitempty"`
	Rules    []FirewallRule `json:"rules,omitempty"`
	// ConfirmTimeout is how long the host waits for a fresh login to
	// confirm a change before it puts the previous ruleset back.
	// Empty is DefaultConfirmTimeout.
	ConfirmTimeout string `json:"confirm_timeout,omitempty"`
}

// FirewallRule accepts input to ports from sources.
type FirewallRule struct {
	// Protocol is "tcp" or "udp".
	Protocol string `json:"protocol"`
	// Ports are port numbers or ranges ("22", "8000-8080").
	Ports []string `json:"ports"`
	// Sources are CIDRs (IPv4 or IPv6); none accepts from anywhere.
	Sources []string `json:"sources,omitempty"`
	// RateLimit caps new connections, "N/second" or "N/minute"; empty is none.
	RateLimit string `json:"rate_limit,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// FirewallObserved is what the host's `inet steward` table holds.
type FirewallObserved struct {
	// Present says whether the table exists.
	Present bool `json:"present"`
	// InSync says whether the live table is the one Steward loaded.
	InSync bool `json:"in_sync"`
	// Ruleset is the live table as `nft list table inet steward` prints it.
	Ruleset string `json:"ruleset,omitempty"`
	// Expected is the table as Steward loaded it, in the same listing.
	Expected string `json:"expected,omitempty"`
}

// FirewallKind is the managed-object kind of steward_firewall.
var FirewallKind = Kind[Firewall, FirewallObserved]{Name: "firewall", Dir: "firewall"}

// CodeFirewallConflict answers configure of a second steward_firewall on
// one host.
const CodeFirewallConflict = "firewall_conflict"

var (
	portPattern      = regexp.MustCompile(`^([0-9]{1,5})(?:-([0-9]{1,5}))?$`)
	rateLimitPattern = regexp.MustCompile(`^[1-9][0-9]{0,5}/(second|minute)$`)
)

// Validate checks the spec; errors name the attribute.
func (f Firewall) Validate() error {
	if err := ValidateObjectName(f.Name); err != nil {
		return err
	}
	if f.InputPolicy != "drop" && f.InputPolicy != "accept" {
		return fmt.Errorf("input_policy %q: want \"drop\" or \"accept\"", f.InputPolicy)
	}
	if _, err := f.ConfirmAfter(); err != nil {
		return err
	}
	for i, r := range f.Rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("rule[%d].%w", i, err)
		}
	}
	return nil
}

func (r FirewallRule) validate() error {
	if r.Protocol != "tcp" && r.Protocol != "udp" {
		return fmt.Errorf("protocol: %q: want \"tcp\" or \"udp\"", r.Protocol)
	}
	if len(r.Ports) == 0 {
		return fmt.Errorf("ports: want at least one port or range, e.g. \"22\" or \"8000-8080\"")
	}
	for _, p := range r.Ports {
		if _, _, err := ParsePortRange(p); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	for _, s := range r.Sources {
		if err := CheckCIDR(s); err != nil {
			return fmt.Errorf("sources: %w", err)
		}
	}
	if r.RateLimit != "" {
		if err := CheckRateLimit(r.RateLimit); err != nil {
			return fmt.Errorf("rate_limit: %w", err)
		}
	}
	if strings.ContainsAny(r.Comment, "\"\\\n\r") || len(r.Comment) > 128 {
		return fmt.Errorf("comment: at most 128 characters, without quotes, backslashes or newlines")
	}
	return nil
}

// CheckCIDR checks a firewall source.
func CheckCIDR(s string) error {
	if _, err := netip.ParsePrefix(s); err != nil {
		return fmt.Errorf("%q: want a CIDR such as \"192.0.2.0/24\" or \"2001:db8::/32\"", s)
	}
	return nil
}

// CheckRateLimit checks a firewall rule's rate limit.
func CheckRateLimit(s string) error {
	if !rateLimitPattern.MatchString(s) {
		return fmt.Errorf("%q: want \"N/second\" or \"N/minute\"", s)
	}
	return nil
}

// ParsePortRange parses "22" or "8000-8080".
func ParsePortRange(s string) (lo, hi int, err error) {
	m := portPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("%q: want a port (1-65535) or a range \"LOW-HIGH\"", s)
	}
	lo, _ = strconv.Atoi(m[1]) // digits only
	hi = lo
	if m[2] != "" {
		hi, _ = strconv.Atoi(m[2])
	}
	if lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, fmt.Errorf("%q: want a port (1-65535) or a range \"LOW-HIGH\" with LOW <= HIGH", s)
	}
	return lo, hi, nil
}

// AdmitsPort reports whether some rule accepts TCP to port from some
// source (any source, when it names none: the provider does not know the
// address the host sees it coming from).
func (f Firewall) AdmitsPort(port int) bool {
	if f.InputPolicy == "accept" {
		return true
	}
	return slices.ContainsFunc(f.Rules, func(r FirewallRule) bool {
		if r.Protocol != "tcp" {
			return false
		}
		return slices.ContainsFunc(r.Ports, func(p string) bool {
			lo, hi, err := ParsePortRange(p)
			return err == nil && lo <= port && port <= hi
		})
	})
}

// ConfirmAfter is ConfirmTimeout parsed.
func (f Firewall) ConfirmAfter() (time.Duration, error) {
	return ParseConfirmTimeout(f.ConfirmTimeout)
}

// ObjectName is the object's name.
func (f Firewall) ObjectName() string { return f.Name }
