package collect

import (
	"bytes"
	"fmt"
)

// netDevColumns are /proc/net/dev's columns as node_exporter names them:
// node_network_<column>_total.
var netDevColumns = [16]string{
	"receive_bytes", "receive_packets", "receive_errs", "receive_drop",
	"receive_fifo", "receive_frame", "receive_compressed", "receive_multicast",
	"transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop",
	"transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed",
}

// netDev is one interface's line of /proc/net/dev.
type netDev struct {
	Device string
	Values [16]float64 // in netDevColumns order
}

// parseNetDev parses /proc/net/dev into dst (reused), skipping its two
// header lines.
func parseNetDev(dst []netDev, b []byte) ([]netDev, error) {
	dst = dst[:0]
	var nums [16]float64
	for i := 0; len(b) > 0; i++ {
		var line []byte
		line, b = nextLine(b)
		if i < 2 || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		colon := bytes.LastIndexByte(line, ':')
		if colon < 0 {
			return dst, fmt.Errorf("parse /proc/net/dev line %q: no colon", line)
		}
		vals, err := parseUints(nums[:0], line[colon+1:])
		if err != nil || len(vals) != 16 {
			return dst, fmt.Errorf("parse /proc/net/dev line %q: want 16 counters", line)
		}
		d := netDev{Device: string(bytes.TrimSpace(line[:colon]))}
		copy(d.Values[:], vals)
		dst = append(dst, d)
	}
	return dst, nil
}
