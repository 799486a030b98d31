package provider

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// Host paths of DESIGN.md §3 the provider needs to know.
const (
	agentLibDir     = api.AgentLibDir
	agentCurrent    = api.AgentCurrent
	agentConfigFile = api.AgentConfigFile
	agentUnitFile   = api.UnitFile
	agentService    = api.ServiceName
)

// hostState is what a host really runs, as one inspection reads it.
type hostState struct {
	HostID         string
	Hostname       string
	AgentPresent   bool   // The current link resolves to an executable.
	AgentSHA256    string // Of the file current points to.
	Health         *api.HealthResult
	HealthError    string
	ServiceActive  bool
	ServiceEnabled bool
	UnitPresent    bool
	ConfigPresent  bool
	ConfigSHA256   string
	Config         *api.AgentConfig
	Packages       map[string]string // name -> installed version ("" when not installed)
	// What a deployment leaves on the host, compared with wantedInstallation.
	installation
}

// installed reports whether anything Steward installs is on the host.
func (s hostState) installed() bool {
	return s.AgentPresent || s.UnitPresent || s.ConfigPresent
}

// inspectScript reads, in one round trip and from outside the agent (so a
// deleted or replaced binary is seen as such), everything Read reports. $1 is a
// health request for the agent; the remaining arguments are package names.
var inspectScript = `cur=` + agentCurrent + `
echo "machine_id=$(cat /etc/machine-id 2>/dev/null)"
echo "hostname=$(cat /proc/sys/kernel/hostname 2>/dev/null)"
if [ -x "$cur" ]; then
  echo "agent_sha256=$(sha256sum <"$cur" | cut -d' ' -f1)"
  echo "health=$(printf '%s' "$1" | timeout 20 "$cur" rpc 2>&1 | tr '\n' ' ')"
fi
echo "service_active=$(systemctl is-active ` + agentService + ` 2>/dev/null)"
echo "service_enabled=$(systemctl is-enabled ` + agentService + ` 2>/dev/null)"
[ -f ` + agentUnitFile + ` ] && echo unit=present && echo "unit_sha256=$(sha256sum <` + agentUnitFile + ` | cut -d' ' -f1)"
systemctl show ` + unitProperties + ` -- ` + agentService + ` 2>/dev/null | sed 's/^/unit_state=/'
desc() {
  if [ -L "$1" ]; then echo "stat=a000 0 0 $1"; echo "target=$(readlink -- "$1")"
  elif [ -e "$1" ]; then stat -c 'stat=%f %u %g %n' -- "$1"
  else echo "stat=0 0 0 $1"; fi
}
for f in ` + ownedPathList + ` "$cur"; do desc "$f"; done
t=$(readlink -- "$cur") && case $t in /*) desc "$t" ;; esac
for d in ` + strings.Join(api.UnitDirs, " ") + `; do
  [ "$(readlink -f -- "$d")" = "$d" ] || continue
  for f in "$d"/` + api.UnitDropInDir + `/*.conf; do
    if [ -e "$f" ] || [ -L "$f" ]; then desc "$f"; fi
  done
done
if [ -f ` + agentConfigFile + ` ]; then
  echo "config_sha256=$(sha256sum <` + agentConfigFile + ` | cut -d' ' -f1)"
  echo "config=$(base64 -w0 <` + agentConfigFile + `)"
fi
shift
for p in "$@"; do
  if command -v dpkg-query >/dev/null 2>&1; then
    v=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$p" 2>/dev/null)
    case $v in ii*"|"*) v=${v#*|} ;; *) v= ;; esac
  else
    v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$p" 2>/dev/null) || v=
  fi
  echo "package=$p=$v"
done
`

// inspectHost runs inspectScript on the host.
func inspectHost(ctx context.Context, conn *client.Conn, op api.Operator, packages []string) (hostState, error) {
	req, err := api.NewRequest(api.MethodHealth, op, nil)
	if err != nil {
		return hostState{}, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return hostState{}, err
	}
	out, err := conn.Output(ctx, client.Script(inspectScript, append([]string{string(body)}, packages...)...))
	if err != nil {
		return hostState{}, fmt.Errorf("inspect %s: %w", conn.Address(), err)
	}
	s, err := parseHostState(out, packages)
	if err != nil {
		return s, fmt.Errorf("inspect %s: %w", conn.Address(), err)
	}
	return s, nil
}

