package api

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LogForward is /etc/steward/log_forward/<name>.json, the spec of
// steward_log_forward: journald entries and named log files sent to one
// syslog receiver as RFC 5424 messages, at least once.
type LogForward struct {
	Name string `json:"name"`
	// Journal forwards journald entries; nil forwards none.
	Journal *LogJournal `json:"journal,omitempty"`
	// Files are log files followed across rotation.
	Files  []LogFile `json:"files,omitempty"`
	Target LogTarget `json:"target"`
	// StartAt says where a source without a saved position begins: "end"
	// (the default: only what is logged from now on) or "beginning" (all
	// of the journal, each file from its first byte). A saved position
	// always wins, so a restart neither skips nor repeats.
	StartAt string `json:"start_at,omitempty"`
	// Hostname is the HOSTNAME of every message; empty takes the entry's
	// _HOSTNAME for journald and the host's name for files.
	Hostname string `json:"hostname,omitempty"`
}

// LogJournal selects journald entries. An entry is sent when it matches
// one of Units (if any are given) and one of Identifiers (if any are
// given) and is at Priority or more severe: journalctl's own --unit,
// --identifier and --priority semantics.
type LogJournal struct {
	// Units are systemd unit names or journalctl globs ("nginx.service", "app-*").
	Units []string `json:"units,omitempty"`
	// Identifiers are SYSLOG_IDENTIFIER values ("sshd", "CRON").
	Identifiers []string `json:"identifiers,omitempty"`
	// Priority is a syslog severity name (SyslogSeverities); empty sends all.
	Priority string `json:"priority,omitempty"`
}

// LogFile is one log file, followed by inode and offset: a file renamed
// away and created anew, or copied and truncated, is followed without loss.
type LogFile struct {
	Path string `json:"path"` // Absolute.
	// Tag is the messages' APP-NAME; empty takes the file's base name.
	Tag string `json:"tag,omitempty"`
	// Facility and Severity make the messages' PRI; empty are "local0" and
	// "notice", as rsyslog's imfile has them.
	Facility string `json:"facility,omitempty"`
	Severity string `json:"severity,omitempty"`
}

// LogTarget is the syslog receiver.
type LogTarget struct {
	Address string `json:"address"` // host:port.
	// Protocol is "tcp" (RFC 6587 octet counting), "tls" (the same over
	// TLS, RFC 5425) or "udp" (RFC 5426, one message per datagram, no
	// delivery guarantee).
	Protocol string `json:"protocol"`
	// CAFile is the CA certificate(s) (PEM, on the host) the receiver's
	// certificate must chain to; required with "tls". The system's roots
	// are never consulted: the CA is pinned.
	CAFile string `json:"ca_file,omitempty"`
	// ServerName is the name the receiver's certificate must carry; empty
	// takes the host part of Address.
	ServerName string `json:"server_name,omitempty"`
	// CertFile and KeyFile (PEM, on the host, readable by root only) are
	// the client certificate for receivers that authenticate senders.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// MaxMessageBytes bounds one message (header and text); longer text
	// is cut at a UTF-8 boundary. Zero means 8192 over TCP and TLS (what
	// rsyslog accepts by default) and 2048 over UDP (RFC 5426).
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
}

// Log target protocols.
const (
	LogProtocolTCP = "tcp"
	LogProtocolTLS = "tls"
	LogProtocolUDP = "udp"
)

// LogProtocols lists the accepted LogTarget.Protocol values.
var LogProtocols = []string{LogProtocolTCP, LogProtocolTLS, LogProtocolUDP}

// Log start positions.
const (
	LogStartEnd       = "end"
	LogStartBeginning = "beginning"
)

// LogStartPositions lists the accepted LogForward.StartAt values.
var LogStartPositions = []string{LogStartEnd, LogStartBeginning}

