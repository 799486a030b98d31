package collect

import (
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

// sectorSize is the unit of /proc/diskstats' sector counts, 512 bytes
// whatever the device's own sector size.
const sectorSize = 512

// diskField says how one /proc/diskstats column is exported.
type diskField struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	scale float64
}

func diskDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("node_disk_"+name, help, []string{"device"}, nil)
}

// diskFields are node_exporter's names for the columns, in column order.
var diskFields = [17]diskField{
	{diskDesc("reads_completed_total", "The total number of reads completed successfully."), prometheus.CounterValue, 1},
	{diskDesc("reads_merged_total", "The total number of reads merged."), prometheus.CounterValue, 1},
	{diskDesc("read_bytes_total", "The total number of bytes read successfully."), prometheus.CounterValue, sectorSize},
	{diskDesc("read_time_seconds_total", "The total number of seconds spent by all reads."), prometheus.CounterValue, 0.001},
	{diskDesc("writes_completed_total", "The total number of writes completed successfully."), prometheus.CounterValue, 1},
	{diskDesc("writes_merged_total", "The number of writes merged."), prometheus.CounterValue, 1},
	{diskDesc("written_bytes_total", "The total number of bytes written successfully."), prometheus.CounterValue, sectorSize},
	{diskDesc("write_time_seconds_total", "This is the total number of seconds spent by all writes."), prometheus.CounterValue, 0.001},
	{diskDesc("io_now", "The number of I/Os currently in progress."), prometheus.GaugeValue, 1},
	{diskDesc("io_time_seconds_total", "Total seconds spent doing I/Os."), prometheus.CounterValue, 0.001},
	{diskDesc("io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os."), prometheus.CounterValue, 0.001},
	{diskDesc("discards_completed_total", "The total number of discards completed successfully."), prometheus.CounterValue, 1},
	{diskDesc("discards_merged_total", "The total number of discards merged."), prometheus.CounterValue, 1},
	{diskDesc("discarded_sectors_total", "The total number of sectors discarded successfully."), prometheus.CounterValue, 1},
	{diskDesc("discard_time_seconds_total", "This is the total number of seconds spent by all discards."), prometheus.CounterValue, 0.001},
	{diskDesc("flush_requests_total", "The total number of flush requests completed successfully"), prometheus.CounterValue, 1},
	{diskDesc("flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests."), prometheus.CounterValue, 0.001},
}

// diskstatsCollector exports node_exporter's diskstats per whole disk.
type diskstatsCollector struct {
	path  string
	file  fileReader
	disks []diskStat
}

func newDiskstatsCollector(procRoot string) *diskstatsCollector {
	return &diskstatsCollector{path: filepath.Join(procRoot, "diskstats")}
}

func (*diskstatsCollector) Name() string { return "diskstats" }

func (c *diskstatsCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.file.read(c.path)
	if err != nil {
		return err
	}
	c.disks, err = parseDiskstats(c.disks, b)
	if err != nil {
		return err
	}
	for _, d := range c.disks {
		for i, v := range d.Values[:d.N] {
			f := diskFields[i]
			ch <- constMetric(f.desc, f.typ, v*f.scale, d.Device)
		}
	}
	return nil
}
