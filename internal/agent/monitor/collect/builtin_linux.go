package collect

import "time"

// builtinCollectors are the host collectors, in the order Gather reports
// them and resolves family names (all are distinct).
func builtinCollectors(cfg Config) ([]Collector, error) {
	cs := []Collector{
		newCPUCollector(cfg.ProcRoot),
		newMeminfoCollector(cfg.ProcRoot),
		newFilesystemCollector(cfg.ProcRoot, cfg.RootFS),
		newDiskstatsCollector(cfg.ProcRoot),
		newLoadavgCollector(cfg.ProcRoot),
		newNetdevCollector(cfg.ProcRoot, cfg.SysRoot),
		newStatCollector(cfg.ProcRoot),
		timeCollector{now: time.Now},
	}
	if len(cfg.Units) > 0 {
		sc, err := newSystemdCollector(cfg.Systemctl, cfg.Units)
		if err != nil {
			return nil, err
		}
		cs = append(cs, sc)
	}
	// The agent's own CPU and memory (process_*) are the daemon's registry's.
	return cs, nil
}
