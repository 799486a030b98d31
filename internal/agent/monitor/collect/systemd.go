package collect

import (
	"bytes"
	"fmt"
	"strings"
)

// unitTypes are systemd's unit type suffixes; a watched name without one
// is a service, as systemctl reads it.
var unitTypes = []string{".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".slice", ".scope"}

// unitProperties are what the systemd collector asks systemctl show for.
const unitProperties = "Id,LoadState,ActiveState,SubState,Type"

// unitName checks a watched unit's name and gives it its type suffix.
// It refuses what systemctl would read as an option or a glob pattern.
func unitName(name string) (string, error) {
	if name == "" || len(name) > 255 || name[0] == '-' {
		return "", fmt.Errorf("watch systemd unit %q: not a unit name", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":_.\\@-", c)
		if !ok {
			return "", fmt.Errorf("watch systemd unit %q: %q is not allowed in a unit name", name, c)
		}
	}
	for _, t := range unitTypes {
		if strings.HasSuffix(name, t) && len(name) > len(t) {
			return name, nil
		}
	}
	return name + ".service", nil
}

// unitState is one unit's block of `systemctl show` output.
type unitState struct {
	Name                             string // as watched, with its suffix
	LoadState, ActiveState, SubState string
	Type                             string // a service's or mount's Type=, else ""
}

// parseSystemctlShow parses the output of one
// `systemctl show --property=… -- UNIT…` for units, which prints one block
// of KEY=VALUE lines per unit, in argument order, separated by blank lines.
func parseSystemctlShow(out []byte, units []string) ([]unitState, error) {
	var blocks [][]byte
	for _, b := range bytes.Split(bytes.TrimSpace(out), []byte("\n\n")) {
		if len(bytes.TrimSpace(b)) > 0 {
			blocks = append(blocks, b)
		}
	}
	if len(blocks) != len(units) {
		return nil, fmt.Errorf("parse systemctl show: %d unit blocks for %d units", len(blocks), len(units))
	}
	states := make([]unitState, len(units))
	for i, block := range blocks {
		st := unitState{Name: units[i]}
		var id string
		for len(block) > 0 {
			var line []byte
			line, block = nextLine(block)
			key, value, ok := bytes.Cut(line, []byte("="))
			if !ok {
				return nil, fmt.Errorf("parse systemctl show line %q: no =", line)
			}
			switch string(key) {
			case "Id":
				id = string(value)
			case "LoadState":
				st.LoadState = string(value)
			case "ActiveState":
				st.ActiveState = string(value)
			case "SubState":
				st.SubState = string(value)
			case "Type":
				st.Type = string(value)
			}
		}
		if st.LoadState == "" || st.ActiveState == "" {
			return nil, fmt.Errorf("parse systemctl show block for %s (Id=%s): no LoadState or ActiveState", units[i], id)
		}
		if !strings.HasSuffix(st.Name, ".service") && !strings.HasSuffix(st.Name, ".mount") {
			st.Type = ""
		}
		states[i] = st
	}
	return states, nil
}
