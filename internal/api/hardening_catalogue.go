package api

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ControlInfo is one control of the catalogue: what the provider documents
// and checks at plan time, and what the agent checks and applies. The
// references follow the CIS Debian Linux 12 Benchmark (v1.1.0 numbering).
type ControlInfo struct {
	ID     string
	Title  string
	Family string // "sshd", "sysctl" or "files"
	Level  string // "baseline" or "strict"
	Refs   []string
	// Default is the expected value; Check validates an override.
	Default string
	Check   func(string) error
	// SSHD is the sshd_config keyword (family sshd); LastWins marks the
	// keywords for which sshd keeps the last value it reads, not the first
	// (MaxStartups, measured with sshd -T on Debian 12's OpenSSH 9.2).
	SSHD     string
	LastWins bool
	// Sysctl is the kernel parameter (family sysctl), e.g. "net.ipv4.tcp_syncookies".
	Sysctl string
	// Path, Mode, Owner and Group are the file's (family files): its mode
	// may have no bit outside Mode.
	Path         string
	Mode         uint32
	Owner, Group string
}

var (
	sshdWord   = regexp.MustCompile(`^[A-Za-z0-9_@.,:*!+-]+$`)
	sshdWords  = regexp.MustCompile(`^[A-Za-z0-9_@.,:*!+-]+( [A-Za-z0-9_@.,:*!+-]+)*$`)
	startupsRe = regexp.MustCompile(`^[0-9]+(:[0-9]+:[0-9]+)?$`)
)

func oneOfValues(vs ...string) func(string) error {
	return func(s string) error {
		for _, v := range vs {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("%q: want one of %q", s, vs)
	}
}

// upTo accepts a whole number from 1 to hi.
func upTo(hi int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > hi {
			return fmt.Errorf("%q: want a whole number from 1 to %d", s, hi)
		}
		return nil
	}
}

func pattern(re *regexp.Regexp, what string) func(string) error {
	return func(s string) error {
		if !re.MatchString(s) {
			return fmt.Errorf("%q: want %s", s, what)
		}
		return nil
	}
}

var (
	yesNo   = oneOfValues("yes", "no")
	zeroOne = oneOfValues("0", "1")
)

