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
		ae.Message != `control sshd.max_auth_tries: this profile wants "6", steward_hardening_profile "other" on the same host wants "3"` {
		t.Errorf("another max_auth_tries: %v", err)
	}
	spec.Controls = nil
	spec.CustomControls = []api.CustomControl{{ID: "custom.x", Title: "x", Check: "printf ok", Expected: "ok", Apply: "true"}}
	if err := c.Check(context.Background(), spec); !errors.As(err, &ae) || !strings.Contains(ae.Message, `control custom.x: this profile wants check "printf ok" printing "ok"`) {
		t.Errorf("one custom id, another check: %v", err)
	}
}

// Two profiles on one host share Steward's files: each apply writes both
// profiles' settings, and removing one keeps the other's.
func TestSharedFiles_twoProfiles(t *testing.T) {
	c := &controller{deps: core.Deps{Paths: core.PathsUnder(t.TempDir())}, run: fakeRun(map[string]string{"systemctl": ""})}
	ops := api.HardeningProfile{Name: "ops", Level: "baseline", Controls: map[string]api.ControlSetting{
		"sshd.allow_groups": {Value: "ops", Reason: "only ops log in"}}}
	b, _ := json.Marshal(ops)
	dir := filepath.Join(c.deps.Paths.ConfigDir, api.HardeningKind.Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ops.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	base := api.HardeningProfile{Name: "base", Level: "baseline", Controls: map[string]api.ControlSetting{
		"sshd.max_auth_tries": {Enabled: new(bool), Reason: "ops sets it"}}}
	first, last := renderDropIns(c.hostProfiles(base))
	want := []string{first, last}
	if !strings.Contains(want[0], "AllowGroups ops\n") || !strings.Contains(want[0], "MaxAuthTries 3\n") ||
		!strings.HasPrefix(want[0], "# Written by steward-agent for steward_hardening_profile base, ops;") {
		t.Fatalf("base's apply keeps ops' settings, and one switched off in base but on in ops:\n%s", want[0])
	}
	for i, f := range []string{filepath.Join(c.deps.Paths.Root, DropIn), filepath.Join(c.deps.Paths.Root, DropInLast)} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(want[i]), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "ops.json")); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
	// ops' spec is gone and base's was never stored: nothing is left.
	if _, err := os.Stat(filepath.Join(c.deps.Paths.Root, DropIn)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the last profile's removal removes the drop-in: %v", err)
	}
}
