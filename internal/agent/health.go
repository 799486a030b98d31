package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// DefaultHeartbeatInterval is how often the daemon rewrites its heartbeat
// unless told otherwise.
const DefaultHeartbeatInterval = 10 * time.Second

// missedBeats is how many heartbeat intervals may pass before the daemon
// counts as not running; one slow beat on a busy host is not an outage.
const missedBeats = 3

// Heartbeat is the content of the daemon's heartbeat file.
type Heartbeat struct {
	Time       time.Time `json:"time"`        // When the daemon wrote this heartbeat.
	Started    time.Time `json:"started"`     // When the daemon started.
	IntervalMS int64     `json:"interval_ms"` // The daemon's heartbeat interval.
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	Stopped    bool      `json:"stopped,omitempty"` // The daemon shut down cleanly after writing this.
}

// Interval returns the daemon's heartbeat interval, or the default when the
// file does not say.
func (h Heartbeat) Interval() time.Duration {
	if h.IntervalMS <= 0 {
		return DefaultHeartbeatInterval
	}
	return time.Duration(h.IntervalMS) * time.Millisecond
}

// Alive reports whether the daemon that wrote h was running at now: it has not
// stopped and its heartbeat is fresher than three intervals. A heartbeat from
// the future (the clock stepped back) counts the same way, by its distance.
func (h Heartbeat) Alive(now time.Time) bool {
	if h.Time.IsZero() || h.Stopped {
		return false
	}
	age := now.Sub(h.Time)
	if age < 0 {
		age = -age
	}
	return age < missedBeats*h.Interval()
}

// ReadHeartbeat reads the daemon's heartbeat file. A missing file is not an
// error: it returns a zero Heartbeat.
func ReadHeartbeat(p core.Paths) (Heartbeat, error) {
	data, err := os.ReadFile(p.Heartbeat())
	if errors.Is(err, fs.ErrNotExist) {
		return Heartbeat{}, nil
	}
	if err != nil {
		return Heartbeat{}, fmt.Errorf("read heartbeat %s: %w", p.Heartbeat(), err)
	}
	var h Heartbeat
	if err := json.Unmarshal(data, &h); err != nil {
		return Heartbeat{}, fmt.Errorf("decode heartbeat %s: %w", p.Heartbeat(), err)
	}
	return h, nil
}

// parseUptime returns the whole seconds of the first field of /proc/uptime.
func parseUptime(data []byte) (int64, error) {
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, errors.New("uptime is empty")
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil || secs < 0 {
		return 0, fmt.Errorf("uptime %q is not a number of seconds", fields[0])
	}
	return int64(secs), nil
}

// Health gathers the api.HealthResult of this host. Only an unreadable host
// id is an error; an unknown uptime or an unreadable heartbeat is logged and
// reported as zero or as a daemon that is not running.
func Health(deps core.Deps) (api.HealthResult, error) {
	deps = deps.WithDefaults()
	id, err := core.ReadHostID(deps.Paths)
	if err != nil {
		return api.HealthResult{}, err
	}
	res := api.HealthResult{AgentVersion: Version, HostID: id, Protocol: api.ProtocolVersion}
	if data, err := os.ReadFile(deps.Paths.Uptime); err != nil {
		deps.Logger.Debug("host uptime unknown", "path", deps.Paths.Uptime, "error", err)
	} else if res.UptimeSeconds, err = parseUptime(data); err != nil {
		deps.Logger.Warn("host uptime unknown", "path", deps.Paths.Uptime, "error", err)
	}
	beat, err := ReadHeartbeat(deps.Paths)
	if err != nil {
		deps.Logger.Warn("daemon heartbeat unreadable", "error", err)
	}
	if !beat.Time.IsZero() {
		res.LastHeartbeat = beat.Time.UTC()
	}
	res.DaemonRunning = beat.Alive(deps.Now())
	return res, nil
}

func handleHealth(_ context.Context, deps core.Deps, req api.Request) (any, error) {
	var params struct{}
	if err := core.DecodeParams(req, &params); err != nil {
		return nil, err
	}
	return Health(deps)
}
