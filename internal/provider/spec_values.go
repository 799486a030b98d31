package provider

import (
	"context"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// Conversions between a spec's zero values and a model's nulls, shared by
// the kinds' fromSpec: a value the host has empty stays null where the
// configuration left it unset, so reading a spec back plans nothing.

func specString(cur types.String, v string) types.String {
	if v == "" && (cur.IsNull() || cur.IsUnknown()) {
		return types.StringNull()
	}
	return types.StringValue(v)
}

func specInt(cur types.Int64, v int) types.Int64 {
	if v == 0 && (cur.IsNull() || cur.IsUnknown()) {
		return types.Int64Null()
	}
	return types.Int64Value(int64(v))
}

func specFloat(cur types.Float64, v float64) types.Float64 {
	if v == 0 && (cur.IsNull() || cur.IsUnknown()) {
		return types.Float64Null()
	}
	return types.Float64Value(v)
}

func specStringList(ctx context.Context, cur types.List, v []string, diags *diag.Diagnostics) types.List {
	if len(v) == 0 && (cur.IsNull() || cur.IsUnknown()) {
		return types.ListNull(types.StringType)
	}
	l, d := types.ListValueFrom(ctx, types.StringType, v)
	diags.Append(d...)
	return l
}

func specStringMap(ctx context.Context, cur types.Map, v map[string]string, diags *diag.Diagnostics) types.Map {
	if len(v) == 0 && (cur.IsNull() || cur.IsUnknown()) {
		return types.MapNull(types.StringType)
	}
	m, d := types.MapValueFrom(ctx, types.StringType, v)
	diags.Append(d...)
	return m
}

func stringMap(ctx context.Context, m types.Map, diags *diag.Diagnostics) map[string]string {
	if m.IsNull() || m.IsUnknown() {
		return nil
	}
	out := map[string]string{}
	diags.Append(m.ElementsAs(ctx, &out, false)...)
	return out
}

// allKnown says whether none of vs is unknown or holds an unknown value
// (at validation, a list naming another resource's attribute is known but
// its element is not).
func allKnown(vs ...attr.Value) bool {
	for _, v := range vs {
		tv, err := v.ToTerraformValue(context.Background())
		if err != nil || !tv.IsFullyKnown() {
			return false
		}
	}
	return true
}

// objectTypeOf is the attribute types of a nested attribute, taken from
// the schema so that they never drift from it.
func objectTypeOf(a schema.Attribute) map[string]attr.Type {
	if t, ok := a.GetType().(types.ObjectType); ok {
		return t.AttrTypes
	}
	if t, ok := a.GetType().(types.ListType); ok {
		if o, ok := t.ElemType.(types.ObjectType); ok {
			return o.AttrTypes
		}
	}
	if t, ok := a.GetType().(types.MapType); ok {
		if o, ok := t.ElemType.(types.ObjectType); ok {
			return o.AttrTypes
		}
	}
	return nil
}

// codeList renders accepted values for a description: `a`, `b` or `c`.
func codeList(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = "`" + v + "`"
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// nestedAs decodes a nested object into its model, nil when it is not set.
func nestedAs[T any](ctx context.Context, o types.Object, diags *diag.Diagnostics) *T {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	v := new(T)
	diags.Append(o.As(ctx, v, basetypes.ObjectAsOptions{})...)
	return v
}

// nestedFrom is a nested object of the attribute a, null when v is nil.
func nestedFrom[T any](ctx context.Context, a schema.Attribute, v *T, diags *diag.Diagnostics) types.Object {
	types := objectTypeOf(a)
	if v == nil {
		return basetypes.NewObjectNull(types)
	}
	o, d := basetypes.NewObjectValueFrom(ctx, types, v)
	diags.Append(d...)
	return o
}

// observedNote documents the note of a status the daemon could not give.
var observedNote = schema.StringAttribute{Computed: true,
	MarkdownDescription: "Why the observed attributes are empty, when the agent's daemon could not be asked (it is down) or has not " +
		"loaded the object yet; empty otherwise."}
