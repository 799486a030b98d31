package collect

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// constMetric is prometheus.MustNewConstMetric that cannot panic: a label
// value the registry would refuse (invalid UTF-8 in a mount point) becomes
// an invalid metric, which fails this collector's collection with the
// reason instead of the daemon.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labelValues ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labelValues...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// fileReader reads small files (those in /proc) into one buffer that it
// reuses between collections, so a collection allocates no file buffers.
type fileReader struct{ buf bytes.Buffer }

// maxProcFile bounds what fileReader reads: /proc files the collectors
// read are a few KiB even on large hosts.
const maxProcFile = 4 << 20

func (r *fileReader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	r.buf.Reset()
	n, err := r.buf.ReadFrom(io.LimitReader(f, maxProcFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if n > maxProcFile {
		return nil, fmt.Errorf("read %s: larger than %d bytes", path, maxProcFile)
	}
	return r.buf.Bytes(), nil
}

// nextLine splits b at its first newline: the line and the rest.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// nextField returns the first space-separated field of b and the rest.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// parseUints parses the space-separated unsigned integers of b into dst
// (reusing its storage) as float64, the type metrics carry.
func parseUints(dst []float64, b []byte) ([]float64, error) {
	dst = dst[:0]
	for {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			return dst, nil
		}
		v, ok := parseUint(f)
		if !ok {
			return dst, fmt.Errorf("field %q is not an unsigned integer", f)
		}
		dst = append(dst, float64(v))
	}
}

// parseUint is strconv.ParseUint(string(b), 10, 64) without the string:
// /proc files are mostly decimal counters, and converting each field
// would allocate.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}
