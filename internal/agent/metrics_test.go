package agent

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// /metrics is gzipped for a scraper that accepts it, and the gzip stream
// holds exactly what an uncompressed scrape reads, compressed well.
func TestMetricsHandler_gzip(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "test_series", Help: "A test."}, []string{"device", "mode"})
	reg.MustRegister(g)
	for i := range 2000 { // past one 32 KB block of text
		g.WithLabelValues("sd"+strconv.Itoa(i%40), "mode"+strconv.Itoa(i/40)).Set(float64(i) * 1.5)
	}
	h, err := metricsHandler(reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(encoding string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	_, plain := get("identity")
	resp, zipped := get("gzip")
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip stream: %v", err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Fatalf("gzipped scrape differs from the plain one (%d vs %d bytes)", len(unzipped), len(plain))
	}
	if len(plain) < 64<<10 || len(zipped)*4 > len(plain) {
		t.Errorf("%d bytes compressed to %d; want a text past 64 KB compressed at least 4 times", len(plain), len(zipped))
	}
	t.Logf("%d bytes compressed to %d", len(plain), len(zipped))
}
