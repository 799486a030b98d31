package collect

import (
	"bytes"
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// maxSystemctlOutput bounds systemctl show's output: a few hundred bytes per unit.
const maxSystemctlOutput = 1 << 20

var (
	unitStateDesc = prometheus.NewDesc("node_systemd_unit_state",
		"Systemd unit", []string{"name", "state", "type"}, nil)
	unitLoadStateDesc = prometheus.NewDesc("steward_systemd_unit_load_state",
		"1 for the watched unit's load state: loaded, not-found (no such unit), masked, bad-setting or error.", []string{"name", "state"}, nil)

	// unitActiveStates and unitLoadStates are the values each unit gets a
	// series for, 1 for its current one.
	unitActiveStates = []string{"activating", "active", "deactivating", "inactive", "failed"}
	unitLoadStates   = []string{"loaded", "not-found", "bad-setting", "error", "masked"}
)

// systemdCollector reports the state of the watched units with one
// systemctl invocation per collection (an argument list, no shell).
type systemdCollector struct {
	systemctl string
	units     []string
	buf       bytes.Buffer
}

func newSystemdCollector(systemctl string, units []string) (*systemdCollector, error) {
	c := &systemdCollector{systemctl: systemctl}
	seen := map[string]bool{}
	for _, u := range units {
		name, err := unitName(u)
		if err != nil {
			return nil, err
		}
		if !seen[name] {
			seen[name] = true
			c.units = append(c.units, name)
		}
	}
	return c, nil
}

func (*systemdCollector) Name() string { return "systemd" }

func (c *systemdCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	args := append([]string{c.systemctl, "show", "--property=" + unitProperties, "--"}, c.units...)
	out, err := runBounded(ctx, args, &c.buf, maxSystemctlOutput)
	if err != nil {
		return fmt.Errorf("run systemctl show: %w", err)
	}
	states, err := parseSystemctlShow(out, c.units)
	if err != nil {
		return err
	}
	for _, st := range states {
		for _, s := range unitActiveStates {
			ch <- constMetric(unitStateDesc, prometheus.GaugeValue, boolValue(s == st.ActiveState), st.Name, s, st.Type)
		}
		known := false
		for _, s := range unitLoadStates {
			known = known || s == st.LoadState
			ch <- constMetric(unitLoadStateDesc, prometheus.GaugeValue, boolValue(s == st.LoadState), st.Name, s)
		}
		if !known {
			ch <- constMetric(unitLoadStateDesc, prometheus.GaugeValue, 1, st.Name, st.LoadState)
		}
	}
	return nil
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
