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
	Family string // sshd, sysctl, files, homes, banner, shell, sudo, conf, pam, modules, services, packages
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
	// Key is the setting's leading words in Path (family conf), e.g.
	// "PASS_MAX_DAYS" in /etc/login.defs or "* hard core" in limits.conf;
	// Path may name more files after a space (globs, read in order: the
	// last line that sets Key wins). Sep is "=" for "key = value" files.
	Key, Sep string
	// Content is the whole file a banner or shell control writes at Path,
	// a format with the value as its one %s; empty is the value itself.
	Content string
	// Needs is a file the control needs on the host: without it the
	// control is not applicable, for the reason NeedsWhy.
	Needs, NeedsWhy string
	// Module is the kernel module (family modules) or the PAM module
	// (family pam, e.g. "pam_faillock.so").
	Module string
	// Units are systemd units that must be masked or absent (family
	// services); Packages Debian packages that must not be installed
	// (family packages).
	Units, Packages []string
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
	{ID: "sshd.max_auth_tries", Title: "sshd: at most 3 authentication attempts", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.16"},
		SSHD: "MaxAuthTries", Default: "3", Check: upTo(10)},
	{ID: "sshd.max_sessions", Title: "sshd: at most 10 sessions a connection", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.17"},
		SSHD: "MaxSessions", Default: "10", Check: upTo(64)},
	{ID: "sshd.max_startups", Title: "sshd: unauthenticated connections limited", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.18"},
		SSHD: "MaxStartups", LastWins: true, Default: "10:30:60", Check: pattern(startupsRe, "N or START:RATE:FULL, e.g. \"10:30:60\"")},
	{ID: "sshd.login_grace_time", Title: "sshd: 60 s to log in", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.13"},
		SSHD: "LoginGraceTime", Default: "60", Check: upTo(60)},
	{ID: "sshd.client_alive_interval", Title: "sshd: idle sessions probed every 15 s", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.7"},
		SSHD: "ClientAliveInterval", Default: "15", Check: upTo(900)},
	{ID: "sshd.client_alive_count_max", Title: "sshd: dead sessions closed after 2 probes", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.7"},
		SSHD: "ClientAliveCountMax", Default: "2", Check: upTo(10)},
	{ID: "sshd.banner", Title: "sshd: a login banner", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.5"},
		SSHD: "Banner", Default: "/etc/issue.net", Check: pattern(sshdWord, "an absolute file path")},
	{ID: "sshd.allow_groups", Title: "sshd: only these groups log in", Family: "sshd", Level: "strict", Refs: []string{"CIS 5.1.4"},
		SSHD: "AllowGroups", Default: "", Check: pattern(sshdWords, "group names separated by spaces")},
	{ID: "sysctl.ip_forward", Title: "IPv4 forwarding off", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.1", "ANSSI R12"},
		Sysctl: "net.ipv4.ip_forward", Default: "0", Check: zeroOne},
	{ID: "sysctl.send_redirects", Title: "ICMP redirects not sent", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.2", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.send_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.icmp_ignore_bogus_error_responses", Title: "bogus ICMP errors ignored", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.3", "ANSSI R12"},
		Sysctl: "net.ipv4.icmp_ignore_bogus_error_responses", Default: "1", Check: zeroOne},
	{ID: "sysctl.icmp_echo_ignore_broadcasts", Title: "broadcast pings ignored", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.4", "ANSSI R12"},
		Sysctl: "net.ipv4.icmp_echo_ignore_broadcasts", Default: "1", Check: zeroOne},
	{ID: "sysctl.accept_redirects", Title: "ICMP redirects not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.5", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.accept_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.secure_redirects", Title: "secure ICMP redirects not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.6", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.secure_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.rp_filter", Title: "reverse path filtering on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.7", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.rp_filter", Default: "1", Check: oneOfValues("1", "2")},
	{ID: "sysctl.accept_source_route", Title: "source-routed packets refused", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.8", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.accept_source_route", Default: "0", Check: zeroOne},
	{ID: "sysctl.log_martians", Title: "martian packets logged", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.9", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.all.log_martians", Default: "1", Check: zeroOne},
	{ID: "sysctl.tcp_syncookies", Title: "TCP SYN cookies on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.10", "ANSSI R12"},
		Sysctl: "net.ipv4.tcp_syncookies", Default: "1", Check: zeroOne},
	{ID: "sysctl.randomize_va_space", Title: "address space layout randomisation on", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.1", "ANSSI R9"},
		Sysctl: "kernel.randomize_va_space", Default: "2", Check: oneOfValues("2")},
	{ID: "sysctl.ptrace_scope", Title: "ptrace restricted to descendants", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.2", "ANSSI R9"},
		Sysctl: "kernel.yama.ptrace_scope", Default: "1", Check: oneOfValues("1", "2", "3")},
	{ID: "sysctl.suid_dumpable", Title: "no core dumps of setuid programs", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 1.5.3", "ANSSI R14"},
		Sysctl: "fs.suid_dumpable", Default: "0", Check: zeroOne},
	{ID: "files.sshd_config", Title: "/etc/ssh/sshd_config is root's alone", Family: "files", Level: "baseline", Refs: []string{"CIS 5.1.1"},
		Path: "/etc/ssh/sshd_config", Mode: 0o600, Owner: "root", Group: "root"},
	{ID: "files.ssh_host_keys", Title: "sshd's private host keys are root's alone", Family: "files", Level: "baseline", Refs: []string{"CIS 5.1.2"},
		Path: "/etc/ssh/ssh_host_*_key", Mode: 0o600, Owner: "root", Group: "root"},
	{ID: "files.passwd", Title: "/etc/passwd is 0644 root:root", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.1", "ANSSI R50"},
		Path: "/etc/passwd", Mode: 0o644, Owner: "root", Group: "root"},
	{ID: "files.group", Title: "/etc/group is 0644 root:root", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.3", "ANSSI R50"},
		Path: "/etc/group", Mode: 0o644, Owner: "root", Group: "root"},
	{ID: "files.shadow", Title: "/etc/shadow is 0640 root:shadow", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.5", "ANSSI R50"},
		Path: "/etc/shadow", Mode: 0o640, Owner: "root", Group: "shadow"},
	{ID: "files.gshadow", Title: "/etc/gshadow is 0640 root:shadow", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.7", "ANSSI R50"},
		Path: "/etc/gshadow", Mode: 0o640, Owner: "root", Group: "shadow"},
}

