package collect

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestFlatten(t *testing.T) {
	t.Parallel()
	fams, err := parseTextFormat([]byte(`# TYPE jobs_total counter
jobs_total{queue="mail",host="a"} 3
# TYPE temp gauge
temp 21.5
untyped_thing 7
# TYPE latency_seconds histogram
latency_seconds_bucket{path="/",le="0.1"} 1
latency_seconds_bucket{path="/",le="1"} 3
latency_seconds_sum{path="/"} 1.25
latency_seconds_count{path="/"} 4
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds{quantile="0.99"} NaN
rpc_seconds_sum 10
rpc_seconds_count 50
`))
	if err != nil {
		t.Fatal(err)
	}
	l := func(kv ...string) []Label {
		var out []Label
		for i := 0; i < len(kv); i += 2 {
			out = append(out, Label{kv[i], kv[i+1]})
		}
		return out
	}
	want := []Sample{
		{Name: "jobs_total", Labels: l("host", "a", "queue", "mail"), Value: 3},
		// The +Inf bucket is implied by the text format and added, as Prometheus does.
		{Name: "latency_seconds_bucket", Labels: l("le", "0.1", "path", "/"), Value: 1},
		{Name: "latency_seconds_bucket", Labels: l("le", "1", "path", "/"), Value: 3},
		{Name: "latency_seconds_bucket", Labels: l("le", "+Inf", "path", "/"), Value: 4},
		{Name: "latency_seconds_sum", Labels: l("path", "/"), Value: 1.25},
		{Name: "latency_seconds_count", Labels: l("path", "/"), Value: 4},
		{Name: "rpc_seconds", Labels: l("quantile", "0.5"), Value: 0.2},
		{Name: "rpc_seconds", Labels: l("quantile", "0.99"), Value: math.NaN()},
		{Name: "rpc_seconds_sum", Labels: l(), Value: 10},
		{Name: "rpc_seconds_count", Labels: l(), Value: 50},
		{Name: "temp", Labels: l(), Value: 21.5},
		{Name: "untyped_thing", Labels: l(), Value: 7},
	}
	got := Flatten(fams)
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Flatten (-want +got):\n%s", diff)
	}
	if got[0].Label("queue") != "mail" || got[0].Label("nope") != "" {
		t.Error("Sample.Label")
	}
}
