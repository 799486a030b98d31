package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Daemon is the daemon component that runs one Forwarder per
// /etc/steward/log_forward/<name>.json, its positions under
// /var/lib/steward/log_forward/<name>. It starts, restarts and stops them
// as the spec files come, change and go, exports their metrics and serves
// their statuses on the daemon's socket.
type Daemon struct {
	deps core.Deps
	// tune, when set, adjusts each forwarder's configuration (tests
	// shorten its timings or put a stand-in journalctl there).
	tune func(*Config)

	mu      sync.Mutex
	running map[string]*runningForwarder
	// refused are the spec files that cannot be forwarded, with why; a
	// forwarder started from an earlier version of the file runs on.
	refused map[string]string
}

// runningForwarder is one Forwarder the daemon runs, and how to stop it.
type runningForwarder struct {
	digest string // core.Digest of the rendered spec it runs
	fwd    *Forwarder
	stop   context.CancelFunc
	done   chan struct{} // closed when its Run returned and positions are saved
}

var (
	_ core.Component = (*Daemon)(nil)
	_ core.Routed    = (*Daemon)(nil)
)

// NewDaemon returns the log forwarding component.
func NewDaemon(deps core.Deps) *Daemon {
	return &Daemon{deps: deps.WithDefaults(), running: map[string]*runningForwarder{}, refused: map[string]string{}}
}

// Name implements core.Component.
func (d *Daemon) Name() string { return "log_forwarder" }

// Describe implements prometheus.Collector: every forwarder's metrics have
// the same descriptions, told apart by their log_forward label.
func (d *Daemon) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{descConnected, descConnErrors, descLines, descLag, descBacklog} {
		ch <- desc
	}
}

// Collect implements prometheus.Collector.
func (d *Daemon) Collect(ch chan<- prometheus.Metric) {
	for _, r := range d.snapshot() {
		r.fwd.Collect(ch)
	}
}

func (d *Daemon) snapshot() map[string]*runningForwarder {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*runningForwarder, len(d.running))
	for n, r := range d.running {
		out[n] = r
	}
	return out
}

// Run keeps the forwarders in line with the spec files until ctx ends,
// then stops them all; each saves its positions before the daemon exits,
// since their work runs under rt.Go. The forwarders stay known, so that
// Collect and the status route report them until the daemon exits.
func (d *Daemon) Run(ctx context.Context, rt *core.Runtime) error {
	rt.Report(d.reload(rt))
	for {
		select {
		case <-ctx.Done():
			d.stopAll()
			return nil
		case <-rt.Changed:
			rt.Report(d.reload(rt))
		}
	}
}

// reload reads every spec file and starts what is new, restarts what
// changed and stops what is gone.
func (d *Daemon) reload(rt *core.Runtime) error {
	p := d.deps.Paths
	dir := filepath.Join(p.ConfigDir, api.LogForwardKind.Dir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", dir, err) // keep what runs: nothing is known
	}
	want := map[string]bool{}
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || !api.ObjectNamePattern.MatchString(name) {
			continue // temporary files of atomic writes, editor backups
		}
		want[name] = true
		if err := d.ensure(rt, name); err != nil {
			d.mu.Lock()
			d.refused[name] = err.Error()
			d.mu.Unlock()
			errs = append(errs, err)
			continue
		}
		d.mu.Lock()
		delete(d.refused, name)
		d.mu.Unlock()
	}
	for name := range d.snapshot() {
		if !want[name] {
			d.stopForwarder(name, true)
		}
	}
	d.mu.Lock()
	for name := range d.refused {
		if !want[name] {
			delete(d.refused, name)
		}
	}
	d.mu.Unlock()
	d.sweepState(want)
	return errors.Join(errs...)
}

// ensure runs the forwarder of spec file name as the file says now.
func (d *Daemon) ensure(rt *core.Runtime, name string) error {
	file := d.deps.Paths.ObjectFile(api.LogForwardKind.Dir, name)
	spec, digest, err := readLogForward(file, name)
	if err != nil {
		return err
	}
	d.mu.Lock()
	cur := d.running[name]
	d.mu.Unlock()
	if cur != nil && cur.digest == digest {
		return nil
	}
	// The old forwarder saves its positions before the new one loads them:
	// the sources that stay resume where it left off.
	if cur != nil {
		d.stopForwarder(name, false)
	}
	cfg := Config{Spec: spec, StateDir: d.stateDir(name), Logger: rt.Logger}
	if d.tune != nil {
		d.tune(&cfg)
	}
	fwd, err := New(cfg)
	if err != nil {
		return err
	}
	r := &runningForwarder{digest: digest, fwd: fwd, done: make(chan struct{})}
	started := make(chan struct{})
	rt.Go(func(work context.Context) {
		ctx, stop := context.WithCancel(work)
		r.stop = stop
		close(started)
		defer close(r.done)
		defer stop()
		if err := fwd.Run(ctx); err != nil {
			rt.Logger.Warn("log forwarder stopped", "log_forward", name, "error", err)
		}
	})
	<-started
	d.mu.Lock()
	d.running[name] = r
	d.mu.Unlock()
	rt.Logger.Info("log forwarder started", "log_forward", name, "digest", digest)
	return nil
}

