package core_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
)

// Requests are taken once, oldest first; a damaged one is reported and
// removed without hiding the others.
func TestMuteRequests_takenOnce(t *testing.T) {
	t.Parallel()
	p := coretest.NewHost(t)
	if reqs, err := core.TakeMuteRequests(p); err != nil || len(reqs) != 0 {
		t.Fatalf("no requests yet: %v, %v", reqs, err)
	}
	until := time.Date(2026, 3, 1, 12, 2, 0, 0, time.UTC)
	if err := core.RequestMute(p, until, "agent install"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.MuteRequestDir(), "1.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := core.RequestMute(p, until.Add(time.Minute), "agent rollback"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p.MuteRequestDir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("request directory: %v, %v; want 0700", fi, err)
	}
	reqs, err := core.TakeMuteRequests(p)
	if err == nil || !strings.Contains(err.Error(), "1.json") {
		t.Errorf("damaged request: %v, want it reported", err)
	}
	if len(reqs) != 2 || reqs[0].Reason != "agent install" || !reqs[0].Until.Equal(until) || reqs[1].Reason != "agent rollback" {
		t.Fatalf("requests: %+v", reqs)
	}
	if reqs, err := core.TakeMuteRequests(p); err != nil || len(reqs) != 0 {
		t.Fatalf("taken twice: %v, %v", reqs, err)
	}
}
