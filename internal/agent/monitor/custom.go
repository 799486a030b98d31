package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/collect"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// customController is the managed-object controller of custom metrics
// (steward_custom_metric). The daemon's monitor reads the spec files
// (LoadCommands) whenever the configuration changes, so applying or
// removing one has nothing to do beyond the file the lifecycle writes; what
// the command yields is observed from the running daemon.
type customController struct{ deps core.Deps }

func newCustomController(deps core.Deps) core.Controller[api.CustomMetric, api.CustomMetricObserved] {
	return customController{deps: deps}
}

// Check refuses a command that cannot run: a program that is not an
// executable file, a timeout longer than the host's collection interval
// (collections would queue behind it). No timeout is the default, cut to
// the interval when that is shorter.
func (c customController) Check(_ context.Context, spec api.CustomMetric) error {
	prog := spec.Command[0] // Validate ran: there is one, absolute
	// The agent runs it as root every interval.
	if err := core.CheckRootProgram(filepath.Join(c.deps.Paths.Root, prog)); err != nil {
		return &api.Error{Code: api.CodeProgramMissing, Message: fmt.Sprintf("command[0] %s: %v", prog, err)}
	}
	if spec.Timeout == "" {
		return nil
	}
	timeout, _ := spec.TimeoutDuration() // checked by Validate
	interval, err := collectionInterval(c.deps.Paths)
	if err != nil {
		return err
	}
	if timeout > interval {
		return &api.Error{Code: api.CodeTimeoutTooLong, Message: fmt.Sprintf(
			"timeout %s: want at most the host's collection interval, %s (steward_host's monitoring.interval)", timeout, interval)}
	}
	return nil
}

// Apply has nothing to do beyond the spec file: the daemon reloads the
// commands when it changes.
func (c customController) Apply(context.Context, api.CustomMetric, *api.CustomMetric) (core.Applied, error) {
	return core.Applied{}, nil
}

// Remove has nothing to do beyond the spec file either: without it the
// daemon stops running the command.
func (c customController) Remove(context.Context, api.CustomMetric) error { return nil }

// Observe asks the running daemon how the command's last run went. A
// daemon that does not answer is reported in DaemonError, never as an
// error: the object itself is there.
func (c customController) Observe(ctx context.Context, spec api.CustomMetric) (api.CustomMetricObserved, error) {
	return observeCommand(ctx, c.deps.Paths, spec.Name), nil
}

func observeCommand(ctx context.Context, p core.Paths, name string) api.CustomMetricObserved {
	states, err := daemonCollectors(ctx, p)
	if err != nil {
		return api.CustomMetricObserved{DaemonError: err.Error()}
	}
	collector := collect.Command{Name: name}.CollectorName()
	for _, st := range states {
		if st.Name == collector {
			return api.CustomMetricObserved{Collecting: true, LastRunAt: st.Time, OK: st.OK, LastError: st.Error, SeriesCount: st.Series}
		}
	}
	// Not (yet) running: say so when the daemon cannot load the commands,
	// since it then keeps the ones it had.
	var o api.CustomMetricObserved
	if _, err := loadCommands(p); err != nil {
		o.LastError = "the daemon cannot load the custom metrics: " + err.Error()
	}
	return o
}

// LoadCommands returns the loader of the custom metric commands the
// monitor calls when it starts and whenever the configuration changes:
// every /etc/steward/custom_metrics/<name>.json, all or nothing, since a
// monitor keeps its commands when the loader fails.
func LoadCommands(p core.Paths) func() ([]collect.Command, error) {
	return func() ([]collect.Command, error) { return loadCommands(p) }
}

func loadCommands(p core.Paths) ([]collect.Command, error) {
	dir := filepath.Join(p.ConfigDir, api.CustomMetricKind.Dir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	// A timeout the interval has outgrown (steward_host lowered it, a file
	// edited by hand) is cut to the interval, so collections never queue.
	interval, err := collectionInterval(p)
	if err != nil {
		interval = collect.DefaultInterval
	}
	var cmds []collect.Command
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || !api.ObjectNamePattern.MatchString(name) {
			continue // temporary files of atomic writes, editor backups
		}
		spec, err := readCustomMetric(p.ObjectFile(api.CustomMetricKind.Dir, name), name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		timeout, _ := spec.TimeoutDuration() // checked by readCustomMetric
		cmds = append(cmds, collect.Command{Name: spec.Name, Args: spec.Command, Timeout: min(timeout, interval), Help: spec.Help})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cmds, nil
}

// readCustomMetric reads and checks the spec file of custom metric name.
func readCustomMetric(file, name string) (api.CustomMetric, error) {
	var spec api.CustomMetric
	b, err := os.ReadFile(file)
	if err != nil {
		return spec, fmt.Errorf("read %s: %w", file, err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("parse %s: %w", file, err)
	}
	if err := spec.Validate(); err != nil {
		return spec, fmt.Errorf("check %s: %w", file, err)
	}
	if spec.Name != name {
		return spec, fmt.Errorf("check %s: it names %q, not %q", file, spec.Name, name)
	}
	return spec, nil
}

// collectionInterval is the host's collection interval, as agent.json says
// (the rpc side cannot ask the daemon, which may not run).
func collectionInterval(p core.Paths) (time.Duration, error) {
	var cfg api.AgentConfig
	b, err := os.ReadFile(p.AgentConfig())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", p.AgentConfig(), err)
	default:
		if err := json.Unmarshal(b, &cfg); err != nil {
			return 0, fmt.Errorf("parse %s: %w", p.AgentConfig(), err)
		}
	}
	interval, _, _, _, _, err := cfg.Monitoring.WithDefaults().Durations()
	if err != nil {
		return 0, fmt.Errorf("%s: monitoring: %w", p.AgentConfig(), err)
	}
	return interval, nil
}
