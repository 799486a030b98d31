// Package harden is the agent side of steward_hardening_profile: the
// control catalogue (api.Catalogue) checked against the live host and
// applied. sshd controls are read with `sshd -T` (the effective values),
// written as one drop-in that sshd reads first, validated with `sshd -t`
// and applied under confirm-or-revert; file controls read and set modes
// and owners.
package harden

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Register adds the hardening lifecycle methods to an agent's method registry.
func Register(methods map[string]core.Handler) {
	core.RegisterKind(methods, api.HardeningKind, func(deps core.Deps) core.Controller[api.HardeningProfile, api.HardeningObserved] {
		return &controller{deps: deps, run: core.Command}
	})
	methods[api.ComplianceReport.Name] = handleReport
}

type controller struct {
	deps core.Deps
	run  func(ctx context.Context, name string, args ...string) (string, error)
}

var _ core.Guarded[api.HardeningProfile] = (*controller)(nil)

// others are the host's other profiles, by name.
func (c *controller) others(name string) map[string]api.HardeningProfile {
	out := map[string]api.HardeningProfile{}
	files, _ := filepath.Glob(filepath.Join(c.deps.Paths.ConfigDir, api.HardeningKind.Dir, "*.json"))
	for _, f := range files {
		n := strings.TrimSuffix(filepath.Base(f), ".json")
		var p api.HardeningProfile
		if n != name && readJSON(f, &p) == nil {
			out[n] = p
		}
	}
	return out
}

// hostProfiles are every profile the host's shared files (the sshd
// drop-ins, the sysctl and modprobe files) carry: spec (unless nil, for
// a profile being removed) and the others, in name order. They never
// disagree (Check refuses that), so one file holds them all and a
// profile's apply or removal never takes another's settings away.
func (c *controller) hostProfiles(spec api.HardeningProfile) []api.HardeningProfile {
	all := c.others(spec.Name)
	if spec.Level != "" {
		all[spec.Name] = spec
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]api.HardeningProfile, len(names))
	for i, n := range names {
		out[i] = all[n]
	}
	return out
}

// Check refuses unknown controls and a control another profile on the
// host sets otherwise.
func (c *controller) Check(_ context.Context, spec api.HardeningProfile) error {
	if err := spec.CheckControls(); err != nil {
		return err
	}
	for name, other := range c.others(spec.Name) {
		if id, v1, v2, ok := spec.Disagreement(other); ok {
			return &api.Error{Code: api.CodeControlConflict, Message: fmt.Sprintf(
				"control %s: this profile wants %s, steward_hardening_profile %q on the same host wants %s", id, v1, name, v2)}
		}
	}
	return nil
}

// Guard saves what the profile changes that can cut access: the sshd
// drop-ins, the sudoers file and the PAM stacks.
func (c *controller) Guard(ctx context.Context, spec api.HardeningProfile) (*core.RevertPlan, error) {
	h := newHost(ctx, c.deps.Paths.Root, c.run)
	files, what, sshd := guarded(sharedChanges(h, c.hostProfiles(spec)))
	for i := range files {
		files[i] = h.path(files[i])
	}
	plan := &core.RevertPlan{}
	if sshd {
		plan.Then = [][]string{{"systemctl", "reload-or-restart", "ssh.service"}}
	}
	if pamChanges(h, spec) {
		files = append(files, pamFiles(c.deps.Paths.Root)...)
		what = append(what, "PAM stacks (/etc/pam.d/common-*)")
	}
	if len(files) == 0 {
		return nil, nil
	}
	timeout, err := api.ParseConfirmTimeout(spec.ConfirmTimeout)
	if err != nil {
		return nil, err
	}
	plan.Timeout, plan.Detail = timeout, strings.Join(what, " and ")+" of hardening profile "+spec.Name
	for _, f := range files {
		saved, err := core.SaveFile(f)
		if err != nil {
			return nil, err
		}
		plan.Files = append(plan.Files, saved)
	}
	return plan, nil
}

