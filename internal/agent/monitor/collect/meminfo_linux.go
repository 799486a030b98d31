package collect

import (
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// meminfoCollector exports every /proc/meminfo line as node_exporter
// does: node_memory_MemTotal_bytes, node_memory_MemAvailable_bytes,
// node_memory_SwapFree_bytes, … (all gauges).
type meminfoCollector struct {
	path   string
	file   fileReader
	fields []memField
	names  map[string]string
	descs  map[string]*prometheus.Desc
}

func newMeminfoCollector(procRoot string) *meminfoCollector {
	return &meminfoCollector{path: filepath.Join(procRoot, "meminfo"), names: map[string]string{}, descs: map[string]*prometheus.Desc{}}
}

func (*meminfoCollector) Name() string { return "meminfo" }

func (c *meminfoCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	c.fields, err = parseMeminfo(c.fields, b, c.names)
	if err != nil {
		return err
	}
	for _, f := range c.fields {
		d, ok := c.descs[f.Name]
		if !ok {
			d = prometheus.NewDesc("node_memory_"+f.Name, "Memory information field "+f.Name+".", nil, nil)
			c.descs[f.Name] = d
		}
		ch <- constMetric(d, prometheus.GaugeValue, f.Value)
	}
	return nil
}
