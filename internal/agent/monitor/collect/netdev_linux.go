package collect

import (
	"bytes"
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	netDevDescs = func() (ds [16]*prometheus.Desc) {
		for i, col := range netDevColumns {
			ds[i] = prometheus.NewDesc("node_network_"+col+"_total", "Network device statistic "+col+".", []string{"device"}, nil)
		}
		return ds
	}()
	netUpDesc = prometheus.NewDesc("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", []string{"device"}, nil)
)

// netdevCollector exports node_exporter's netdev counters per interface
// from /proc/net/dev, and node_network_up from each interface's operstate
// in /sys/class/net.
type netdevCollector struct {
	path, sysNet string
	file, state  fileReader
	devs         []netDev
}

func newNetdevCollector(procRoot, sysRoot string) *netdevCollector {
	return &netdevCollector{path: filepath.Join(procRoot, "net", "dev"), sysNet: filepath.Join(sysRoot, "class", "net")}
}

func (*netdevCollector) Name() string { return "netdev" }

func (c *netdevCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	c.devs, err = parseNetDev(c.devs, b)
	if err != nil {
		return err
	}
	for _, d := range c.devs {
		for i, v := range d.Values {
			ch <- constMetric(netDevDescs[i], prometheus.CounterValue, v, d.Device)
		}
		// An interface without operstate (gone between the two reads) has
		// no node_network_up rather than a failed collection.
		if s, err := c.state.read(filepath.Join(c.sysNet, d.Device, "operstate")); err == nil {
			up := 0.0
			if string(bytes.TrimSpace(s)) == "up" {
				up = 1
			}
			ch <- constMetric(netUpDesc, prometheus.GaugeValue, up, d.Device)
		}
	}
	return nil
}