// Apply sets every control that fails, family by family, then writes
// Steward's shared files (sshd drop-ins, kernel parameters, modules,
// sudoers), checks sshd's with `sshd -t` and reloads it, and runs the
// custom controls. A control that still fails after all that has its
// value set where Steward does not write (an earlier sshd drop-in, a
// later sysctl.d or sudoers.d file): the apply says which and where.
func (c *controller) Apply(ctx context.Context, spec api.HardeningProfile, _ *api.HardeningProfile) (core.Applied, error) {
	var applied core.Applied
	h := newHost(ctx, c.deps.Paths.Root, c.run)
	for _, ctl := range api.Catalogue {
		on, want := spec.Expected(ctl)
		f := families[ctl.Family]
		if !on || f.check(h, ctl, want).Status != api.ControlFail {
			continue
		}
		changed, err := f.apply(h, ctl, want)
		if err != nil {
			return applied, fmt.Errorf("%s: %w", ctl.ID, err)
		}
		applied.Changed = applied.Changed || changed
	}
	changes := sharedChanges(h, c.hostProfiles(spec))
	sshd, err := writeChanges(h, changes)
	applied.Changed = applied.Changed || len(changes) > 0
	if err != nil {
		return applied, err
	}
	if sshd {
		if out, err := c.run(ctx, "sshd", "-t"); err != nil {
			return applied, core.BadRequest("sshd refuses the settings (sshd -t): %s", core.LastLines(out, 5))
		}
		if _, err := c.run(ctx, "systemctl", "reload-or-restart", "ssh.service"); err != nil {
			return applied, err
		}
	}
	if err := applyCustom(ctx, spec, &applied); err != nil {
		return applied, err
	}
	var shadowed []string
	for _, r := range catalogueResults(newHost(ctx, c.deps.Paths.Root, c.run), spec) {
		// sshd's earlier files, sysctl.d and sudoers.d files read after Steward's.
		if (r.Family == "sshd" || r.Family == "sysctl" || r.Family == "sudo") && r.Status == api.ControlFail && strings.Contains(r.Reason, "Steward's") {
			shadowed = append(shadowed, r.ID+": "+r.Reason)
		}
	}
	if len(shadowed) > 0 {
		return applied, core.BadRequest("%s; remove those lines, or switch the controls off with a reason", strings.Join(shadowed, "; "))
	}
	return applied, nil
}

// Observe reads every control of the profile live.
func (c *controller) Observe(ctx context.Context, spec api.HardeningProfile) (api.HardeningObserved, error) {
	obs := api.HardeningObserved{Controls: catalogueResults(newHost(ctx, c.deps.Paths.Root, c.run), spec)}
	obs.Controls = append(obs.Controls, observeCustom(ctx, spec)...)
	return obs, nil
}

// catalogueResults checks every catalogue control of the profile on h.
func catalogueResults(h *host, spec api.HardeningProfile) []api.ControlResult {
	var out []api.ControlResult
	for _, ctl := range api.Catalogue {
		on, want := spec.Expected(ctl)
		r := api.ControlResult{Status: api.ControlOff, Expected: want}
		if on {
			r = families[ctl.Family].check(h, ctl, want)
		}
		r.ID, r.Title, r.Family, r.Refs = ctl.ID, ctl.Title, ctl.Family, ctl.Refs
		if s, ok := spec.Controls[ctl.ID]; ok && r.Reason == "" {
			r.Reason = "overridden: " + s.Reason
		}
		out = append(out, r)
	}
	return out
}

// Remove takes the profile's settings out of Steward's shared files (the
// sshd drop-ins, the sysctl, modprobe and sudoers files), which keep the
// other profiles' and go when none is left. What it changed in the host's
// own files (modes, login.defs, PAM, banners, units, packages) stays:
// stricter is never worse, and the host's earlier state was not Steward's
// to keep. The runtime kernel values stay until the next boot.
func (c *controller) Remove(ctx context.Context, spec api.HardeningProfile) error {
	h := newHost(ctx, c.deps.Paths.Root, c.run)
	sshd, err := writeChanges(h, sharedChanges(h, c.hostProfiles(api.HardeningProfile{Name: spec.Name})))
	if err != nil || !sshd {
		return err
	}
	_, err = c.run(ctx, "systemctl", "reload-or-restart", "ssh.service")
	return err
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
