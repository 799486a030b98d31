package collect

import "fmt"

// loadAvg is /proc/loadavg: the three load averages and the number of
// scheduling entities (threads) that exist.
type loadAvg struct {
	Load1, Load5, Load15 float64
	Threads              float64
}

// parseLoadAvg parses /proc/loadavg, "0.95 0.72 2.16 1/108 21860".
func parseLoadAvg(b []byte) (loadAvg, error) {
	var la loadAvg
	var running, threads uint64
	var last int
	_, err := fmt.Sscanf(string(b), "%g %g %g %d/%d %d", &la.Load1, &la.Load5, &la.Load15, &running, &threads, &last)
	if err != nil {
		return loadAvg{}, fmt.Errorf("parse /proc/loadavg %q: %w", b, err)
	}
	la.Threads = float64(threads)
	return la, nil
}
