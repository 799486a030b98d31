package alert

import "time"

// Label is one label of a series.
type Label struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Series is one series of a metric, with its newest sample.
type Series struct {
	// Labels identify the series beside its metric name, sorted by Name.
	Labels []Label
	Value  float64
	// Stale says the series has no current data: no sample in the latest
	// collection, its collector failed, or its textfile is older than its
	// freshness. Rules count it as no data, whatever Value says.
	Stale bool
	// Ref is the source's own handle for the series; the engine passes it
	// back to Window untouched.
	Ref uint64
}

// Point is one sample of a series.
type Point struct {
	Time  time.Time
	Value float64
}

// Source is what the engine reads metrics from: the samples of the
// collection that just ended and the history before it. Evaluate calls it
// from its own goroutine only, and never keeps what it returns past the
// call, so a source may reuse its slices between calls.
type Source interface {
	// Latest returns every series of metric the source knows, with its
	// newest sample; a series known but not collected this time is
	// returned with Stale set (so a rule can tell "no data" from "no
	// series").
	Latest(metric string) []Series

	// Window appends to buf the points of series s of metric whose time is
	// in (from, to], oldest first, and returns the extended slice.
	Window(metric string, s Series, from, to time.Time, buf []Point) []Point
}
