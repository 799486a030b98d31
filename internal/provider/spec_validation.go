package provider

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	tfpath "github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// Plan-time validation of a whole spec: the kind's own Validate, the one
// the agent runs before it writes the file, so the plan refuses exactly
// what the apply would, with the same message. api's messages start with
// the attribute they are about ("for 5s is ...", "webhook.url ...",
// "matchers[0]: ..."), which specErrorPath turns into the attribute to
// blame.

// specValidator is a resource.ConfigValidator running check on the spec
// the configuration renders, once every input of it is known.
type specValidator[M any, S api.Spec] struct {
	noun   string
	attrs  map[string]schema.Attribute
	known  func(m *M) bool
	toSpec func(ctx context.Context, m *M) (S, diag.Diagnostics)
	// check returns the errors and the warnings of a spec.
	check func(s S) (errs, warnings error)
}

var _ resource.ConfigValidator = specValidator[alertRuleModel, api.AlertRule]{}

func (v specValidator[M, S]) Description(context.Context) string {
	return "the " + v.noun + " is one the agent accepts"
}

func (v specValidator[M, S]) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (v specValidator[M, S]) ValidateResource(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	m := new(M)
	if diags := req.Config.Get(ctx, m); diags.HasError() || !v.known(m) {
		return // unknown values: the agent checks them at apply
	}
	spec, diags := v.toSpec(ctx, m)
	if diags.HasError() {
		resp.Diagnostics.Append(diags...)
		return
	}
	errs, warnings := v.check(spec)
	for _, err := range flattenErrors(errs) {
		p, owner, ownerPath, ok := specErrorPath(err.Error(), v.attrs)
		if ok && rejectedByAttribute(ctx, req.Config, owner, ownerPath) {
			continue
		}
		if ok {
			resp.Diagnostics.AddAttributeError(p, "Invalid "+v.noun, err.Error()+".")
		} else {
			resp.Diagnostics.AddError("Invalid "+v.noun, err.Error()+".")
		}
	}
	for _, err := range flattenErrors(warnings) {
		p, _, _, ok := specErrorPath(err.Error(), v.attrs)
		if ok {
			resp.Diagnostics.AddAttributeWarning(p, v.noun+" May Be Refused", err.Error())
		} else {
			resp.Diagnostics.AddWarning(v.noun+" May Be Refused", err.Error())
		}
	}
}

// flattenErrors lists the errors an errors.Join (nested or not) holds.
func flattenErrors(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error }) //nolint:errorlint // a join itself is split, not one it wraps
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenErrors(e)...)
	}
	return out
}

// specPathPattern is the attribute an api validation message starts with:
// "webhook.url", "matchers[0]", "labels.summary", "starts_at/ends_at".
var (
	specPathPattern    = regexp.MustCompile(`^([a-z_][a-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[\d+\])*)`)
	specSegmentPattern = regexp.MustCompile(`\.[A-Za-z0-9_]+|\[\d+\]`)
)

// specErrorPath is the attribute an api validation message names, when it
// names one of attrs (a name under a map attribute is its key), and the
// innermost attribute on the way with its own path, whose validators may
// have reported the same problem.
func specErrorPath(msg string, attrs map[string]schema.Attribute) (p tfpath.Path, owner schema.Attribute, ownerPath tfpath.Path, ok bool) {
	m := specPathPattern.FindStringSubmatch(msg)
	if m == nil {
		return p, nil, p, false
	}
	owner, ok = attrs[m[1]]
	if !ok {
		return p, nil, p, false
	}
	p = tfpath.Root(m[1])
	ownerPath = p
	for _, seg := range specSegmentPattern.FindAllString(m[2], -1) {
		var next map[string]schema.Attribute
		switch a := owner.(type) {
		case schema.SingleNestedAttribute:
			next = a.Attributes
		case schema.ListNestedAttribute:
			next = a.NestedObject.Attributes
		}
		switch {
		case strings.HasPrefix(seg, "["):
			i, _ := strconv.Atoi(strings.Trim(seg, "[]"))
			p = p.AtListIndex(i)
		case next == nil:
			if _, isMap := owner.(schema.MapAttribute); isMap {
				p = p.AtMapKey(seg[1:])
			}
			return p, owner, ownerPath, true
		default:
			a, found := next[seg[1:]]
			if !found {
				return p, owner, ownerPath, true
			}
			p = p.AtName(seg[1:])
			owner, ownerPath = a, p
		}
	}
	return p, owner, ownerPath, true
}

// rejectedByAttribute says whether the attribute's own validators refuse
// its configured value: that error is already reported, so the spec's
// message about the same attribute would repeat it.
func rejectedByAttribute(ctx context.Context, cfg tfsdk.Config, a schema.Attribute, p tfpath.Path) bool {
	var diags diag.Diagnostics
	switch a := a.(type) {
	case schema.StringAttribute:
		var v types.String
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			resp := &validator.StringResponse{}
			val.ValidateString(ctx, validator.StringRequest{Path: p, ConfigValue: v, Config: cfg}, resp)
			diags.Append(resp.Diagnostics...)
		}
	case schema.ListAttribute:
		var v types.List
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			resp := &validator.ListResponse{}
			val.ValidateList(ctx, validator.ListRequest{Path: p, ConfigValue: v, Config: cfg}, resp)
			diags.Append(resp.Diagnostics...)
		}
	case schema.MapAttribute:
		var v types.Map
		if cfg.GetAttribute(ctx, p, &v).HasError() {
			return false
		}
		for _, val := range a.Validators {
			resp := &validator.MapResponse{}
			val.ValidateMap(ctx, validator.MapRequest{Path: p, ConfigValue: v, Config: cfg}, resp)
			diags.Append(resp.Diagnostics...)
		}
	}
	return diags.HasError()
}

// specConfigureError blames the agent's refusal of a spec (its Check, with
// what only the host knows: the collection interval, the secret files) on
// the attribute its message names first, as the plan does. The agent puts
// "<kind> <name>: " before the spec's errors ("alert rule disk: for 5s is
// shorter than the collection interval 30s: ...").
func specConfigureError(noun string, attrs map[string]schema.Attribute) func(ae *api.Error, address string) (diag.Diagnostic, bool) {
	return func(ae *api.Error, address string) (diag.Diagnostic, bool) {
		if ae.Code != api.CodeBadRequest {
			return nil, false
		}
		rest, ok := strings.CutPrefix(ae.Message, strings.ToLower(noun)+" ")
		if !ok {
			return nil, false
		}
		_, msg, ok := strings.Cut(rest, ": ")
		if !ok {
			return nil, false
		}
		detail := "On " + address + ", the agent refused the " + strings.ToLower(noun) + ":\n\n" + msg
		if p, _, _, ok := specErrorPath(msg, attrs); ok {
			return diag.NewAttributeErrorDiagnostic(p, "Invalid "+noun, detail), true
		}
		return diag.NewErrorDiagnostic("Invalid "+noun, detail), true
	}
}
