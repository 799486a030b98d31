package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// muteCheckingServices records, at every restart, the mute requests
// waiting for the rule engine.
type muteCheckingServices struct {
	fakeServices
	p       core.Paths
	reasons []string
}

func (m *muteCheckingServices) Restart(ctx context.Context, unit string) error {
	reqs, err := core.TakeMuteRequests(m.p)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if r.Until.Before(time.Now().Add(time.Minute)) {
			m.reasons = append(m.reasons, "too short: "+r.Reason)
			continue
		}
		m.reasons = append(m.reasons, r.Reason)
	}
	if len(reqs) == 0 {
		m.reasons = append(m.reasons, "none")
	}
	return m.fakeServices.Restart(ctx, unit)
}

// Install and rollback ask for the mute before they restart the daemon,
// so the rules with mute_during_changes do not page for Steward's own
// restart.
func TestInstallAndRollback_requestMuteBeforeRestart(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	svc := &muteCheckingServices{p: p}
	deps := core.Deps{Paths: p, Services: svc}
	cfg := api.AgentConfig{HostID: coretest.MachineID, ListenAddress: "127.0.0.1:9276", HeartbeatInterval: "10s"}
	if err := call(t, deps, api.MethodInstall, api.InstallParams{Binary: stageBinary(t, p, "steward-agent-1.0.0-aaaa", "v1"), Config: cfg}, nil); err != nil {
		t.Fatal(err)
	}
	if err := call(t, deps, api.MethodInstall, api.InstallParams{Binary: stageBinary(t, p, "steward-agent-2.0.0-bbbb", "v2"), Config: cfg}, nil); err != nil {
		t.Fatal(err)
	}
	if err := call(t, deps, api.MethodRollback, api.RollbackParams{}, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"agent install", "agent install", "agent rollback"}; !slices.Equal(svc.reasons, want) {
		t.Fatalf("mute requests at each restart: %v, want %v", svc.reasons, want)
	}
}