// maxInspectLine bounds one line of inspectScript's output; the longest, the
// base64 agent.json and the health answer, are a few KiB.
const maxInspectLine = 1 << 20

// parseHostState parses inspectScript's output.
func parseHostState(out []byte, packages []string) (hostState, error) {
	s := hostState{Packages: map[string]string{}, installation: installation{Files: map[string]string{}, UnitState: map[string]string{}}}
	var last statLine // The path a "target" line belongs to.
	for _, p := range packages {
		s.Packages[p] = ""
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), maxInspectLine)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "machine_id":
			s.HostID = strings.TrimSpace(v)
		case "hostname":
			s.Hostname = strings.TrimSpace(v)
		case "agent_sha256":
			s.AgentSHA256 = strings.TrimSpace(v)
			s.AgentPresent = s.AgentSHA256 != ""
		case "health":
			var resp api.Response
			var h api.HealthResult
			if err := json.Unmarshal([]byte(v), &resp); err != nil {
				s.HealthError = "the agent gave no JSON answer: " + strings.TrimSpace(v)
			} else if err := resp.Decode(&h); err != nil {
				s.HealthError = err.Error()
			} else {
				s.Health = &h
			}
		case "service_active":
			s.ServiceActive = strings.TrimSpace(v) == "active"
		case "service_enabled":
			s.ServiceEnabled = strings.TrimSpace(v) == "enabled"
		case "unit":
			s.UnitPresent = true
		case "config_sha256":
			s.ConfigPresent = true
			s.ConfigSHA256 = strings.TrimSpace(v)
		case "config":
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			var c api.AgentConfig
			if err == nil && json.Unmarshal(raw, &c) == nil {
				s.Config = &c
			}
		case "unit_sha256":
			s.UnitSHA256 = strings.TrimSpace(v)
		case "unit_state":
			name, value, _ := strings.Cut(v, "=")
			s.UnitState[name] = strings.TrimSpace(value)
		case "stat":
			last = parseStat(v)
			s.Files[last.path] = last.state.String()
		case "target":
			last.state.Target = v
			s.Files[last.path] = last.state.String()
		case "package":
			name, version, _ := strings.Cut(v, "=")
			if _, wanted := s.Packages[name]; wanted {
				s.Packages[name] = strings.TrimSpace(version)
			}
		}
	}
	// A line the scanner cannot hold ends the scan: what follows it was never
	// read, so the state would be wrong, not just incomplete.
	// Reading from memory, the only error is bufio.ErrTooLong.
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("parse the host's answer: a line is longer than %d MiB, which no part of the inspection prints, so the host may be misbehaving: %w",
			maxInspectLine>>20, err)
	}
	if s.HostID == "" {
		return s, fmt.Errorf("the host reported no /etc/machine-id: %q", strings.TrimSpace(string(out)))
	}
	return s, nil
}

// statLine is one path of the inspection.
type statLine struct {
	path  string
	state api.PathState
}

// parseStat parses "<raw mode in hex> <uid> <gid> <path>" as `stat -c '%f %u %g'`
// prints it; a mode of 0 means the path is missing, a000 a symbolic link.
func parseStat(v string) statLine {
	f := strings.SplitN(v, " ", 4)
	if len(f) < 4 {
		return statLine{path: v, state: api.PathState{Kind: api.KindOther}}
	}
	raw, _ := strconv.ParseUint(f[0], 16, 32)
	uid, _ := strconv.Atoi(f[1])
	gid, _ := strconv.Atoi(f[2])
	st := api.PathState{Mode: uint32(raw & 0o7777), UID: uid, GID: gid}
	// The file type bits of a Linux st_mode (inode(7)).
	const typeBits, regular, directory, symlink = 0o170000, 0o100000, 0o040000, 0o120000
	switch raw & typeBits {
	case 0:
		st = api.PathState{Kind: api.KindMissing}
	case regular:
		st.Kind = api.KindFile
	case directory:
		st.Kind = api.KindDir
	case symlink:
		st = api.PathState{Kind: api.KindSymlink}
	default:
		st.Kind = api.KindOther
	}
	return statLine{path: f[3], state: st}
}
