package harden

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// The agent refuses a profile that disagrees with another on the host, by
// the same rule the provider applies at plan time (api Disagreement):
// catalogue values, and custom controls with one id and another check.
func TestCheckConflict(t *testing.T) {
	c := &controller{deps: core.Deps{Paths: core.PathsUnder(t.TempDir())}}
	other := api.HardeningProfile{Name: "other", Level: "baseline", CustomControls: []api.CustomControl{
		{ID: "custom.x", Title: "x", Check: "echo ok", Expected: "ok", Apply: "true"}}}
	b, _ := json.Marshal(other)
	dir := filepath.Join(c.deps.Paths.ConfigDir, api.HardeningKind.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	spec := api.HardeningProfile{Name: "base", Level: "baseline"}
	if err := c.Check(context.Background(), spec); err != nil {
		t.Errorf("profiles that agree: %v", err)
	}
	spec.Controls = map[string]api.ControlSetting{"sshd.max_auth_tries": {Value: "6", Reason: "x"}}
	var ae *api.Error
	err := c.Check(context.Background(), spec)
	if !errors.As(err, &ae) || ae.Code != api.CodeControlConflict ||
		ae.Message != `control sshd.max_auth_tries: this profile wants "6", steward_hardening_profile "other" on the same host wants "4"` {
		t.Errorf("another max_auth_tries: %v", err)
	}
	spec.Controls = nil
	spec.CustomControls = []api.CustomControl{{ID: "custom.x", Title: "x", Check: "printf ok", Expected: "ok", Apply: "true"}}
	if err := c.Check(context.Background(), spec); !errors.As(err, &ae) || !strings.Contains(ae.Message, `control custom.x: this profile wants check "printf ok" printing "ok"`) {
		t.Errorf("one custom id, another check: %v", err)
	}
}
