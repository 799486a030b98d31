package api

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var longDurationPart = regexp.MustCompile(`^(\d+)([wd])`)

// ParseDuration parses a Go duration ("90m", "1h30m") that may also use days
// ("d", 24h) and weeks ("w", 7d) in front: "7d", "2w", "1w3d12h". Backup
// schedules measure in days, which Go durations cannot say.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("empty duration: want e.g. \"30m\", \"12h\", \"7d\" or \"2w\"")
	}
	var total time.Duration
	rest := in
	for {
		m := longDurationPart.FindStringSubmatch(rest)
		if m == nil {
			break
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		total += time.Duration(n) * unit
		rest = rest[len(m[0]):]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. \"30m\", \"12h\", \"7d\" or \"2w\"", s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return total, nil
}
