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
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
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

func (c *controller) dropIns() []string {
	return []string{filepath.Join(c.deps.Paths.Root, DropIn), filepath.Join(c.deps.Paths.Root, DropInLast)}
}

// dropInsChange reports whether the drop-ins differ from what the host's
// profiles want, spec in place of its stored version.
func (c *controller) dropInsChange(spec api.HardeningProfile) (files []string, want []string, changed bool) {
	first, last := renderDropIns(c.hostProfiles(spec))
	want = []string{first, last}
	for i, f := range c.dropIns() {
		if cur, err := os.ReadFile(f); err != nil || string(cur) != want[i] {
			changed = true
		}
	}
	return c.dropIns(), want, changed
}

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

// Guard saves the sshd drop-ins and the PAM stacks when the profile
// changes them: both can cut access.
func (c *controller) Guard(ctx context.Context, spec api.HardeningProfile) (*core.RevertPlan, error) {
	var files, what []string
	plan := &core.RevertPlan{}
	if f, _, changed := c.dropInsChange(spec); changed {
		files = append(files, f...)
		what = append(what, "sshd settings ("+DropIn+")")
		plan.Then = [][]string{{"systemctl", "reload-or-restart", "ssh.service"}}
	}
	if _, changed := c.sudoersChange(spec); changed {
		files = append(files, filepath.Join(c.deps.Paths.Root, SudoersFile))
		what = append(what, "sudo settings ("+SudoersFile+")")
	}
	if pamChanges(newHost(ctx, c.deps.Paths.Root, c.run), spec) {
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
// the files one family keeps for all its controls (kernel parameters,
// modules) and writes, validates and loads the sshd drop-ins.
func (c *controller) Apply(ctx context.Context, spec api.HardeningProfile, _ *api.HardeningProfile) (core.Applied, error) {
	var applied core.Applied
	root := c.deps.Paths.Root
	h := newHost(ctx, root, c.run)
	for _, ctl := range api.Catalogue {
		on, want := spec.Expected(ctl)
		f, ok := families[ctl.Family]
		if !on || !ok || f.check(h, ctl, want).Status != api.ControlFail {
			continue
		}
		changed, err := f.apply(h, ctl, want)
		if err != nil {
			return applied, fmt.Errorf("%s: %w", ctl.ID, err)
		}
		applied.Changed = applied.Changed || changed
	}
	changed, err := c.writeShared(h, c.hostProfiles(spec))
	applied.Changed = applied.Changed || changed
	if err != nil {
		return applied, err
	}
	if text, changed := c.sudoersChange(spec); changed {
		if err := c.writeSudoers(h, text); err != nil {
			return applied, err
		}
		applied.Changed = true
	}
	if files, want, changed := c.dropInsChange(spec); changed {
		for i, f := range files {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return applied, err
			}
			if err := atomicfile.Write(f, []byte(want[i]), 0o600); err != nil {
				return applied, err
			}
		}
		applied.Changed = true
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
	// A value set before the drop-in cannot be fixed without editing a
	// file Steward did not write: say which and where.
	obs, err := c.Observe(ctx, spec)
	if err != nil {
		return applied, err
	}
	var shadowed []string
	for _, r := range obs.Controls {
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
	var effective map[string]string
	var sshdErr error
	if out, err := c.run(ctx, "sshd", "-T"); err != nil {
		sshdErr = err
	} else {
		effective = parseSSHDT(out)
	}
	first := firstSettings(c.deps.Paths.Root)
	h := newHost(ctx, c.deps.Paths.Root, c.run)
	var obs api.HardeningObserved
	for _, ctl := range api.Catalogue {
		on, want := spec.Expected(ctl)
		var r api.ControlResult
		switch {
		case !on:
			r = api.ControlResult{Status: api.ControlOff, Expected: want}
		case ctl.Family == "sshd" && sshdErr != nil:
			r = api.ControlResult{Status: api.ControlError, Expected: want, Reason: sshdErr.Error()}
		case ctl.Family == "sshd":
			r = sshdResult(ctl, want, effective, first)
		default:
			r = families[ctl.Family].check(h, ctl, want)
		}
		r.ID, r.Title, r.Family, r.Refs = ctl.ID, ctl.Title, ctl.Family, ctl.Refs
		if s, ok := spec.Controls[ctl.ID]; ok && r.Reason == "" {
			r.Reason = "overridden: " + s.Reason
		}
		obs.Controls = append(obs.Controls, r)
	}
	obs.Controls = append(obs.Controls, observeCustom(ctx, spec)...)
	return obs, nil
}

// writeShared writes the kernel parameter and module files of the host's
// profiles (removed when none has such controls).
func (c *controller) writeShared(h *host, ps []api.HardeningProfile) (bool, error) {
	shared := []struct{ path, text string }{{SysctlFile, renderSysctl(h.root, ps)}}
	if h.container == "" {
		shared = append(shared, struct{ path, text string }{ModprobeFile, renderModprobe(ps)})
	}
	changed := false
	for _, f := range shared {
		path := filepath.Join(h.root, f.path)
		if len(ps) == 0 {
			err := os.Remove(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return changed, err
			}
			changed = changed || err == nil
			continue
		}
		ch, _, err := core.WriteIfChanged(path, []byte(f.text), 0o644)
		if err != nil {
			return changed, err
		}
		changed = changed || ch
	}
	return changed, nil
}

// Remove takes the profile's settings out of Steward's shared files (the
// sshd drop-ins, the sysctl and modprobe files), which keep the other
// profiles' and go when none is left. What it changed in the host's own
// files (modes, login.defs, PAM, banners, units, packages) stays: stricter
// is never worse, and the host's earlier state was not Steward's to keep.
// The runtime kernel values stay until the next boot.
func (c *controller) Remove(ctx context.Context, spec api.HardeningProfile) error {
	rest := c.hostProfiles(api.HardeningProfile{Name: spec.Name})
	if _, err := c.writeShared(newHost(ctx, c.deps.Paths.Root, c.run), rest); err != nil {
		return err
	}
	if len(rest) == 0 {
		if err := os.Remove(filepath.Join(c.deps.Paths.Root, SudoersFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	} else if text, changed := c.sudoersChange(api.HardeningProfile{Name: spec.Name}); changed {
		if err := c.writeSudoers(newHost(ctx, c.deps.Paths.Root, c.run), text); err != nil {
			return err
		}
	}
	changed := false
	first, last := renderDropIns(rest)
	for i, f := range c.dropIns() {
		var err error
		if len(rest) == 0 {
			err = os.Remove(f)
			changed = changed || err == nil
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			var ch bool
			ch, _, err = core.WriteIfChanged(f, []byte([]string{first, last}[i]), 0o600)
			changed = changed || ch
		}
		if err != nil {
			return err
		}
	}
	if !changed {
		return nil
	}
	_, err := c.run(ctx, "systemctl", "reload-or-restart", "ssh.service")
	return err
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
