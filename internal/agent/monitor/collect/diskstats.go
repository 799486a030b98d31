package collect

import (
	"bytes"
	"fmt"
	"regexp"
)

// diskIgnored is node_exporter's default device exclusion: RAM and loop
// devices, floppies and partitions (their I/O is in the whole disk's).
var diskIgnored = regexp.MustCompile(`^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`)

// diskStat is one device's line of /proc/diskstats: the 11 fields every
// kernel has, then 4 discard fields (4.18+) and 2 flush fields (5.5+).
type diskStat struct {
	Device string
	Values [17]float64
	N      int // how many of Values the kernel gave: 11, 15 or 17
}

// parseDiskstats parses /proc/diskstats into dst (reused), leaving out
// the devices node_exporter ignores.
func parseDiskstats(dst []diskStat, b []byte) ([]diskStat, error) {
	dst = dst[:0]
	var nums [20]float64
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		_, rest := nextField(line) // major
		_, rest = nextField(rest)  // minor
		name, rest := nextField(rest)
		vals, err := parseUints(nums[:0], rest)
		if err != nil || len(name) == 0 || len(vals) < 11 || len(vals) > 17 {
			return dst, fmt.Errorf("parse /proc/diskstats line %q: want a device and 11 to 17 counters", line)
		}
		if diskIgnored.Match(name) {
			continue
		}
		d := diskStat{Device: string(name), N: len(vals)}
		copy(d.Values[:], vals)
		dst = append(dst, d)
	}
	return dst, nil
}
