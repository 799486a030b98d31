package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
)

// collectorsPath is where the daemon reports how each collector fared in
// the last collection (custom_metric.status reads it).
const collectorsPath = "/api/v1/collectors"

// collectorsTimeout bounds how long a status read waits for the daemon: a
// read must not hang on a daemon that accepts and never answers.
const collectorsTimeout = 5 * time.Second

// collectorState is one collector in the answer of collectorsPath.
type collectorState struct {
	Name            string    `json:"name"`
	OK              bool      `json:"ok"`
	Error           string    `json:"error,omitempty"`
	DurationSeconds float64   `json:"duration_seconds"`
	Time            time.Time `json:"time,omitzero"`
	Series          int       `json:"series"`
}

// serveCollectors answers collectorsPath on the daemon's unix socket only:
// a collector's error quotes the standard error of a command root ran,
// which is not for every local user that can reach the loopback listener.
func (m *Monitor) serveCollectors(w http.ResponseWriter, r *http.Request) {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); !ok || addr.Network() != "unix" {
		http.Error(w, "collector states are served on the daemon's socket only", http.StatusForbidden)
		return
	}
	out := []collectorState{}
	for _, st := range m.set.Status() {
		out = append(out, collectorState{Name: st.Name, OK: st.OK, Error: st.Error,
			DurationSeconds: st.Duration.Seconds(), Time: st.Time.UTC(), Series: st.Series})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// daemonCollectors asks the running daemon through its socket how each
// collector fared in its last collection.
func daemonCollectors(ctx context.Context, p core.Paths) ([]collectorState, error) {
	ctx, cancel := context.WithTimeout(ctx, collectorsTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, core.DaemonURL+collectorsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := core.DaemonClient(p).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the agent daemon does not answer on %s (%w): is steward-agent.service running?", p.Socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("read the daemon's collector states: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the daemon answered %s to %s: an older daemon than this agent? restart steward-agent.service", resp.Status, collectorsPath)
	}
	var out []collectorState
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode the daemon's collector states: %w", err)
	}
	return out, nil
}