// stopForwarder stops the forwarder name and waits until it saved its
// positions; with forget, its spec is gone and so is its state.
func (d *Daemon) stopForwarder(name string, forget bool) {
	d.mu.Lock()
	r := d.running[name]
	delete(d.running, name)
	d.mu.Unlock()
	if r == nil {
		return
	}
	r.stop()
	<-r.done
	if forget {
		if err := os.RemoveAll(d.stateDir(name)); err != nil {
			d.deps.Logger.Warn("log forward state not removed", "log_forward", name, "error", err)
		}
	}
}

// stopAll tells every forwarder to stop at once, so that their waits for
// the receiver to acknowledge (Config.ShutdownTimeout) overlap. Each saves
// its positions in its rt.Go work, which the daemon waits for.
func (d *Daemon) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.running {
		r.stop()
	}
}

// sweepState removes the positions of forwarders whose spec is gone (it
// went while the daemon was down), so one made again later with the same
// name starts afresh instead of resending what was logged in between.
func (d *Daemon) sweepState(want map[string]bool) {
	root := filepath.Join(d.deps.Paths.StateDir, api.LogForwardKind.Dir)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && !want[e.Name()] && api.ObjectNamePattern.MatchString(e.Name()) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

func (d *Daemon) stateDir(name string) string {
	return filepath.Join(d.deps.Paths.StateDir, api.LogForwardKind.Dir, name)
}

// readLogForward reads and checks the spec file of forwarder name.
func readLogForward(file, name string) (api.LogForward, string, error) {
	var spec api.LogForward
	b, err := os.ReadFile(file)
	if err != nil {
		return spec, "", fmt.Errorf("read %s: %w", file, err)
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, "", fmt.Errorf("parse %s: %w", file, err)
	}
	if err := spec.Validate(); err != nil {
		return spec, "", fmt.Errorf("check %s: %w", file, err)
	}
	if spec.Name != name {
		return spec, "", fmt.Errorf("check %s: it names %q, not %q", file, spec.Name, name)
	}
	// The digest of what the spec means, not of its bytes: a file only
	// reformatted by hand restarts nothing, and log_forward.status
	// compares it with the spec it parsed.
	return spec, core.Digest(api.RenderSpec(spec)), nil
}

// statusPath is where the daemon reports its forwarders (log_forward.status
// and `steward-agent logs status` read it).
const statusPath = "/api/v1/log_forward"

// ForwarderState is one forwarder as the daemon reports it on statusPath.
type ForwarderState struct {
	// SpecSHA256 is the digest of the rendered spec the running forwarder
	// was started from; empty when none runs.
	SpecSHA256 string                  `json:"spec_sha256,omitempty"`
	Observed   *api.LogForwardObserved `json:"observed,omitempty"`
	// Refused says why the daemon does not run the spec file as it is now.
	Refused string `json:"refused,omitempty"`
}

// Routes implements core.Routed.
func (d *Daemon) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+statusPath, d.serveStatus)
}

// serveStatus answers statusPath on the daemon's unix socket only: a
// status quotes errors that may carry log content, and cursors and
// offsets are not for every local user that can reach the loopback
// listener.
func (d *Daemon) serveStatus(w http.ResponseWriter, r *http.Request) {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); !ok || addr.Network() != "unix" {
		http.Error(w, "log forwarder statuses are served on the daemon's socket only", http.StatusForbidden)
		return
	}
	out := map[string]ForwarderState{}
	for name, rf := range d.snapshot() {
		o := rf.fwd.Status()
		out[name] = ForwarderState{SpecSHA256: rf.digest, Observed: &o}
	}
	d.mu.Lock()
	for name, why := range d.refused {
		st := out[name]
		st.Refused = why
		out[name] = st
	}
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// SortedNames returns the names of states in order, for printing.
func SortedNames(states map[string]ForwarderState) []string {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
