package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
)

// TestComponents_panicIsRecovered: a component whose loop panics, and one
// whose work panics, do not take the daemon down: the crash shows on
// /metrics, the loop is restarted, and it is healthy again once it says so.
func TestComponents_panicIsRecovered(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	var calls atomic.Int32
	healthy := make(chan struct{})
	flaky := &fakeComponent{name: "flaky", run: func(ctx context.Context, rt *core.Runtime) error {
		if calls.Add(1) == 1 {
			panic("first run breaks")
		}
		select {
		case <-healthy:
			rt.Report(nil)
		case <-ctx.Done():
		}
		<-ctx.Done()
		return nil
	}}
	worker := &fakeComponent{name: "worker", run: func(ctx context.Context, rt *core.Runtime) error {
		rt.Go(func(context.Context) { panic("work breaks") })
		<-ctx.Done()
		return nil
	}}
	d := startTestDaemon(t, DaemonConfig{Paths: p, Components: []core.Component{flaky, worker}})

	d.waitMetric(t, `steward_component_up{component="flaky"}`, 5*time.Second, func(v float64) bool { return v == 0 })
	d.waitMetric(t, `steward_component_last_error_timestamp_seconds{component="flaky"}`, time.Second, func(v float64) bool { return v > 0 })
	d.waitMetric(t, `steward_component_up{component="worker"}`, 5*time.Second, func(v float64) bool { return v == 0 })
	d.waitMetric(t, `steward_component_restarts_total{component="flaky"}`, 5*time.Second, func(v float64) bool { return v == 1 })
	close(healthy)
	d.waitMetric(t, `steward_component_up{component="flaky"}`, 5*time.Second, func(v float64) bool { return v == 1 })

	resp, err := http.Get("http://" + d.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after the panics: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after the panics = %d", resp.StatusCode)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the flaky component ran %d times, want 2 (one restart)", n)
	}
	d.stop(t, 5*time.Second)
}

// TestRunDaemon_shutdownGrace: once the daemon is told to stop, work in
// progress gets the grace period, work that ends sooner lets the daemon
// exit sooner, and work that ignores being cut short cannot hold the daemon
// beyond the grace period and core.StopSlack.
func TestRunDaemon_shutdownGrace(t *testing.T) {
	t.Parallel()
	const grace = 400 * time.Millisecond
	tests := []struct {
		name     string
		work     func(ctx context.Context, cause chan<- error)
		min, max time.Duration
		cause    error // what the work's context ended with; nil: it did not end
	}{
		{
			name: "work ends within the grace period",
			work: func(ctx context.Context, cause chan<- error) {
				time.Sleep(150 * time.Millisecond)
				cause <- context.Cause(ctx)
			},
			min: 100 * time.Millisecond, max: grace,
		},
		{
			name: "work is cut short",
			work: func(ctx context.Context, cause chan<- error) {
				<-ctx.Done()
				cause <- context.Cause(ctx)
			},
			min: grace, max: grace + time.Second, cause: core.ErrShutdown,
		},
		{
			name: "work ignores the cut",
			work: func(ctx context.Context, cause chan<- error) {
				<-ctx.Done()
				cause <- context.Cause(ctx)
				select {} // never returns
			},
			min: grace + core.StopSlack, max: grace + core.StopSlack + time.Second, cause: core.ErrShutdown,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			cause := make(chan error, 1)
			long := &fakeComponent{name: "long", run: func(ctx context.Context, rt *core.Runtime) error {
				rt.Go(func(work context.Context) { close(started); tt.work(work, cause) })
				<-ctx.Done()
				return nil
			}}
			d := startTestDaemon(t, DaemonConfig{Paths: coretest.NewHost(t), Components: []core.Component{long}, ShutdownGrace: grace})
			<-started
			took := d.stop(t, tt.max+2*time.Second)
			if took < tt.min || took > tt.max {
				t.Errorf("the daemon stopped after %s, want between %s and %s", took, tt.min, tt.max)
			}
			select {
			case got := <-cause:
				if !errors.Is(got, tt.cause) {
					t.Errorf("the work's context ended with %v, want %v", got, tt.cause)
				}
			default:
				t.Error("the work did not get to its end")
			}
		})
	}
}

// TestRunDaemon_metrics: /metrics is Prometheus's exposition from
// client_golang, with the agent's build, every component's health and the
// backup freshness under the names and labels the docs give.
func TestRunDaemon_metrics(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.MkdirAll(p.ConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSchedule(t, p, testSchedule(t, p, "etc", "@daily"))
	if err := schedule.WriteRunStatus(p, "etc", schedule.RunStatus{LastSuccessAt: time.Unix(1795660200, 0)}); err != nil {
		t.Fatal(err)
	}
	d := startTestDaemon(t, DaemonConfig{Paths: p})
	d.waitMetric(t, `steward_component_up{component="config_watcher"}`, time.Second, func(v float64) bool { return v == 1 })

	resp, err := http.Get("http://" + d.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !regexp.MustCompile(`^text/plain; version=0\.0\.4`).MatchString(ct) {
		t.Errorf("Content-Type = %q, want the Prometheus text format", ct)
	}
	body := d.metrics(t)
	for series, want := range map[string]float64{
		`steward_build_info{goversion="` + runtime.Version() + `",version="` + Version + `"}`: 1,
		`steward_component_up{component="backup_scheduler"}`:                                  1,
		`steward_component_up{component="config_watcher"}`:                                    1,
		`steward_component_last_error_timestamp_seconds{component="backup_scheduler"}`:        0,
		`steward_component_restarts_total{component="backup_scheduler"}`:                      0,
		`steward_backup_last_success_timestamp_seconds{schedule="etc"}`:                       1795660200,
	} {
		if got, ok := sampleValue(body, series); !ok || got != want {
			t.Errorf("%s = %v (found %v), want %v", series, got, ok, want)
		}
	}
	for _, line := range []string{
		"# TYPE steward_component_up gauge",
		"# HELP steward_backup_last_success_timestamp_seconds When the schedule's last backup succeeded (0: never).",
		"# TYPE steward_backup_last_success_timestamp_seconds gauge",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(body) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if _, ok := sampleValue(body, "process_resident_memory_bytes"); !ok {
		t.Error("/metrics lacks the process metrics")
	}
}