// Catalogue is every control the agent has, in report order.
var Catalogue = []ControlInfo{
	{ID: "sshd.permit_root_login", Title: "sshd: root cannot log in", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.20"},
		SSHD: "PermitRootLogin", Default: "no", Check: oneOfValues("no", "prohibit-password", "forced-commands-only", "yes")},
	{ID: "sshd.permit_empty_passwords", Title: "sshd: no empty passwords", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.19"},
		SSHD: "PermitEmptyPasswords", Default: "no", Check: yesNo},
	{ID: "sshd.permit_user_environment", Title: "sshd: users cannot set its environment", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.21"},
		SSHD: "PermitUserEnvironment", Default: "no", Check: yesNo},
	{ID: "sshd.hostbased_authentication", Title: "sshd: no host-based authentication", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.10"},
		SSHD: "HostbasedAuthentication", Default: "no", Check: yesNo},
	{ID: "sshd.ignore_rhosts", Title: "sshd: .rhosts files ignored", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.11"},
		SSHD: "IgnoreRhosts", Default: "yes", Check: yesNo},
	{ID: "sshd.gssapi_authentication", Title: "sshd: no GSSAPI authentication", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.9"},
		SSHD: "GSSAPIAuthentication", Default: "no", Check: yesNo},
	{ID: "sshd.disable_forwarding", Title: "sshd: no X11, agent or TCP forwarding", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.8"},
		SSHD: "DisableForwarding", Default: "yes", Check: yesNo},
	{ID: "sshd.use_pam", Title: "sshd: PAM on", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.22"},
		SSHD: "UsePAM", Default: "yes", Check: yesNo},
	{ID: "sshd.log_level", Title: "sshd: logs at INFO or VERBOSE", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.14"},
		SSHD: "LogLevel", Default: "VERBOSE", Check: oneOfValues("INFO", "VERBOSE")},
	{ID: "sshd.max_auth_tries", Title: "sshd: at most 4 authentication attempts", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.16"},
		SSHD: "MaxAuthTries", Default: "4", Check: upTo(10)},
	{ID: "sshd.max_sessions", Title: "sshd: at most 10 sessions a connection", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.17"},
		SSHD: "MaxSessions", Default: "10", Check: upTo(64)},
	{ID: "sshd.max_startups", Title: "sshd: unauthenticated connections limited", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.18"},
		SSHD: "MaxStartups", LastWins: true, Default: "10:30:60", Check: pattern(startupsRe, "N or START:RATE:FULL, e.g. \"10:30:60\"")},
	{ID: "sshd.login_grace_time", Title: "sshd: 60 s to log in", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.13"},
		SSHD: "LoginGraceTime", Default: "60", Check: upTo(60)},
	{ID: "sshd.client_alive_interval", Title: "sshd: idle sessions probed every 15 s", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.7"},
		SSHD: "ClientAliveInterval", Default: "15", Check: upTo(900)},
	{ID: "sshd.client_alive_count_max", Title: "sshd: dead sessions closed after 3 probes", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.7"},
		SSHD: "ClientAliveCountMax", Default: "3", Check: upTo(10)},
	{ID: "sshd.banner", Title: "sshd: a login banner", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.5"},
		SSHD: "Banner", Default: "/etc/issue.net", Check: pattern(sshdWord, "an absolute file path")},
	{ID: "sshd.allow_groups", Title: "sshd: only these groups log in", Family: "sshd", Level: "strict", Refs: []string{"CIS 5.1.4"},
		SSHD: "AllowGroups", Default: "", Check: pattern(sshdWords, "group names separated by spaces")},
	{ID: "sysctl.ip_forward", Title: "IPv4 forwarding off", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.1"},
		Sysctl: "net.ipv4.ip_forward", Default: "0", Check: zeroOne},
	{ID: "sysctl.send_redirects", Title: "ICMP redirects not sent", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.2"},
		Sysctl: "net.ipv4.conf.all.send_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.icmp_ignore_bogus_error_responses", Title: "bogus ICMP errors ignored", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.3"},
		Sysctl: "net.ipv4.icmp_ignore_bogus_error_responses", Default: "1", Check: zeroOne},
	{ID: "sysctl.icmp_echo_ignore_broadcasts", Title: "broadcast pings ignored", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.4"},
		Sysctl: "net.ipv4.icmp_echo_ignore_broadcasts", Default: "1", Check: zeroOne},
	{ID: "sysctl.accept_redirects", Title: "ICMP redirects not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.5"},
		Sysctl: "net.ipv4.conf.all.accept_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.secure_redirects", Title: "secure ICMP redirects not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.6"},
		Sysctl: "net.ipv4.conf.all.secure_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.rp_filter", Title: "reverse path filtering on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.7"},
		Sysctl: "net.ipv4.conf.all.rp_filter", Default: "1", Check: oneOfValues("1", "2")},
	{ID: "sysctl.accept_source_route", Title: "source-routed packets refused", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.8"},
		Sysctl: "net.ipv4.conf.all.accept_source_route", Default: "0", Check: zeroOne},
	{ID: "sysctl.log_martians", Title: "martian packets logged", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.9"},
		Sysctl: "net.ipv4.conf.all.log_martians", Default: "1", Check: zeroOne},
	{ID: "sysctl.tcp_syncookies", Title: "TCP SYN cookies on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.10"},
		Sysctl: "net.ipv4.tcp_syncookies", Default: "1", Check: zeroOne},
	{ID: "sysctl.randomize_va_space", Title: "address space layout randomisation on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.1"},
		Sysctl: "kernel.randomize_va_space", Default: "2", Check: oneOfValues("2")},
	{ID: "sysctl.ptrace_scope", Title: "ptrace restricted to descendants", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.2"},
		Sysctl: "kernel.yama.ptrace_scope", Default: "1", Check: oneOfValues("1", "2", "3")},
	{ID: "sysctl.suid_dumpable", Title: "no core dumps of setuid programs", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.3"},
		Sysctl: "fs.suid_dumpable", Default: "0", Check: zeroOne},
	{ID: "files.sshd_config", Title: "/etc/ssh/sshd_config is root's alone", Family: "files", Level: "baseline", Refs: []string{"CIS 5.1.1"},
		Path: "/etc/ssh/sshd_config", Mode: 0o600, Owner: "root", Group: "root"},
	{ID: "files.ssh_host_keys", Title: "sshd's private host keys are root's alone", Family: "files", Level: "baseline", Refs: []string{"CIS 5.1.2"},
		Path: "/etc/ssh/ssh_host_*_key", Mode: 0o600, Owner: "root", Group: "root"},
	{ID: "files.passwd", Title: "/etc/passwd is 0644 root:root", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.1"},
		Path: "/etc/passwd", Mode: 0o644, Owner: "root", Group: "root"},
	{ID: "files.group", Title: "/etc/group is 0644 root:root", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.3"},
		Path: "/etc/group", Mode: 0o644, Owner: "root", Group: "root"},
	{ID: "files.shadow", Title: "/etc/shadow is 0640 root:shadow", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.5"},
		Path: "/etc/shadow", Mode: 0o640, Owner: "root", Group: "shadow"},
	{ID: "files.gshadow", Title: "/etc/gshadow is 0640 root:shadow", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.7"},
		Path: "/etc/gshadow", Mode: 0o640, Owner: "root", Group: "shadow"},
}

