package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/agentbin"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// installation is what a deployment leaves on the host beside the agent's
// answer, its configuration and the packages: every path it owns, the unit
// file and the unit as systemd runs it. Read reports the host's,
// ModifyPlan plans wantedInstallation, and deploy checks the host reached it.
type installation struct {
	Files      map[string]string // Path -> api.PathState.String().
	UnitSHA256 string            // Of the unit file; "" when there is none.
	UnitState  map[string]string // wantedUnitState's properties as systemd has them.
}

// wantedUnitState is how systemd must have loaded the agent's unit: from the
// file Steward wrote, not masked, and not changed on disk since.
var wantedUnitState = map[string]string{
	"LoadState":        "loaded",
	"FragmentPath":     api.UnitFile,
	"NeedDaemonReload": "no",
}

// unitProperties are wantedUnitState's properties as `systemctl show` takes them.
var unitProperties = func() string {
	var args []string
	for _, name := range slices.Sorted(maps.Keys(wantedUnitState)) {
		args = append(args, "-p "+name)
	}
	return strings.Join(args, " ")
}()

// ownedPathList is every path of api.OwnedPaths, for inspectScript.
var ownedPathList = func() string {
	var paths []string
	for _, o := range api.OwnedPaths() {
		paths = append(paths, o.Path)
	}
	return strings.Join(paths, " ")
}()

// stagedPath is where bin is uploaded: its name carries its version and
// digest, so a new build never overwrites the one the service runs.
func stagedPath(bin agentbin.Binary) string {
	return agentLibDir + "/steward-agent-" + safeVersion(bin.Version) + "-" + bin.SHA256[:12]
}

// wantedInstallation is what deploying bin leaves on the host. Drop-ins for
// the unit are not in it: every one found is drift.
func wantedInstallation(bin agentbin.Binary) installation {
	rootFile := func(mode uint32) string { return api.PathState{Kind: api.KindFile, Mode: mode}.String() }
	files := map[string]string{
		stagedPath(bin): rootFile(uint32(api.AgentBinaryMode)),
		agentCurrent:    api.PathState{Kind: api.KindSymlink, Target: stagedPath(bin)}.String(),
	}
	for _, o := range api.OwnedPaths() {
		files[o.Path] = o.Want().String()
	}
	sum := sha256.Sum256([]byte(api.AgentUnit))
	return installation{Files: files, UnitSHA256: hex.EncodeToString(sum[:]), UnitState: maps.Clone(wantedUnitState)}
}

// setIn records i in the model's computed attributes.
func (i installation) setIn(ctx context.Context, m *hostResourceModel) diag.Diagnostics {
	var diags diag.Diagnostics
	var d diag.Diagnostics
	m.Files, d = types.MapValueFrom(ctx, types.StringType, i.Files)
	diags.Append(d...)
	m.UnitState, d = types.MapValueFrom(ctx, types.StringType, i.UnitState)
	diags.Append(d...)
	m.UnitSHA256 = types.StringValue(i.UnitSHA256)
	return diags
}

// differences lists, one line each, where got is not want.
func (want installation) differences(got installation) []string {
	var out []string
	diffMaps := func(what string, w, g map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(w)) {
			if g[k] != w[k] {
				out = append(out, fmt.Sprintf("%s %s is %q, want %q", what, k, g[k], w[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(g)) {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s %s is there (%s) and should not be", what, k, g[k]))
			}
		}
	}
	diffMaps("path", want.Files, got.Files)
	if got.UnitSHA256 != want.UnitSHA256 {
		out = append(out, fmt.Sprintf("%s has SHA-256 %q, want %q", agentUnitFile, got.UnitSHA256, want.UnitSHA256))
	}
	diffMaps("unit property", want.UnitState, got.UnitState)
	return out
}
