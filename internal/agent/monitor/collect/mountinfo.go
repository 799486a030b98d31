package collect

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// node_exporter's default exclusions: mount points under the kernel's and
// container runtimes' trees (and /run/host, what systemd-nspawn and other
// container managers show a container of its host), and pseudo and read-only image file systems,
// whose sizes say nothing about free space.
var (
	mountPointIgnored = regexp.MustCompile(`^/(dev|proc|run/credentials/.+|run/host|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`)
	fsTypeIgnored     = regexp.MustCompile(`^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$`)
)

// mount is one mount the filesystem collector reports.
type mount struct {
	Device, MountPoint, FSType string
	ReadOnly                   bool
}

// parseMountinfo parses /proc/PID/mountinfo (proc(5)) into the mounts
// node_exporter reports: ignored types and mount points left out (but never
// the root, unlike node_exporter, which leaves out a container's overlay
// root), and a mount listed twice (over-mounted with the same device) kept
// once.
func parseMountinfo(b []byte) ([]mount, error) {
	var out []mount
	seen := map[mount]bool{}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, err := parseMountinfoLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("parse mountinfo line %q: %w", line, err)
		}
		// The root is always reported: in a container it is an overlay,
		// and its free space is the host's disk as the services see it.
		if m.MountPoint != "/" && (fsTypeIgnored.MatchString(m.FSType) || mountPointIgnored.MatchString(m.MountPoint)) {
			continue
		}
		key := m
		key.ReadOnly = false
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, m)
	}
	return out, nil
}

// parseMountinfoLine parses "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue".
func parseMountinfoLine(line string) (mount, error) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 10 || sep < 0 || len(fields) < sep+4 {
		return mount{}, fmt.Errorf("want 10 or more fields with a - separator")
	}
	opts, superOpts := fields[5], fields[sep+3]
	return mount{
		Device:     strings.ToValidUTF8(unescapeMount(fields[sep+2]), "\uFFFD"),
		MountPoint: strings.ToValidUTF8(unescapeMount(fields[4]), "\uFFFD"),
		FSType:     fields[sep+1],
		ReadOnly:   hasOption(opts, "ro") || hasOption(superOpts, "ro") || hasOption(superOpts, "emergency_ro"),
	}, nil
}

func hasOption(opts, opt string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in a mountinfo path.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