func init() { Catalogue = append(Catalogue, moreControls...) }

var (
	cipherList = regexp.MustCompile(`^[a-z0-9@.-]+(,[a-z0-9@.-]+)*$`)
	octalMask  = regexp.MustCompile(`^0?[0-7]{3}$`)
	bannerText = regexp.MustCompile(`^[^\\]*$`)
	limitValue = regexp.MustCompile(`^([0-9]+|unlimited)$`)
)

// Kernel modules that no server of the baseline loads (CIS 1.1.1.x
// file systems, 3.2.x network protocols).
func module(name, ref, level string) ControlInfo {
	return ControlInfo{ID: "modules." + strings.ReplaceAll(name, "-", "_"), Title: "kernel module " + name + " cannot be loaded",
		Family: "modules", Level: level, Refs: []string{ref, "ANSSI R10"}, Module: name, Default: "denied"}
}

// Services that must be masked, or not installed (CIS 2.1.x).
func service(id, ref, level string, units ...string) ControlInfo {
	return ControlInfo{ID: "services." + id, Title: strings.Join(units, ", ") + " masked or not installed",
		Family: "services", Level: level, Refs: []string{ref, "ANSSI R62"}, Units: units, Default: "masked"}
}

// Packages that must not be installed (CIS 2.2.x, 1.5.4–1.5.5).
func denyPackage(id, ref, level string, pkgs ...string) ControlInfo {
	return ControlInfo{ID: "packages." + id, Title: strings.Join(pkgs, ", ") + " not installed",
		Family: "packages", Level: level, Refs: []string{ref, "ANSSI R58"}, Packages: pkgs, Default: "absent"}
}

// A setting in a configuration file (family conf).
func conf(id, title string, refs []string, path, key, sep, def string, check func(string) error) ControlInfo {
	return ControlInfo{ID: id, Title: title, Family: "conf", Level: "baseline", Refs: refs, Path: path, Key: key, Sep: sep, Default: def, Check: check}
}

