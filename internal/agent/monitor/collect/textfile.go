package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MaxTextfileSize bounds one textfile; a larger file is an error, not read.
const MaxTextfileSize = 1 << 20

// maxAgeDirective is the comment line by which a textfile declares its
// own freshness: "# steward_max_age 26h".
const maxAgeDirective = "steward_max_age"

var (
	textfileMtimeDesc = prometheus.NewDesc("node_textfile_mtime_seconds",
		"Unixtime mtime of textfiles successfully read.", []string{"file"}, nil)
	textfileErrorDesc = prometheus.NewDesc("node_textfile_scrape_error",
		"1 if there was an error opening or reading a file, 0 otherwise", nil, nil)
	textfileStaleDesc = prometheus.NewDesc("steward_textfile_stale",
		"1 if the textfile is older than its freshness and its samples are left out, 0 if they are served.", []string{"file"}, nil)
)

// textfileCollector serves *.prom files in node_exporter's textfile
// format, leaving out the samples of a file older than its freshness.
type textfileCollector struct {
	dir    string
	maxAge time.Duration
	now    func() time.Time
	buf    bytes.Buffer
}

func newTextfileCollector(dir string, maxAge time.Duration) *textfileCollector {
	return &textfileCollector{dir: dir, maxAge: maxAge, now: time.Now}
}

func (*textfileCollector) Name() string { return "textfile" }

// Update reads every *.prom file. A file that cannot be read or parsed, or
// conflicts with an earlier one (by name), contributes nothing and sets
// node_textfile_scrape_error; the others are still served, and the
// collection reports the bad files as its error.
func (c *textfileCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	entries, err := os.ReadDir(c.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		ch <- constMetric(textfileErrorDesc, prometheus.GaugeValue, 1)
		return partialError{fmt.Errorf("read textfile directory: %w", err)}
	}
	set := newFamilySet()
	var errs []error
	now := c.now()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".prom") {
			continue
		}
		path := filepath.Join(c.dir, e.Name())
		tf, err := c.read(path, now)
		if err == nil && !tf.stale {
			err = set.add(tf.families, path)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("textfile %s: %w", path, err))
			continue
		}
		// As node_exporter: no mtime for a file that failed, so a fresh
		// but broken file never looks fresh.
		ch <- constMetric(textfileMtimeDesc, prometheus.GaugeValue, float64(tf.mtime.Unix()), path)
		stale := 0.0
		if tf.stale {
			stale = 1
		}
		ch <- constMetric(textfileStaleDesc, prometheus.GaugeValue, stale, path)
	}
	sendFamilies(ch, set.families(), "Metric read from textfile directory "+c.dir+".")
	scrapeError := 0.0
	if len(errs) > 0 {
		scrapeError = 1
	}
	ch <- constMetric(textfileErrorDesc, prometheus.GaugeValue, scrapeError)
	if len(errs) > 0 {
		return partialError{errors.Join(errs...)}
	}
	return nil
}

// textfile is one read file.
type textfile struct {
	families []*dto.MetricFamily // nil when stale
	mtime    time.Time
	stale    bool
}

// read reads and, when fresh, parses one textfile. Its mtime comes from
// the open file, so it is the mtime of the bytes parsed.
func (c *textfileCollector) read(path string, now time.Time) (textfile, error) {
	f, err := os.Open(path)
	if err != nil {
		return textfile{}, err
	}
	defer func() { _ = f.Close() }() // read only: nothing to lose
	fi, err := f.Stat()
	if err != nil {
		return textfile{}, err
	}
	if !fi.Mode().IsRegular() {
		return textfile{}, errors.New("not a regular file")
	}
	if fi.Size() > MaxTextfileSize {
		return textfile{}, fmt.Errorf("larger than %d bytes", MaxTextfileSize)
	}
	c.buf.Reset()
	if n, err := c.buf.ReadFrom(io.LimitReader(f, MaxTextfileSize+1)); err != nil {
		return textfile{}, err
	} else if n > MaxTextfileSize {
		return textfile{}, fmt.Errorf("larger than %d bytes", MaxTextfileSize)
	}
	b := c.buf.Bytes()
	maxAge, err := declaredMaxAge(b, c.maxAge)
	if err != nil {
		return textfile{}, err
	}
	tf := textfile{mtime: fi.ModTime()}
	if maxAge > 0 && now.Sub(tf.mtime) > maxAge {
		tf.stale = true
		return tf, nil
	}
	tf.families, err = parseTextFormat(b)
	return tf, err
}

// declaredMaxAge returns the freshness a textfile declares with a
// "# steward_max_age <duration>" line (Go duration syntax; 0 means the
// file never goes stale), or def when it declares none.
func declaredMaxAge(b []byte, def time.Duration) (time.Duration, error) {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		rest, ok := bytes.CutPrefix(bytes.TrimLeft(line, " \t"), []byte("#"))
		if !ok {
			continue
		}
		word, rest := nextField(rest)
		if string(word) != maxAgeDirective {
			continue
		}
		value, rest := nextField(rest)
		if extra, _ := nextField(rest); len(extra) != 0 || len(value) == 0 {
			return 0, fmt.Errorf("line %d %s: want # %s <duration>", n, quoteLine(line, 1), maxAgeDirective)
		}
		d, err := time.ParseDuration(string(value))
		if err != nil || d < 0 {
			return 0, fmt.Errorf("line %d %s: %q is not a duration such as 90s, 15m or 26h", n, quoteLine(line, 1), value)
		}
		return d, nil
	}
	return def, nil
}
