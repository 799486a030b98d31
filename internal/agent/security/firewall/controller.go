package firewall

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Register adds the firewall lifecycle methods to an agent's method registry.
func Register(methods map[string]core.Handler) {
	core.RegisterKind(methods, api.FirewallKind, func(deps core.Deps) core.Controller[api.Firewall, api.FirewallObserved] {
		return &controller{deps: deps, nft: func(ctx context.Context, args ...string) (string, error) {
			return core.Command(ctx, "nft", args...)
		}}
	})
}

// Unit loads the ruleset at boot, before the network is up.
const Unit = "steward-firewall.service"

// controller is the managed-object controller of steward_firewall.
type controller struct {
	deps core.Deps
	nft  func(ctx context.Context, args ...string) (string, error)
}

var _ core.Guarded[api.Firewall] = (*controller)(nil)

// Files: what Steward loaded (the boot unit loads it again), the table as
// nft listed it right after, and the way back of a pending change.
func (c *controller) dir() string          { return filepath.Join(c.deps.Paths.StateDir, "firewall") }
func (c *controller) rulesetFile() string  { return filepath.Join(c.dir(), "ruleset.nft") }
func (c *controller) expectedFile() string { return filepath.Join(c.dir(), "expected.nft") }
func (c *controller) revertFile() string   { return filepath.Join(c.dir(), "revert.nft") }
func (c *controller) unitFile() string {
	return filepath.Join(c.deps.Paths.Root, "etc/systemd/system", Unit)
}

// live is the table as nft lists it; "" when there is none.
func (c *controller) live(ctx context.Context) (string, error) {
	out, err := c.nft(ctx, "list", "table", "inet", "steward")
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return "", nil
		}
		return "", err
	}
	return out, nil
}

// Check refuses a second firewall on the host and a ruleset nft does not
// accept, before anything is written.
func (c *controller) Check(ctx context.Context, spec api.Firewall) error {
	others, err := filepath.Glob(filepath.Join(c.deps.Paths.ConfigDir, api.FirewallKind.Dir, "*.json"))
	if err != nil {
		return err
	}
	for _, o := range others {
		if name := strings.TrimSuffix(filepath.Base(o), ".json"); name != spec.Name {
			return &api.Error{Code: api.CodeFirewallConflict, Message: fmt.Sprintf(
				"the host already has steward_firewall %q, which owns table %s; a host has one firewall", name, Table)}
		}
	}
	if err := core.EnsurePrivateDir(c.dir()); err != nil {
		return err
	}
	check := filepath.Join(c.dir(), "check.nft")
	if err := atomicfile.Write(check, []byte(Render(spec)), 0o600); err != nil {
		return err
	}
	defer func() { _ = os.Remove(check) }()
	if out, err := c.nft(ctx, "-c", "-f", check); err != nil {
		return core.BadRequest("nft refuses the ruleset: %s", core.LastLines(out, 5))
	}
	return nil
}

// inSync reports whether the host already runs spec: the ruleset file is
// its rendering and the live table is what nft listed after loading it.
func (c *controller) inSync(ctx context.Context, spec api.Firewall) (bool, string, error) {
	live, err := c.live(ctx)
	if err != nil {
		return false, "", err
	}
	loaded, err1 := os.ReadFile(c.rulesetFile())
	expected, err2 := os.ReadFile(c.expectedFile())
	return err1 == nil && err2 == nil && string(loaded) == Render(spec) && live != "" && live == string(expected), live, nil
}

// Guard saves the way back: the ruleset files as they are, and the live
// table (or its absence) as a transaction that puts it back.
func (c *controller) Guard(ctx context.Context, spec api.Firewall) (*core.RevertPlan, error) {
	ok, live, err := c.inSync(ctx, spec)
	if err != nil || ok {
		return nil, err
	}
	timeout, err := spec.ConfirmAfter()
	if err != nil {
		return nil, err
	}
	plan := &core.RevertPlan{Timeout: timeout, Detail: describe(spec)}
	for _, f := range []string{c.rulesetFile(), c.expectedFile()} {
		saved, err := core.SaveFile(f)
		if err != nil {
			return nil, err
		}
		plan.Files = append(plan.Files, saved)
	}
	back := replaceTable + live
	if live == "" {
		back = replaceTable // there was no table: none after the revert either
	}
	plan.Files = append(plan.Files, core.SavedFile{Path: c.revertFile(), Content: []byte(back), Mode: 0o600})
	plan.Then = [][]string{{"nft", "-f", c.revertFile()}}
	return plan, nil
}