func file(id, title, ref, path string, mode uint32) ControlInfo {
	return ControlInfo{ID: id, Title: title, Family: "files", Level: "baseline", Refs: []string{ref}, Path: path, Mode: mode, Owner: "root", Group: "root"}
}

const (
	loginDefs = "/etc/login.defs"
	pwquality = "/etc/security/pwquality.conf /etc/security/pwquality.conf.d/*.conf"
	faillock  = "/etc/security/faillock.conf"
	pwhistory = "/etc/security/pwhistory.conf"
	limits    = "/etc/security/limits.conf /etc/security/limits.d/*.conf"
	coredump  = "/etc/systemd/coredump.conf /etc/systemd/coredump.conf.d/*.conf"
	// DefaultBanner is the login banners' text: a warning, and nothing
	// about the system (CIS 1.6.1–1.6.3).
	DefaultBanner = "Authorized access only. Activity on this system is monitored and recorded; unauthorized use is prohibited and subject to criminal prosecution."
)

var moreControls = []ControlInfo{
	{ID: "sshd.ciphers", Title: "sshd: only strong ciphers", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.6"},
		SSHD: "Ciphers", Default: "aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
		Check: pattern(cipherList, "algorithm names separated by commas")},
	{ID: "sshd.macs", Title: "sshd: only strong MACs", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.15"},
		SSHD: "MACs", Default: "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512,hmac-sha2-256",
		Check: pattern(cipherList, "algorithm names separated by commas")},
	{ID: "sshd.kex_algorithms", Title: "sshd: only strong key exchanges", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.12"},
		SSHD: "KexAlgorithms", Default: "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp521,ecdh-sha2-nistp384,ecdh-sha2-nistp256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256",
		Check: pattern(cipherList, "algorithm names separated by commas")},
	{ID: "sshd.x11_forwarding", Title: "sshd: no X11 forwarding", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.8"},
		SSHD: "X11Forwarding", Default: "no", Check: yesNo},
	{ID: "sshd.allow_tcp_forwarding", Title: "sshd: no TCP forwarding", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.8"},
		SSHD: "AllowTcpForwarding", Default: "no", Check: oneOfValues("no", "yes", "local", "remote")},
	{ID: "sshd.allow_agent_forwarding", Title: "sshd: no agent forwarding", Family: "sshd", Level: "baseline", Refs: []string{"CIS 5.1.8"},
		SSHD: "AllowAgentForwarding", Default: "no", Check: yesNo},
	{ID: "sshd.password_authentication", Title: "sshd: keys only, no passwords", Family: "sshd", Level: "strict",
		SSHD: "PasswordAuthentication", Default: "no", Check: yesNo},
	{ID: "sshd.compression", Title: "sshd: no compression", Family: "sshd", Level: "baseline",
		SSHD: "Compression", Default: "no", Check: oneOfValues("no", "yes", "delayed")},
	{ID: "sshd.tcp_keep_alive", Title: "sshd: no TCP keepalives (ClientAlive probes instead)", Family: "sshd", Level: "baseline",
		SSHD: "TCPKeepAlive", Default: "no", Check: yesNo},

	{ID: "sysctl.ipv6_accept_redirects", Title: "IPv6 redirects not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.5", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.all.accept_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.ipv6_accept_source_route", Title: "IPv6 source-routed packets refused", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.8", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.all.accept_source_route", Default: "0", Check: zeroOne},
	{ID: "sysctl.ipv6_accept_ra", Title: "IPv6 router advertisements not accepted", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.11", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.all.accept_ra", Default: "0", Check: zeroOne},
	{ID: "sysctl.ipv6_forwarding", Title: "IPv6 forwarding off", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.1", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.all.forwarding", Default: "0", Check: zeroOne},
	// CIS 3.3 sets each network parameter for all interfaces and as the
	// default of interfaces created later: the default keys.
	{ID: "sysctl.send_redirects_default", Title: "ICMP redirects not sent (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.2", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.send_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.accept_redirects_default", Title: "ICMP redirects not accepted (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.5", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.accept_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.secure_redirects_default", Title: "secure ICMP redirects not accepted (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.6", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.secure_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.rp_filter_default", Title: "reverse path filtering on (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.7", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.rp_filter", Default: "1", Check: oneOfValues("1", "2")},
	{ID: "sysctl.accept_source_route_default", Title: "source-routed packets refused (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.8", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.accept_source_route", Default: "0", Check: zeroOne},
	{ID: "sysctl.log_martians_default", Title: "martian packets logged (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.9", "ANSSI R12"},
		Sysctl: "net.ipv4.conf.default.log_martians", Default: "1", Check: zeroOne},
	{ID: "sysctl.ipv6_accept_redirects_default", Title: "IPv6 redirects not accepted (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.5", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.default.accept_redirects", Default: "0", Check: zeroOne},
	{ID: "sysctl.ipv6_accept_source_route_default", Title: "IPv6 source-routed packets refused (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.8", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.default.accept_source_route", Default: "0", Check: zeroOne},
	{ID: "sysctl.ipv6_accept_ra_default", Title: "IPv6 router advertisements not accepted (new interfaces)", Family: "sysctl", Level: "baseline", Refs: []string{"CIS 3.3.11", "ANSSI R13"},
		Sysctl: "net.ipv6.conf.default.accept_ra", Default: "0", Check: zeroOne},
	{ID: "sysctl.dmesg_restrict", Title: "kernel log readable by root only", Family: "sysctl", Level: "strict", Refs: []string{"ANSSI R9"},
		Sysctl: "kernel.dmesg_restrict", Default: "1", Check: zeroOne},
	{ID: "sysctl.kptr_restrict", Title: "kernel addresses hidden", Family: "sysctl", Level: "strict", Refs: []string{"ANSSI R9"},
		Sysctl: "kernel.kptr_restrict", Default: "2", Check: oneOfValues("1", "2")},
	{ID: "sysctl.protected_symlinks", Title: "symlinks in sticky directories protected", Family: "sysctl", Level: "strict", Refs: []string{"ANSSI R14"},
		Sysctl: "fs.protected_symlinks", Default: "1", Check: zeroOne},
	{ID: "sysctl.protected_hardlinks", Title: "hard links to others' files refused", Family: "sysctl", Level: "strict", Refs: []string{"ANSSI R14"},
		Sysctl: "fs.protected_hardlinks", Default: "1", Check: zeroOne},

	{ID: "files.ssh_host_public_keys", Title: "sshd's public host keys are 0644 root:root or stricter", Family: "files", Level: "baseline", Refs: []string{"CIS 5.1.3"},
		Path: "/etc/ssh/ssh_host_*_key.pub", Mode: 0o644, Owner: "root", Group: "root"},
	file("files.passwd_backup", "/etc/passwd- is 0644 root:root or stricter", "CIS 7.1.2", "/etc/passwd-", 0o644),
	file("files.group_backup", "/etc/group- is 0644 root:root or stricter", "CIS 7.1.4", "/etc/group-", 0o644),
	{ID: "files.shadow_backup", Title: "/etc/shadow- is 0640 root:shadow or stricter", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.6"},
		Path: "/etc/shadow-", Mode: 0o640, Owner: "root", Group: "shadow"},
	{ID: "files.gshadow_backup", Title: "/etc/gshadow- is 0640 root:shadow or stricter", Family: "files", Level: "baseline", Refs: []string{"CIS 7.1.8"},
		Path: "/etc/gshadow-", Mode: 0o640, Owner: "root", Group: "shadow"},
	file("files.shells", "/etc/shells is 0644 root:root or stricter", "CIS 7.1.9", "/etc/shells", 0o644),
	file("files.opasswd", "/etc/security/opasswd is 0600 root:root or stricter", "CIS 7.1.10", "/etc/security/opasswd", 0o600),
	file("files.crontab", "/etc/crontab is root's alone", "CIS 2.4.1.2", "/etc/crontab", 0o600),
	file("files.cron_hourly", "/etc/cron.hourly is root's alone", "CIS 2.4.1.3", "/etc/cron.hourly", 0o700),
	file("files.cron_daily", "/etc/cron.daily is root's alone", "CIS 2.4.1.4", "/etc/cron.daily", 0o700),
	file("files.cron_weekly", "/etc/cron.weekly is root's alone", "CIS 2.4.1.5", "/etc/cron.weekly", 0o700),
	file("files.cron_monthly", "/etc/cron.monthly is root's alone", "CIS 2.4.1.6", "/etc/cron.monthly", 0o700),
	file("files.cron_d", "/etc/cron.d is root's alone", "CIS 2.4.1.7", "/etc/cron.d", 0o700),
	file("files.motd", "/etc/motd is 0644 root:root or stricter", "CIS 1.6.4", "/etc/motd", 0o644),
	file("files.issue", "/etc/issue is 0644 root:root or stricter", "CIS 1.6.5", "/etc/issue", 0o644),
	file("files.issue_net", "/etc/issue.net is 0644 root:root or stricter", "CIS 1.6.6", "/etc/issue.net", 0o644),
	{ID: "homes.permissions", Title: "interactive users' home directories are their own, 0750 or stricter", Family: "homes", Level: "baseline",
		Refs: []string{"CIS 7.2.9", "ANSSI R50"}, Mode: 0o750},

	{ID: "banner.motd", Title: "/etc/motd warns and says nothing of the system", Family: "banner", Level: "baseline", Refs: []string{"CIS 1.6.1"},
		Path: "/etc/motd", Default: DefaultBanner, Check: pattern(bannerText, "one line of text without backslash escapes")},
	{ID: "banner.issue", Title: "/etc/issue warns and says nothing of the system", Family: "banner", Level: "baseline", Refs: []string{"CIS 1.6.2"},
		Path: "/etc/issue", Default: DefaultBanner, Check: pattern(bannerText, "one line of text without backslash escapes")},
	{ID: "banner.issue_net", Title: "/etc/issue.net warns and says nothing of the system", Family: "banner", Level: "baseline", Refs: []string{"CIS 1.6.3"},
		Path: "/etc/issue.net", Default: DefaultBanner, Check: pattern(bannerText, "one line of text without backslash escapes")},

	{ID: "accounts.shell_timeout", Title: "idle login shells end after 15 minutes (TMOUT)", Family: "shell", Level: "baseline",
		Refs: []string{"CIS 5.4.3.2", "ANSSI R32"}, Path: "/etc/profile.d/60-steward-timeout.sh", Default: "900", Check: upTo(900),
		Content: "# Written by steward-agent for steward_hardening_profile; edits are drift.\nTMOUT=%s\nreadonly TMOUT\nexport TMOUT"},
	{ID: "sudo.use_pty", Title: "sudo runs commands in a pseudo-terminal", Family: "sudo", Level: "baseline", Refs: []string{"CIS 5.2.2", "ANSSI R38"},
		Key: "use_pty", Default: "yes", Check: yesNo, Needs: "/usr/bin/sudo", NeedsWhy: "sudo is not installed"},
	{ID: "sudo.logfile", Title: "sudo logs to its own file", Family: "sudo", Level: "baseline", Refs: []string{"CIS 5.2.3", "ANSSI R38"},
		Key: "logfile", Default: "/var/log/sudo.log", Check: pattern(regexp.MustCompile(`^/[A-Za-z0-9_./-]+$`), "an absolute file path"),
		Needs: "/usr/bin/sudo", NeedsWhy: "sudo is not installed"},
	{ID: "sudo.timestamp_timeout", Title: "sudo asks again after 15 minutes", Family: "sudo", Level: "baseline", Refs: []string{"CIS 5.2.6", "ANSSI R38"},
		Key: "timestamp_timeout", Default: "15", Check: upTo(15), Needs: "/usr/bin/sudo", NeedsWhy: "sudo is not installed"},
	conf("accounts.pass_max_days", "passwords expire after 365 days", []string{"CIS 5.4.1.1", "ANSSI R31"},
		loginDefs, "PASS_MAX_DAYS", "", "365", upTo(365)),
	conf("accounts.pass_min_days", "a password is kept at least a day", []string{"CIS 5.4.1.2", "ANSSI R31"},
		loginDefs, "PASS_MIN_DAYS", "", "1", upTo(30)),
	conf("accounts.pass_warn_age", "a week's warning before a password expires", []string{"CIS 5.4.1.3", "ANSSI R31"},
		loginDefs, "PASS_WARN_AGE", "", "7", upTo(30)),
	conf("accounts.encrypt_method", "passwords hashed with yescrypt or SHA-512", []string{"CIS 5.4.1.4", "ANSSI R68"},
		loginDefs, "ENCRYPT_METHOD", "", "YESCRYPT", oneOfValues("YESCRYPT", "SHA512")),
	conf("accounts.umask", "new files are not readable by others (umask 027)", []string{"CIS 5.4.3.3", "ANSSI R36"},
		loginDefs, "UMASK", "", "027", pattern(octalMask, "an octal umask such as \"027\"")),

	{ID: "pam.pwquality", Title: "PAM: pam_pwquality checks new passwords", Family: "pam", Level: "baseline", Refs: []string{"CIS 5.3.2.3", "ANSSI R67"},
		Module: "pam_pwquality.so", Path: "/etc/pam.d/common-password", Default: "enabled", Needs: "/usr/share/pam-configs/pwquality", NeedsWhy: "libpam-pwquality is not installed"},
	{ID: "pam.pwhistory", Title: "PAM: pam_pwhistory refuses reused passwords", Family: "pam", Level: "baseline", Refs: []string{"CIS 5.3.2.4", "ANSSI R67"},
		Module: "pam_pwhistory.so", Path: "/etc/pam.d/common-password", Default: "enabled"},
	{ID: "pam.faillock", Title: "PAM: pam_faillock locks an account after failed logins", Family: "pam", Level: "baseline", Refs: []string{"CIS 5.3.2.2", "ANSSI R67"},
		Module: "pam_faillock.so", Path: "/etc/pam.d/common-auth /etc/pam.d/common-account", Default: "enabled"},
	conf("pam.pwquality_minlen", "passwords of at least 14 characters", []string{"CIS 5.3.3.2.2", "ANSSI R31"},
		pwquality, "minlen", "=", "14", upTo(128)),
	conf("pam.pwquality_difok", "a new password differs in at least 2 characters", []string{"CIS 5.3.3.2.1"},
		pwquality, "difok", "=", "2", upTo(32)),
	conf("pam.pwquality_minclass", "passwords mix 3 classes of characters", []string{"CIS 5.3.3.2.3", "ANSSI R31"},
		pwquality, "minclass", "=", "3", upTo(4)),
	conf("pam.pwquality_maxrepeat", "at most 3 same characters in a row", []string{"CIS 5.3.3.2.4"},
		pwquality, "maxrepeat", "=", "3", upTo(32)),
	conf("pam.pwquality_maxsequence", "at most 3 characters in sequence", []string{"CIS 5.3.3.2.5"},
		pwquality, "maxsequence", "=", "3", upTo(32)),
	conf("pam.pwquality_dictcheck", "no dictionary words", []string{"CIS 5.3.3.2.6"},
		pwquality, "dictcheck", "=", "1", oneOfValues("1")),
	conf("pam.pwquality_enforcing", "weak passwords refused, not only warned of", []string{"CIS 5.3.3.2.7"},
		pwquality, "enforcing", "=", "1", oneOfValues("1")),
	conf("pam.pwhistory_remember", "the last 24 passwords cannot be reused", []string{"CIS 5.3.3.3.1"},
		pwhistory, "remember", "=", "24", upTo(400)),
	conf("pam.faillock_deny", "an account locks after 5 failed logins", []string{"CIS 5.3.3.1.1"},
		faillock, "deny", "=", "5", upTo(5)),
	conf("pam.faillock_unlock_time", "a locked account unlocks after 15 minutes", []string{"CIS 5.3.3.1.2"},
		faillock, "unlock_time", "=", "900", pattern(regexp.MustCompile(`^(0|9[0-9][0-9]|[1-9][0-9]{3,5})$`), "0 (never) or at least 900 seconds")),

	conf("coredump.limits", "no core dumps (hard limit 0)", []string{"CIS 1.5.3", "ANSSI R14"},
		limits, "* hard core", "", "0", pattern(limitValue, "a number of blocks or \"unlimited\"")),
	{ID: "coredump.storage", Title: "systemd-coredump stores no core dumps", Family: "conf", Level: "baseline", Refs: []string{"CIS 1.5.3"},
		Path: coredump, Key: "Storage", Sep: "=", Default: "none", Check: oneOfValues("none", "external", "journal"),
		Needs: "/lib/systemd/systemd-coredump", NeedsWhy: "systemd-coredump is not installed"},
	{ID: "coredump.process_size_max", Title: "systemd-coredump processes no core dumps", Family: "conf", Level: "baseline", Refs: []string{"CIS 1.5.3"},
		Path: coredump, Key: "ProcessSizeMax", Sep: "=", Default: "0", Check: pattern(regexp.MustCompile(`^[0-9]+[KMG]?$`), "a size such as 0 or 2G"),
		Needs: "/lib/systemd/systemd-coredump", NeedsWhy: "systemd-coredump is not installed"},

	module("cramfs", "CIS 1.1.1.1", "baseline"),
	module("freevxfs", "CIS 1.1.1.2", "baseline"),
	module("hfs", "CIS 1.1.1.3", "baseline"),
	module("hfsplus", "CIS 1.1.1.4", "baseline"),
	module("jffs2", "CIS 1.1.1.5", "baseline"),
	module("overlay", "CIS 1.1.1.6", "strict"),
	module("squashfs", "CIS 1.1.1.7", "strict"),
	module("udf", "CIS 1.1.1.8", "baseline"),
	module("usb-storage", "CIS 1.1.1.9", "baseline"),
	module("dccp", "CIS 3.2.1", "baseline"),
	module("tipc", "CIS 3.2.2", "baseline"),
	module("rds", "CIS 3.2.3", "baseline"),
	module("sctp", "CIS 3.2.4", "baseline"),

	service("autofs", "CIS 2.1.1", "baseline", "autofs.service"),
	service("avahi", "CIS 2.1.2", "baseline", "avahi-daemon.socket", "avahi-daemon.service"),
	service("dhcp_server", "CIS 2.1.3", "baseline", "isc-dhcp-server.service", "isc-dhcp-server6.service"),
	service("dns_server", "CIS 2.1.4", "baseline", "named.service"),
	service("dnsmasq", "CIS 2.1.5", "baseline", "dnsmasq.service"),
	service("ftp_server", "CIS 2.1.6", "baseline", "vsftpd.service"),
	service("ldap_server", "CIS 2.1.7", "baseline", "slapd.service"),
	service("mail_access", "CIS 2.1.8", "baseline", "dovecot.socket", "dovecot.service"),
	service("nfs_server", "CIS 2.1.9", "baseline", "nfs-server.service"),
	service("nis_server", "CIS 2.1.10", "baseline", "ypserv.service"),
	service("cups", "CIS 2.1.11", "baseline", "cups.socket", "cups.service"),
	service("rpcbind", "CIS 2.1.12", "baseline", "rpcbind.socket", "rpcbind.service"),
	service("rsync", "CIS 2.1.13", "baseline", "rsync.service"),
	service("samba", "CIS 2.1.14", "baseline", "smbd.service"),
	service("snmp", "CIS 2.1.15", "baseline", "snmpd.service"),
	service("tftp", "CIS 2.1.16", "baseline", "tftpd-hpa.service"),
	service("web_proxy", "CIS 2.1.17", "baseline", "squid.service"),
	service("web_server", "CIS 2.1.18", "strict", "apache2.service", "nginx.service"),
	service("xinetd", "CIS 2.1.19", "baseline", "xinetd.service"),

	denyPackage("nis", "CIS 2.2.1", "baseline", "nis"),
	denyPackage("rsh_client", "CIS 2.2.2", "baseline", "rsh-client", "rsh-redone-client"),
	denyPackage("talk", "CIS 2.2.3", "baseline", "talk"),
	denyPackage("telnet", "CIS 2.2.4", "baseline", "telnet", "inetutils-telnet"),
	denyPackage("ldap_client", "CIS 2.2.5", "baseline", "ldap-utils"),
	denyPackage("ftp_client", "CIS 2.2.6", "baseline", "ftp", "tnftp"),
	denyPackage("prelink", "CIS 1.5.4", "baseline", "prelink"),
	denyPackage("apport", "CIS 1.5.5", "baseline", "apport"),
	denyPackage("x_server", "CIS 2.1.20", "strict", "xserver-common"),
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
			on = on || s.Enabled == nil // a value given switches a strict control on
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
