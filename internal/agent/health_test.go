package agent

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func TestParseUptime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "3600.25 7000.50\n", want: 3600},
		{in: "0.99 0.50", want: 0},
		{in: "", wantErr: true},
		{in: "abc 1", wantErr: true},
		{in: "-5 1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseUptime([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseUptime(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseUptime(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestHeartbeat_Alive(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		beat Heartbeat
		want bool
	}{
		{name: "never", beat: Heartbeat{}, want: false},
		{name: "just now", beat: Heartbeat{Time: now, IntervalMS: 10_000}, want: true},
		{name: "two intervals old", beat: Heartbeat{Time: now.Add(-20 * time.Second), IntervalMS: 10_000}, want: true},
		{name: "exactly three intervals old", beat: Heartbeat{Time: now.Add(-30 * time.Second), IntervalMS: 10_000}, want: false},
		{name: "long interval keeps it fresh", beat: Heartbeat{Time: now.Add(-2 * time.Minute), IntervalMS: 60_000}, want: true},
		{name: "no interval recorded uses default", beat: Heartbeat{Time: now.Add(-25 * time.Second)}, want: true},
		{name: "no interval recorded, stale", beat: Heartbeat{Time: now.Add(-31 * time.Second)}, want: false},
		{name: "stopped cleanly", beat: Heartbeat{Time: now, IntervalMS: 10_000, Stopped: true}, want: false},
		{name: "slightly in the future", beat: Heartbeat{Time: now.Add(5 * time.Second), IntervalMS: 10_000}, want: true},
		{name: "far in the future", beat: Heartbeat{Time: now.Add(time.Hour), IntervalMS: 10_000}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.beat.Alive(now); got != tt.want {
				t.Errorf("Alive() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	beat := now.Add(-5 * time.Second)
	tests := []struct {
		name        string
		heartbeat   string // "" means no heartbeat file.
		wantRunning bool
		wantBeat    time.Time
	}{
		{name: "no daemon ever", heartbeat: ""},
		{name: "daemon fresh", heartbeat: `{"time":"2025-03-01T11:59:55Z","interval_ms":10000}`, wantRunning: true, wantBeat: beat},
		{name: "daemon stale", heartbeat: `{"time":"2025-03-01T11:50:00Z","interval_ms":10000}`, wantBeat: now.Add(-10 * time.Minute)},
		{name: "heartbeat garbage", heartbeat: `not json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := coretest.NewHost(t)
			if tt.heartbeat != "" {
				if err := os.WriteFile(p.Heartbeat(), []byte(tt.heartbeat), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Health(core.Deps{Paths: p, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("Health: %v", err)
			}
			if got.HostID != coretest.MachineID || got.UptimeSeconds != 3600 || got.AgentVersion != Version || got.Protocol != api.ProtocolVersion {
				t.Errorf("Health identity = %+v", got)
			}
			if got.DaemonRunning != tt.wantRunning || !got.LastHeartbeat.Equal(tt.wantBeat) {
				t.Errorf("daemon running %v, last heartbeat %v; want %v, %v", got.DaemonRunning, got.LastHeartbeat, tt.wantRunning, tt.wantBeat)
			}
		})
	}
}

func TestHealth_noMachineID(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if err := os.Remove(p.MachineID); err != nil {
		t.Fatal(err)
	}
	if _, err := Health(core.Deps{Paths: p}); err == nil {
		t.Fatal("want an error when the host has no machine id")
	}
	// Without /proc/uptime the result still comes, with uptime 0.
	p = coretest.NewHost(t)
	if err := os.Remove(p.Uptime); err != nil {
		t.Fatal(err)
	}
	got, err := Health(core.Deps{Paths: p})
	if err != nil {
		t.Fatalf("Health without uptime: %v", err)
	}
	if b, _ := json.Marshal(got); got.UptimeSeconds != 0 {
		t.Errorf("uptime without /proc/uptime: %s", b)
	}
}
