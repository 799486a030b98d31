package api

import (
	"strings"
	"testing"
)

func validLogForward() LogForward {
	return LogForward{
		Name:    "app-logs",
		Journal: &LogJournal{Units: []string{"nginx.service", "app-*.service"}, Identifiers: []string{"sshd"}, Priority: "warning"},
		Files:   []LogFile{{Path: "/var/log/app/app.log", Tag: "app", Facility: "local3", Severity: "info"}},
		Target:  LogTarget{Address: "logs.example.com:6514", Protocol: LogProtocolTLS, CAFile: "/etc/steward/logs-ca.pem"},
	}
}

func TestLogForward_Validate(t *testing.T) {
	t.Parallel()
	if err := validLogForward().Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*LogForward)
		want   string // The attribute named, and what is accepted.
	}{
		{"bad name", func(l *LogForward) { l.Name = "../x" }, `name "../x": want 1 to 63`},
		{"no source", func(l *LogForward) { l.Journal, l.Files = nil, nil }, "want a journal block or at least one file"},
		{"unit option", func(l *LogForward) { l.Journal.Units = []string{"--output=cat"} }, `journal.units[0] "--output=cat": want a unit name`},
		{"unit with space", func(l *LogForward) { l.Journal.Units = []string{"a b"} }, `journal.units[0]`},
		{"identifier option", func(l *LogForward) { l.Journal.Identifiers = []string{"-f"} }, `journal.identifiers[0] "-f": want 1 to 128 printable`},
		{"priority", func(l *LogForward) { l.Journal.Priority = "warn" }, `journal.priority "warn": want one of "emerg", "alert"`},
		{"relative path", func(l *LogForward) { l.Files[0].Path = "app.log" }, `files[0].path "app.log": want an absolute, clean path`},
		{"unclean path", func(l *LogForward) { l.Files[0].Path = "/var/log/../etc/shadow" }, `files[0].path`},
		{"duplicate path", func(l *LogForward) { l.Files = append(l.Files, l.Files[0]) }, `files[1].path "/var/log/app/app.log": listed twice`},
		{"tag with space", func(l *LogForward) { l.Files[0].Tag = "my app" }, `files[0].tag "my app": want 1 to 48 printable ASCII`},
		{"long tag", func(l *LogForward) { l.Files[0].Tag = strings.Repeat("a", 49) }, `files[0].tag`},
		{"facility", func(l *LogForward) { l.Files[0].Facility = "local8" }, `files[0].facility "local8": want one of "kern", "user"`},
		{"severity", func(l *LogForward) { l.Files[0].Severity = "fatal" }, `files[0].severity "fatal": want one of`},
		{"address without port", func(l *LogForward) { l.Target.Address = "logs.example.com" }, `target.address "logs.example.com": want host:port`},
		{"port out of range", func(l *LogForward) { l.Target.Address = "h:70000" }, `target.address "h:70000": want a port from 1 to 65535`},
		{"protocol", func(l *LogForward) { l.Target.Protocol = "relp" }, `target.protocol "relp": want one of "tcp", "tls", "udp"`},
		{"tls without CA", func(l *LogForward) { l.Target.CAFile = "" }, `target.ca_file: required with protocol "tls"`},
		{"CA without tls", func(l *LogForward) { l.Target.Protocol = LogProtocolTCP }, `target.ca_file: only with protocol "tls", not "tcp"`},
		{"relative CA", func(l *LogForward) { l.Target.CAFile = "ca.pem" }, `target.ca_file "ca.pem": want an absolute, clean path`},
		{"cert without key", func(l *LogForward) { l.Target.CertFile = "/etc/steward/c.pem" }, "target.cert_file and target.key_file: give both or neither"},
		{"message size", func(l *LogForward) { l.Target.MaxMessageBytes = 100 }, "target.max_message_bytes 100: want 0 (the default) or 480 to 65507"},
		{"start_at", func(l *LogForward) { l.StartAt = "now" }, `start_at "now": want one of "end", "beginning"`},
		{"hostname", func(l *LogForward) { l.Hostname = "web 1" }, `hostname "web 1": want 1 to 255 printable`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := validLogForward()
			j := *l.Journal
			l.Journal = &j
			l.Files = append([]LogFile(nil), l.Files...)
			c.change(&l)
			err := l.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestLogForwardKind(t *testing.T) {
	t.Parallel()
	if got := LogForwardKind.Configure().Name; got != "log_forward.configure" {
		t.Errorf("configure method %q", got)
	}
	if LogForwardKind.Dir != "log_forward" {
		t.Errorf("dir %q", LogForwardKind.Dir)
	}
	var s Spec = validLogForward()
	if s.ObjectName() != "app-logs" {
		t.Errorf("object name %q", s.ObjectName())
	}
}