// SyslogSeverities are the RFC 5424 severity names, indexed by their code.
var SyslogSeverities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// SyslogFacilities are the RFC 5424 facility names, indexed by their code.
var SyslogFacilities = []string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// Bounds of LogTarget.MaxMessageBytes: RFC 5424 §6.1 has every receiver
// accept 480 octets; a UDP datagram carries at most 65507.
const (
	LogMinMessageBytes = 480
	LogMaxMessageBytes = 65507
)

// LogForwardKind is the managed-object kind of steward_log_forward: the
// methods log_forward.configure, log_forward.remove and log_forward.status,
// and the files /etc/steward/log_forward/<name>.json.
var LogForwardKind = Kind[LogForward, LogForwardObserved]{Name: "log_forward", Dir: "log_forward"}

// LogForwardObserved is what log_forward.status (and `steward-agent logs
// status`) reports of a forwarder.
type LogForwardObserved struct {
	// Connected says whether a connection to the receiver is open now.
	Connected bool `json:"connected"`
	// LinesSent counts the lines the receiver acknowledged since the
	// forwarder started (a line sent again after a reconnect counts twice).
	LinesSent   uint64    `json:"lines_sent"`
	LastSentAt  time.Time `json:"last_sent_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Sources has one entry per source: the journal first, then the files
	// in spec order.
	Sources []LogSourceStatus `json:"sources"`
}

// LogSourceStatus is one source of a forwarder: its saved position (what
// the receiver acknowledged) and how far behind it is.
type LogSourceStatus struct {
	Source string `json:"source"` // "journal", or the file's path.
	// Cursor is the journald cursor of the last acknowledged entry.
	Cursor string `json:"cursor,omitempty"`
	// Inode and Offset are the file and the byte after the last
	// acknowledged line.
	Inode  uint64 `json:"inode,omitempty"`
	Offset int64  `json:"offset,omitempty"`
	// BacklogBytes is how much of a file is not acknowledged yet: its size
	// past Offset (plus what is left of a rotated file being finished).
	BacklogBytes int64 `json:"backlog_bytes,omitempty"`
	// LagSeconds is the age of the oldest line read but not acknowledged,
	// zero when every line read was; a receiver that is down makes it grow.
	LagSeconds float64   `json:"lag_seconds"`
	LinesSent  uint64    `json:"lines_sent"`
	LastSentAt time.Time `json:"last_sent_at,omitzero"`
	// LastError is the source's own last failure (journalctl exiting, a
	// file that cannot be read), cleared when it reads again.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// ObjectName is the forwarder's name.
func (l LogForward) ObjectName() string { return l.Name }

// Render is the exact content of the forwarder's configuration file.
func (l LogForward) Render() []byte { return RenderSpec(l) }

// Unit names and globs as journalctl --unit takes them (systemd's unit name
// characters plus glob characters); syslog fields as RFC 5424 PRINTUSASCII.
var (
	unitPattern      = regexp.MustCompile(`^[A-Za-z0-9:_.\\@*?\[\]-]{1,256}$`)
	printUSASCIIOnly = regexp.MustCompile(`^[\x21-\x7e]+$`)
)

// Validate checks the spec strictly, naming the attribute at fault and what
// it accepts: the agent turns it into a journalctl argument list, file
// opens and a connection.
func (l LogForward) Validate() error {
	if err := ValidateObjectName(l.Name); err != nil {
		return err
	}
	if l.Journal == nil && len(l.Files) == 0 {
		return fmt.Errorf("log forward %q: want a journal block or at least one file", l.Name)
	}
	if l.Journal != nil {
		if err := l.Journal.validate(); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, f := range l.Files {
		if err := f.validate(fmt.Sprintf("files[%d]", i)); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("files[%d].path %q: listed twice", i, f.Path)
		}
		seen[f.Path] = true
	}
	if err := l.Target.validate(); err != nil {
		return err
	}
	if l.StartAt != "" && !slices.Contains(LogStartPositions, l.StartAt) {
		return fmt.Errorf("start_at %q: want one of %s", l.StartAt, quoteList(LogStartPositions))
	}
	if l.Hostname != "" {
		if err := checkSyslogField("hostname", l.Hostname, 255); err != nil {
			return err
		}
	}
	return nil
}

func (j LogJournal) validate() error {
	for i, u := range j.Units {
		if !unitPattern.MatchString(u) || strings.HasPrefix(u, "-") {
			return fmt.Errorf("journal.units[%d] %q: want a unit name or glob of A-Z, a-z, 0-9 and :_.\\@-*?[], not starting with -", i, u)
		}
	}
	for i, id := range j.Identifiers {
		if len(id) > 128 || !printUSASCIIOnly.MatchString(id) || strings.HasPrefix(id, "-") {
			return fmt.Errorf("journal.identifiers[%d] %q: want 1 to 128 printable ASCII characters without spaces, not starting with -", i, id)
		}
	}
	if j.Priority != "" && !slices.Contains(SyslogSeverities, j.Priority) {
		return fmt.Errorf("journal.priority %q: want one of %s", j.Priority, quoteList(SyslogSeverities))
	}
	return nil
}

func (f LogFile) validate(at string) error {
	if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path || f.Path == "/" || len(f.Path) > 4096 {
		return fmt.Errorf("%s.path %q: want an absolute, clean path of a file (no trailing /, . or ..)", at, f.Path)
	}
	if f.Tag != "" {
		if err := checkSyslogField(at+".tag", f.Tag, 48); err != nil {
			return err
		}
	}
	if f.Facility != "" && !slices.Contains(SyslogFacilities, f.Facility) {
		return fmt.Errorf("%s.facility %q: want one of %s", at, f.Facility, quoteList(SyslogFacilities))
	}
	if f.Severity != "" && !slices.Contains(SyslogSeverities, f.Severity) {
		return fmt.Errorf("%s.severity %q: want one of %s", at, f.Severity, quoteList(SyslogSeverities))
	}
	return nil
}

func (t LogTarget) validate() error {
	host, port, err := net.SplitHostPort(t.Address)
	if err != nil || host == "" {
		return fmt.Errorf("target.address %q: want host:port, e.g. \"logs.example.com:6514\" or \"[2001:db8::1]:514\"", t.Address)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("target.address %q: want a port from 1 to 65535", t.Address)
	}
	if !slices.Contains(LogProtocols, t.Protocol) {
		return fmt.Errorf("target.protocol %q: want one of %s", t.Protocol, quoteList(LogProtocols))
	}
	if t.Protocol == LogProtocolTLS {
		if t.CAFile == "" {
			return fmt.Errorf("target.ca_file: required with protocol %q (the receiver's certificate is checked against this CA only)", LogProtocolTLS)
		}
	} else {
		for _, a := range []struct{ name, v string }{{"ca_file", t.CAFile}, {"server_name", t.ServerName}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
			if a.v != "" {
				return fmt.Errorf("target.%s: only with protocol %q, not %q", a.name, LogProtocolTLS, t.Protocol)
			}
		}
	}
	for _, a := range []struct{ name, v string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if a.v != "" && (!filepath.IsAbs(a.v) || filepath.Clean(a.v) != a.v) {
			return fmt.Errorf("target.%s %q: want an absolute, clean path on the host", a.name, a.v)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("target.cert_file and target.key_file: give both or neither")
	}
	if t.ServerName != "" {
		if err := checkSyslogField("target.server_name", t.ServerName, 253); err != nil {
			return err
		}
	}
	if m := t.MaxMessageBytes; m != 0 && (m < LogMinMessageBytes || m > LogMaxMessageBytes) {
		return fmt.Errorf("target.max_message_bytes %d: want 0 (the default) or %d to %d", m, LogMinMessageBytes, LogMaxMessageBytes)
	}
	return nil
}

func checkSyslogField(attr, v string, maxLen int) error {
	if len(v) > maxLen || !printUSASCIIOnly.MatchString(v) {
		return fmt.Errorf("%s %q: want 1 to %d printable ASCII characters without spaces", attr, v, maxLen)
	}
	return nil
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
