package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Register adds the log_forward lifecycle methods to an agent's method
// registry.
func Register(methods map[string]core.Handler) {
	core.RegisterKind(methods, api.LogForwardKind, newController)
}

// controller is the managed-object controller of steward_log_forward. The
// daemon (Daemon) reads the spec files whenever the configuration changes,
// so Apply and Remove have nothing to do beyond the file the lifecycle
// writes; the forwarding is observed from the running daemon.
type controller struct{ deps core.Deps }

func newController(deps core.Deps) core.Controller[api.LogForward, api.LogForwardObserved] {
	return controller{deps: deps}
}

// Check refuses what can never work on this host: a log file in a
// directory that does not exist, and CA, certificate or key files that are
// missing or that a user other than root could swap (the CA decides whom
// the logs go to; the key proves who sends them).
func (c controller) Check(_ context.Context, spec api.LogForward) error {
	root := c.deps.Paths.Root
	for i, f := range spec.Files {
		dir := filepath.Dir(f.Path)
		fi, err := os.Stat(filepath.Join(root, dir))
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return &api.Error{Code: api.CodeLogDirMissing, Message: fmt.Sprintf("files[%d].path %s: directory %s: %v", i, f.Path, dir, describeStatErr(err))}
		}
	}
	t := spec.Target
	for _, a := range []struct{ attr, path string }{{"target.ca_file", t.CAFile}, {"target.cert_file", t.CertFile}, {"target.key_file", t.KeyFile}} {
		if a.path == "" {
			continue
		}
		full := filepath.Join(root, a.path)
		fi, err := os.Stat(full)
		switch {
		case err != nil:
			err = describeStatErr(err)
		case !fi.Mode().IsRegular():
			err = errors.New("not a regular file")
		default:
			err = core.RootOnly(full)
		}
		if err != nil {
			return &api.Error{Code: api.CodeLogTLSFile, Message: fmt.Sprintf("%s %s: %v", a.attr, a.path, err)}
		}
	}
	return nil
}

func describeStatErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errors.New("no such file or directory on the host")
	}
	return err
}

// Apply has nothing to do beyond the spec file: the daemon reloads the
// forwarders when it changes.
func (c controller) Apply(context.Context, api.LogForward, *api.LogForward) (core.Applied, error) {
	return core.Applied{}, nil
}

// Remove has nothing to do beyond the spec file either: without it the
// daemon stops the forwarder and forgets its positions.
func (c controller) Remove(context.Context, api.LogForward) error { return nil }

// observeWait is how long Observe waits for the daemon to run the spec as
// written: it reloads well within a second of a change, so the status
// read right after a configure is the new forwarder's.
const observeWait = 3 * time.Second

// Observe asks the running daemon how the forwarder fares. A daemon that
// does not answer is reported in LastError, never as an error: the object
// itself is there.
func (c controller) Observe(ctx context.Context, spec api.LogForward) (api.LogForwardObserved, error) {
	return observeForwarder(ctx, c.deps.Paths, spec), nil
}

func observeForwarder(ctx context.Context, p core.Paths, spec api.LogForward) api.LogForwardObserved {
	want := core.Digest(api.RenderSpec(spec))
	deadline := time.Now().Add(observeWait)
	for {
		states, err := DaemonStatus(ctx, p)
		if err != nil {
			return api.LogForwardObserved{LastError: err.Error()}
		}
		st, ok := states[spec.Name]
		switch {
		case ok && st.Refused != "" && st.Observed == nil:
			return api.LogForwardObserved{LastError: "the daemon does not forward this spec: " + st.Refused}
		case ok && st.Observed != nil && (st.SpecSHA256 == want || st.Refused != "" || time.Now().After(deadline)):
			o := *st.Observed
			if st.Refused != "" {
				o.LastError = "the daemon runs an earlier spec: " + st.Refused
			}
			return o
		case time.Now().After(deadline) || ctx.Err() != nil:
			return api.LogForwardObserved{LastError: "the daemon does not forward this spec yet"}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// statusTimeout bounds how long a status read waits for the daemon: a read
// must not hang on a daemon that accepts and never answers.
const statusTimeout = 5 * time.Second

// DaemonStatus asks the running daemon through its socket for the state of
// every forwarder, keyed by name.
func DaemonStatus(ctx context.Context, p core.Paths) (map[string]ForwarderState, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, core.DaemonURL+statusPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := core.DaemonClient(p).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the agent daemon does not answer on %s (%w): is %s running?", p.Socket, err, api.ServiceName)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's log forwarder statuses: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the daemon answered %s to %s: an older daemon than this agent? restart %s", resp.Status, statusPath, api.ServiceName)
	}
	var out map[string]ForwarderState
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode the daemon's log forwarder statuses: %w", err)
	}
	return out, nil
}