// describe says what a firewall admits, for the operator's diagnostic.
func describe(spec api.Firewall) string {
	var admits []string
	for _, r := range spec.Rules {
		a := r.Protocol + " " + strings.Join(r.Ports, ",")
		if len(r.Sources) > 0 {
			a += " from " + strings.Join(r.Sources, ",")
		}
		admits = append(admits, a)
	}
	if len(admits) == 0 {
		admits = []string{"nothing"}
	}
	return fmt.Sprintf("firewall %s (input policy %s, admitting %s)", spec.Name, spec.InputPolicy, strings.Join(admits, "; "))
}

// Apply loads the ruleset in one transaction and records how nft lists it.
func (c *controller) Apply(ctx context.Context, spec api.Firewall, _ *api.Firewall) (core.Applied, error) {
	ok, _, err := c.inSync(ctx, spec)
	if err != nil || ok {
		return core.Applied{}, err
	}
	if err := core.EnsurePrivateDir(c.dir()); err != nil {
		return core.Applied{}, err
	}
	if err := atomicfile.Write(c.rulesetFile(), []byte(Render(spec)), 0o600); err != nil {
		return core.Applied{}, err
	}
	if _, err := c.nft(ctx, "-f", c.rulesetFile()); err != nil {
		return core.Applied{}, err
	}
	live, err := c.live(ctx)
	if err != nil {
		return core.Applied{}, err
	}
	if err := atomicfile.Write(c.expectedFile(), []byte(live), 0o600); err != nil {
		return core.Applied{}, err
	}
	return core.Applied{Changed: true}, c.installUnit(ctx)
}

// installUnit makes the boot unit load the ruleset file (when there is
// one: a reverted first apply leaves none).
func (c *controller) installUnit(ctx context.Context) error {
	unit := fmt.Sprintf(`[Unit]
Description=Steward firewall (nftables table %s)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target
ConditionPathExists=%s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f %s

[Install]
WantedBy=sysinit.target
`, Table, c.rulesetFile(), c.rulesetFile())
	if err := os.MkdirAll(filepath.Dir(c.unitFile()), 0o755); err != nil {
		return err
	}
	changed, _, err := core.WriteIfChanged(c.unitFile(), []byte(unit), 0o644)
	if err != nil || !changed {
		return err
	}
	if err := c.deps.Services.DaemonReload(ctx); err != nil {
		return err
	}
	_, err = c.deps.Services.Enable(ctx, Unit)
	return err
}

// Observe reads the live table against what Steward loaded.
func (c *controller) Observe(ctx context.Context, spec api.Firewall) (api.FirewallObserved, error) {
	ok, live, err := c.inSync(ctx, spec)
	if err != nil {
		return api.FirewallObserved{}, err
	}
	expected, _ := os.ReadFile(c.expectedFile())
	return api.FirewallObserved{Present: live != "", InSync: ok, Ruleset: live, Expected: string(expected)}, nil
}

// Remove deletes the table and the files. Opening the host cannot lock
// anyone out, so it is not guarded.
func (c *controller) Remove(ctx context.Context, _ api.Firewall) error {
	live, err := c.live(ctx)
	if err != nil {
		return err
	}
	if live != "" {
		if _, err := c.nft(ctx, "delete", "table", "inet", "steward"); err != nil {
			return err
		}
	}
	if err := c.deps.Services.DisableNow(ctx, Unit); err != nil {
		return err
	}
	for _, f := range []string{c.unitFile(), c.rulesetFile(), c.expectedFile(), c.revertFile()} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return c.deps.Services.DaemonReload(ctx)
}
