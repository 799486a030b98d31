package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Facts describes a host as read in one round trip, before any agent exists.
type Facts struct {
	Hostname      string
	HostID        string // /etc/machine-id
	OSID          string // ID of /etc/os-release, e.g. "debian"
	OSVersion     string // VERSION_ID, e.g. "12"
	OSName        string // PRETTY_NAME
	Kernel        string // uname -r
	Architecture  string // uname -m
	CPUCount      int64
	MemoryBytes   int64
	UptimeSeconds int64
	InitSystem    string // "systemd" or the name of PID 1
	ClientAddress string // the address the host sees this connection come from
	DiskFreeBytes int64  // free space on the file system of /usr/local (where the agent goes)
	// SudoError is set when sudo was requested and `sudo -n true` failed.
	SudoError string
}

// factsScript prints key=value lines. It runs as the login user (everything it
// reads is world-readable); with sudo requested it also proves `sudo -n` works.
const factsScript = `hn=$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)
echo "hostname=$hn"
echo "machine_id=$(cat /etc/machine-id 2>/dev/null)"
osr=/etc/os-release; [ -r "$osr" ] || osr=/usr/lib/os-release
sed -n 's/^\(ID\|VERSION_ID\|PRETTY_NAME\)=/os_\1=/p' "$osr"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
echo "mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
if [ -d /run/systemd/system ]; then echo init=systemd; else echo "init=$(cat /proc/1/comm 2>/dev/null)"; fi
echo "ssh_connection=$SSH_CONNECTION"
echo "disk_free_kb=$(df -Pk /usr/local 2>/dev/null | awk 'NR==2 {print $4}')"
if [ "$1" = sudo ]; then
  if out=$(sudo -n true 2>&1); then echo sudo=ok; else echo "sudo_error=$(echo "$out" | tr '\n' ' ')"; fi
fi
`

// Facts reads the host's facts in one round trip. When the connection uses
// sudo it also checks that sudo works and returns a *SudoError if not.
func (c *Conn) Facts(ctx context.Context) (Facts, error) {
	mode := ""
	if c.usesSudo() {
		mode = "sudo"
	}
	cmd := Script(factsScript, mode)
	cmd.AsLoginUser = true
	out, err := c.Output(ctx, cmd)
	if err != nil {
		return Facts{}, fmt.Errorf("read facts of %s: %w", c.Address(), err)
	}
	f, err := ParseFacts(out)
	if err != nil {
		return Facts{}, fmt.Errorf("read facts of %s: %w", c.Address(), err)
	}
	if f.SudoError != "" {
		return f, &SudoError{User: c.User(), Address: c.Address(), Stderr: f.SudoError}
	}
	return f, nil
}

// ParseFacts parses the output of factsScript.
func ParseFacts(out []byte) (Facts, error) {
	var f Facts
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "hostname":
			f.Hostname = v
		case "machine_id":
			f.HostID = v
		case "os_ID":
			f.OSID = unquoteOSRelease(v)
		case "os_VERSION_ID":
			f.OSVersion = unquoteOSRelease(v)
		case "os_PRETTY_NAME":
			f.OSName = unquoteOSRelease(v)
		case "kernel":
			f.Kernel = v
		case "arch":
			f.Architecture = v
		case "cpus":
			f.CPUCount, _ = strconv.ParseInt(v, 10, 64)
		case "mem_kb":
			kb, _ := strconv.ParseInt(v, 10, 64)
			f.MemoryBytes = kb * 1024
		case "uptime":
			up, _ := strconv.ParseFloat(v, 64)
			f.UptimeSeconds = int64(up)
		case "init":
			f.InitSystem = v
		case "ssh_connection":
			f.ClientAddress, _, _ = strings.Cut(v, " ")
		case "disk_free_kb":
			kb, _ := strconv.ParseInt(v, 10, 64)
			f.DiskFreeBytes = kb * 1024
		case "sudo_error":
			f.SudoError = v
		}
	}
	// Reading from memory, the only error is bufio.ErrTooLong: the lines after
	// the long one (sudo_error among them) were never read.
	if err := sc.Err(); err != nil {
		return f, fmt.Errorf("parse the facts script's answer: a line is longer than %d KiB, which no fact is: %w", bufio.MaxScanTokenSize>>10, err)
	}
	if f.HostID == "" {
		return f, fmt.Errorf("the host has no /etc/machine-id; Steward identifies hosts by it (run systemd-machine-id-setup)")
	}
	if f.Hostname == "" || f.Architecture == "" {
		return f, fmt.Errorf("unexpected answer to the facts script: %q", truncate(string(out), 300))
	}
	return f, nil
}

// unquoteOSRelease undoes os-release(5) quoting.
func unquoteOSRelease(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, "\\`", "`", `\$`, `$`).Replace(v[1 : len(v)-1])
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
