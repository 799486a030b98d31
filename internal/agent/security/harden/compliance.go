package harden

import (
	"context"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Report reads every control of the host's hardening profiles (or of
// one) live, as compliance.report answers it.
func Report(ctx context.Context, deps core.Deps, q api.ComplianceQuery) (api.Compliance, error) {
	deps = deps.WithDefaults()
	hostID, err := core.ReadHostID(deps.Paths)
	if err != nil {
		return api.Compliance{}, err
	}
	rep := api.Compliance{HostID: hostID, Controls: []api.ComplianceControl{}}
	files, err := filepath.Glob(filepath.Join(deps.Paths.ConfigDir, api.HardeningKind.Dir, "*.json"))
	if err != nil {
		return rep, err
	}
	sort.Strings(files)
	c := &controller{deps: deps, run: core.Command}
	found := false
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if q.Profile != "" && name != q.Profile {
			continue
		}
		var spec api.HardeningProfile
		if err := readJSON(f, &spec); err != nil {
			return rep, err
		}
		found = true
		obs, err := c.Observe(ctx, spec)
		if err != nil {
			return rep, err
		}
		for _, r := range obs.Controls {
			rep.Controls = append(rep.Controls, api.ComplianceControl{Profile: name, ControlResult: r})
		}
	}
	if q.Profile != "" && !found {
		return rep, &api.Error{Code: api.CodeNotFound, Message: "no hardening profile " + q.Profile + " on this host"}
	}
	rep.Tally()
	return rep, nil
}

func handleReport(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var q api.ComplianceQuery
	if err := core.DecodeParams(req, &q); err != nil {
		return nil, err
	}
	return Report(ctx, deps, q)
}
