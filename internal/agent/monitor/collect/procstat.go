package collect

import (
	"bytes"
	"fmt"
)

// userHZ is the unit of /proc/stat's CPU times: USER_HZ, fixed at 100 on
// Linux whatever the kernel's internal HZ (it is part of the ABI).
const userHZ = 100

// cpuTimes is one line of CPU times from /proc/stat, in seconds.
type cpuTimes struct {
	User, Nice, System, Idle, Iowait, IRQ, SoftIRQ, Steal, Guest, GuestNice float64
}

// busyAndTotal returns the seconds the CPU did work and the seconds it
// existed. Guest time is already counted in user and nice, so it is left
// out of the total.
func (t cpuTimes) busyAndTotal() (busy, total float64) {
	total = t.User + t.Nice + t.System + t.Idle + t.Iowait + t.IRQ + t.SoftIRQ + t.Steal
	return total - t.Idle - t.Iowait, total
}

// cpuStat is one CPU's line.
type cpuStat struct {
	ID string // "0", "1", … as node_exporter's cpu label
	cpuTimes
}

// procStat is what the collectors use from /proc/stat.
type procStat struct {
	Total                                cpuTimes
	CPUs                                 []cpuStat
	BootTime, ContextSwitches, Forks     float64
	Interrupts                           float64
	ProcsRunning, ProcsBlocked           float64
	hasBootTime, hasProcsRunning, hasCPU bool
}

// parseProcStat parses /proc/stat (proc(5)) into st, reusing st.CPUs. A
// line it does not use is skipped; a line it uses that does not parse is
// an error naming it.
func parseProcStat(b []byte, st *procStat) error {
	cpus := st.CPUs[:0]
	*st = procStat{}
	var nums [16]float64
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, rest := nextField(line)
		var err error
		switch {
		case bytes.HasPrefix(key, []byte("cpu")):
			var t cpuTimes
			t, err = parseCPULine(nums[:0], rest)
			if err != nil {
				break
			}
			if len(key) == 3 {
				st.Total, st.hasCPU = t, true
			} else {
				cpus = append(cpus, cpuStat{ID: string(key[3:]), cpuTimes: t})
			}
		case string(key) == "intr":
			// Only the first number (the total); the per-IRQ counts that
			// follow can be thousands of fields.
			f, _ := nextField(rest)
			st.Interrupts, err = parseCounter(f)
		case string(key) == "ctxt":
			st.ContextSwitches, err = parseCounter(rest)
		case string(key) == "btime":
			st.BootTime, err = parseCounter(rest)
			st.hasBootTime = err == nil
		case string(key) == "processes":
			st.Forks, err = parseCounter(rest)
		case string(key) == "procs_running":
			st.ProcsRunning, err = parseCounter(rest)
			st.hasProcsRunning = err == nil
		case string(key) == "procs_blocked":
			st.ProcsBlocked, err = parseCounter(rest)
		}
		if err != nil {
			return fmt.Errorf("parse /proc/stat line %q: %w", line, err)
		}
	}
	st.CPUs = cpus
	if !st.hasCPU {
		return fmt.Errorf("parse /proc/stat: no cpu line")
	}
	return nil
}

func parseCPULine(nums []float64, b []byte) (cpuTimes, error) {
	nums, err := parseUints(nums, b)
	if err != nil {
		return cpuTimes{}, err
	}
	if len(nums) < 4 {
		return cpuTimes{}, fmt.Errorf("%d fields, want at least 4", len(nums))
	}
	// Older kernels have fewer columns; the missing ones read as zero.
	var v [10]float64
	copy(v[:], nums)
	for i := range v {
		v[i] /= userHZ
	}
	return cpuTimes{User: v[0], Nice: v[1], System: v[2], Idle: v[3], Iowait: v[4], IRQ: v[5], SoftIRQ: v[6], Steal: v[7], Guest: v[8], GuestNice: v[9]}, nil
}

// parseCounter parses the one unsigned integer field of b.
func parseCounter(b []byte) (float64, error) {
	f, rest := nextField(b)
	if extra, _ := nextField(rest); len(extra) != 0 {
		return 0, fmt.Errorf("more than one field")
	}
	v, ok := parseUint(f)
	if !ok {
		return 0, fmt.Errorf("field %q is not an unsigned integer", f)
	}
	return float64(v), nil
}