// LookupControl returns the catalogue's control id.
func LookupControl(id string) (ControlInfo, bool) {
	for _, c := range Catalogue {
		if c.ID == id {
			return c, true
		}
	}
	return ControlInfo{}, false
}

// Expected is what profile p wants of control c: whether it is on and the
// value it expects.
func (p HardeningProfile) Expected(c ControlInfo) (on bool, value string) {
	on = c.Level == "baseline" || p.Level == "strict"
	value = c.Default
	if s, ok := p.Controls[c.ID]; ok {
		if s.Enabled != nil {
			on = *s.Enabled
		}
		if s.Value != "" {
			value = s.Value
		}
	}
	if c.Family == "sshd" && value == "" {
		on = false // a control with no value to set (allow_groups unset)
	}
	return on, value
}

// Disagreement is the first control that p and o, two profiles of one
// host, both have on with different values (catalogue order, then p's
// custom controls: the same id with another check or expected output), and
// what each wants, quoted for a message; the agent refuses the second at
// apply, the provider at plan.
func (p HardeningProfile) Disagreement(o HardeningProfile) (id, mine, theirs string, found bool) {
	for _, c := range Catalogue {
		on1, v1 := p.Expected(c)
		on2, v2 := o.Expected(c)
		if on1 && on2 && v1 != v2 {
			return c.ID, strconv.Quote(v1), strconv.Quote(v2), true
		}
	}
	for _, c := range p.CustomControls {
		for _, d := range o.CustomControls {
			if c.ID == d.ID && (c.Check != d.Check || strings.TrimSpace(c.Expected) != strings.TrimSpace(d.Expected)) {
				show := func(c CustomControl) string {
					return fmt.Sprintf("check %q printing %q", c.Check, strings.TrimSpace(c.Expected))
				}
				return c.ID, show(c), show(d), true
			}
		}
	}
	return "", "", "", false
}

// CheckControls checks the profile's overrides against the catalogue.
func (p HardeningProfile) CheckControls() error {
	for id, s := range p.Controls {
		c, ok := LookupControl(id)
		if !ok {
			return &Error{Code: CodeUnknownControl, Message: fmt.Sprintf("controls[%q]: no such control; the catalogue is in the hardening profile's docs", id)}
		}
		if s.Value != "" {
			if c.Check == nil {
				return fmt.Errorf("controls[%q].value: this control takes no value", id)
			}
			if err := c.Check(s.Value); err != nil {
				return fmt.Errorf("controls[%q].value: %w", id, err)
			}
		}
	}
	return nil
}
