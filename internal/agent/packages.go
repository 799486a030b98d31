package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func handlePackages(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var params api.PackagesParams
	if err := core.DecodeParams(req, &params); err != nil {
		return nil, err
	}
	pm := deps.Packages
	if pm == nil {
		pm = detectPackages()
	}
	if pm == nil {
		return nil, &api.Error{Code: api.CodeInternal, Message: "no supported package manager (apt-get or dnf) on this host"}
	}
	for _, n := range params.Names {
		if n == "" || strings.HasPrefix(n, "-") || strings.ContainsAny(n, " \t\n/") {
			return nil, core.BadRequest("%q is not a package name", n)
		}
	}
	versions, err := pm.Versions(ctx, params.Names)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range params.Names {
		if versions[n] == "" {
			missing = append(missing, n)
		}
	}
	res := api.PackagesResult{Versions: versions, Manager: pm.Name()}
	if len(missing) == 0 {
		return res, nil
	}
	// Check every name before installing any, so an unknown one leaves nothing half done.
	unknown, err := pm.Unknown(ctx, missing)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		return nil, &api.Error{Code: api.CodeUnknownPackage, Message: fmt.Sprintf("%s knows no package named %s", pm.Name(), strings.Join(unknown, ", "))}
	}
	if err := pm.Install(ctx, missing); err != nil {
		return nil, err
	}
	if res.Versions, err = pm.Versions(ctx, params.Names); err != nil {
		return nil, err
	}
	res.Installed = missing
	sort.Strings(res.Installed)
	if err := core.Record(deps.Paths, req.Operator, "packages", "install", "", strings.Join(missing, " ")); err != nil {
		return nil, err
	}
	return res, nil
}

// detectPackages picks the host's package manager.
func detectPackages() core.Packages {
	if _, err := exec.LookPath("apt-get"); err == nil {
		return apt{}
	}
	if _, err := exec.LookPath("dnf"); err == nil {
		return dnf{}
	}
	return nil
}

func runQuiet(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, core.LastLines(string(out), 5))
	}
	return string(out), nil
}

type apt struct{}

var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}

func (apt) Name() string { return "apt" }

func (apt) Versions(ctx context.Context, names []string) (map[string]string, error) {
	v := map[string]string{}
	for _, n := range names {
		out, _ := runQuiet(ctx, aptEnv, "dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Version}", "--", n)
		v[n] = parseDpkgStatus(out)
	}
	return v, nil
}

// parseDpkgStatus returns the version of an installed ("ii") package, else "".
func parseDpkgStatus(out string) string {
	status, version, ok := strings.Cut(strings.TrimSpace(out), "|")
	if !ok || !strings.HasPrefix(status, "ii") {
		return ""
	}
	return version
}

func (apt) Unknown(ctx context.Context, names []string) ([]string, error) {
	if _, err := runQuiet(ctx, aptEnv, "apt-get", "update", "-q"); err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range names {
		out, _ := runQuiet(ctx, aptEnv, "apt-cache", "policy", "--", n)
		if !hasCandidate(out) {
			unknown = append(unknown, n)
		}
	}
	return unknown, nil
}

// hasCandidate reads `apt-cache policy` output.
func hasCandidate(policy string) bool {
	for _, line := range strings.Split(policy, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			return strings.TrimSpace(c) != "(none)" && strings.TrimSpace(c) != ""
		}
	}
	return false
}

func (apt) Install(ctx context.Context, names []string) error {
	args := append([]string{"install", "-y", "-q", "--no-install-recommends", "--"}, names...)
	_, err := runQuiet(ctx, aptEnv, "apt-get", args...)
	return err
}

type dnf struct{}

func (dnf) Name() string { return "dnf" }

func (dnf) Versions(ctx context.Context, names []string) (map[string]string, error) {
	v := map[string]string{}
	for _, n := range names {
		out, err := runQuiet(ctx, nil, "rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", "--", n)
		if err == nil {
			v[n] = strings.TrimSpace(out)
		} else {
			v[n] = ""
		}
	}
	return v, nil
}

func (dnf) Unknown(ctx context.Context, names []string) ([]string, error) {
	var unknown []string
	for _, n := range names {
		if _, err := runQuiet(ctx, nil, "dnf", "-q", "list", "--available", "--", n); err != nil {
			unknown = append(unknown, n)
		}
	}
	return unknown, nil
}

func (dnf) Install(ctx context.Context, names []string) error {
	_, err := runQuiet(ctx, nil, "dnf", append([]string{"install", "-y", "-q", "--"}, names...)...)
	return err
}
