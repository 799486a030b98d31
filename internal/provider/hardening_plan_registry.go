package provider

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Two hardening profiles on one host that disagree about a control are
// refused by the agent at apply (controller.Check). Terraform never shows a
// resource another's configuration, but one provider process plans every
// resource of a run, and the provider is configured again for every run
// (plan, apply, refresh each): plannedProfiles is what that configuration
// has planned, by host and profile name, so the second of two profiles
// fails the plan, naming both.
//
// Only plans register (a destroyed profile plans null and never does), so
// an entry names a profile that this run creates or keeps. Terraform plans a
// resource again in the same configuration (a replacement is planned twice,
// the apply plans each change again): the same name with the same spec is
// that resource, and replaces its entry; the same name with another spec is
// a second resource writing the same file on the host.

// plannedProfiles is the provider-wide registry; its zero value is empty.
type plannedProfiles struct {
	mu     sync.Mutex
	byHost map[string]map[string]plannedProfile
}

type plannedProfile struct {
	spec   api.HardeningProfile
	digest [sha256.Size]byte
}

// profileConflict is one problem add found, blamed on attr.
type profileConflict struct {
	attr, summary, detail string
}

// add registers spec as planned for host and returns how it conflicts with
// the other profiles planned for the same host.
func (r *plannedProfiles) add(host string, spec api.HardeningProfile) []profileConflict {
	digest := sha256.Sum256(api.RenderSpec(spec))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byHost == nil {
		r.byHost = map[string]map[string]plannedProfile{}
	}
	profiles := r.byHost[host]
	if profiles == nil {
		profiles = map[string]plannedProfile{}
		r.byHost[host] = profiles
	}
	if prev, ok := profiles[spec.Name]; ok && prev.digest != digest {
		return []profileConflict{{attr: "name", summary: "Two Hardening Profiles With One Name",
			detail: fmt.Sprintf("Two steward_hardening_profile resources in this configuration are named %q on %s, with different "+
				"settings: both would write %s/%s/%s.json on the host, each apply undoing the other's. Give each its own name, "+
				"or merge them.", spec.Name, host, api.ConfigDir, api.HardeningKind.Dir, spec.Name)}}
	}
	var out []profileConflict
	for _, name := range slices.Sorted(maps.Keys(profiles)) {
		if name == spec.Name {
			continue
		}
		id, mine, theirs, ok := spec.Disagreement(profiles[name].spec)
		if !ok {
			continue
		}
		attr := "controls"
		if strings.HasPrefix(id, api.CustomFamily+".") {
			attr = "custom_control"
		}
		out = append(out, profileConflict{attr: attr, summary: "Hardening Profiles Disagree",
			detail: fmt.Sprintf("steward_hardening_profile %q and steward_hardening_profile %q are both planned for %s and disagree "+
				"about control %s: %q wants %s, %q wants %s. The host can have one value: give the control the same value in both, "+
				"switch it off (with a reason) in one of them, or merge the profiles.",
				spec.Name, name, host, id, spec.Name, mine, name, theirs)})
	}
	profiles[spec.Name] = plannedProfile{spec: spec, digest: digest}
	return out
}

// hardeningPlanned is the hardening kind's planned hook: the profile
// registered in the provider's registry, its conflicts as errors.
func hardeningPlanned(_ context.Context, data *providerData, host string, spec api.HardeningProfile, diags *diag.Diagnostics) {
	if data.hardeningPlans == nil {
		return
	}
	for _, c := range data.hardeningPlans.add(host, spec) {
		diags.AddAttributeError(tfpath.Root(c.attr), c.summary, c.detail)
	}
}
