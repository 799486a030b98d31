package agent

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"

	"github.com/klauspost/compress/gzhttp"
	"github.com/klauspost/compress/gzhttp/writer"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
)

// newMetricsRegistry returns what /metrics serves: the agent's build, the
// Go runtime and the process (as node_exporter does), each component's
// health, and each component's own metrics.
func newMetricsRegistry(cs *core.Supervisor) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "steward_build_info",
		Help:        "Always 1; the labels say which steward-agent build runs.",
		ConstLabels: prometheus.Labels{"version": Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{build, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register daemon metrics: %w", err)
		}
	}
	if err := cs.Register(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// metricsHandler serves g in the Prometheus text (or protobuf) format,
// gzipped when the scraper accepts it. A collector that fails leaves out
// its own metrics only.
//
// Compression is klauspost's stateless deflate rather than promhttp's own:
// promhttp pools compress/gzip writers, each ~650 KB of tables that every
// garbage collection drops from the pool, so at one scrape every 10 s
// nearly every scrape allocated a new one (a third of all the daemon
// allocated, measured), and the heap grew to hold it. Stateless deflate
// keeps nothing between writes; a buffer in front of it hands it whole
// blocks, so a scrape compresses about as well.
func metricsHandler(g prometheus.Gatherer, log *slog.Logger) (http.Handler, error) {
	gz, err := gzhttp.NewWrapper(gzhttp.Implementation(statelessGzip), gzhttp.CompressionLevel(gzip.StatelessCompression))
	if err != nil {
		return nil, fmt.Errorf("metrics compression: %w", err)
	}
	return gz(promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:           slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:      promhttp.ContinueOnError,
		DisableCompression: true,
	})), nil
}

// statelessGzip makes gzip writers that compress each 32 KB of the body
// on its own (with the 8 KB before it as dictionary).
var statelessGzip = writer.GzipWriterFactory{
	Levels: func() (int, int) { return gzip.StatelessCompression, gzip.StatelessCompression },
	New: func(w io.Writer, _ int) writer.GzipWriter {
		z, _ := gzip.NewWriterLevel(w, gzip.StatelessCompression) // the level is valid
		return &bufferedGzip{Writer: bufio.NewWriterSize(z, 32<<10), z: z}
	},
}

type bufferedGzip struct {
	*bufio.Writer
	z *gzip.Writer
}

func (b *bufferedGzip) Close() error {
	if err := b.Writer.Flush(); err != nil {
		return err
	}
	return b.z.Close()
}

// Flush is what the handler's http.Flusher calls: what is buffered goes out.
func (b *bufferedGzip) Flush() error {
	if err := b.Writer.Flush(); err != nil {
		return err
	}
	return b.z.Flush()
}
