package core

import (
	"fmt"
	"os"
	"strings"
)

// ReadHostID returns the host's machine id, Steward's host_id.
func ReadHostID(p Paths) (string, error) {
	data, err := os.ReadFile(p.MachineID)
	if err != nil {
		return "", fmt.Errorf("read host id from %s: %w", p.MachineID, err)
	}
	id, err := parseMachineID(data)
	if err != nil {
		return "", fmt.Errorf("read host id from %s: %w", p.MachineID, err)
	}
	return id, nil
}

// parseMachineID accepts what machine-id(5) specifies: 32 lower-case
// hexadecimal characters and a newline. Anything else (such as
// "uninitialized" during first boot) is refused, because a wrong host id
// defeats the identity check.
func parseMachineID(data []byte) (string, error) {
	id := strings.TrimSpace(string(data))
	if len(id) != 32 {
		return "", fmt.Errorf("machine id %q is not 32 hexadecimal characters", id)
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("machine id %q is not 32 lower-case hexadecimal characters", id)
		}
	}
	return id, nil
}
