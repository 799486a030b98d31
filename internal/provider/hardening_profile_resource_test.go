package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// A plan that would obviously lock out the login applying it is refused,
// naming the control and the host attribute.
func TestHardeningAccess(t *testing.T) {
	for _, tc := range []struct {
		level string
		login client.Hop
		want  []string // "" for no error
	}{
		{"baseline", client.Hop{User: "root", PrivateKeyFile: "/k"}, []string{"sshd.permit_root_login", "logs in as root"}},
		{"baseline", client.Hop{User: "deploy", Password: "pw"}, nil},
		{"strict", client.Hop{User: "deploy", Password: "pw"}, []string{"sshd.password_authentication", "host.password"}},
		{"strict", client.Hop{User: "deploy", PrivateKeyFile: "/k"}, nil},
	} {
		m := &hardeningModel{Level: types.StringValue(tc.level), Controls: types.MapNull(types.ObjectType{AttrTypes: objectTypeOf(hardeningAttributes()["controls"])}),
			ConfirmTimeout: types.StringValue("60s")}
		m.Name = types.StringValue("p")
		var diags diag.Diagnostics
		hardeningAccess(context.Background(), m, tc.login, &diags)
		if tc.want == nil {
			if diags.HasError() {
				t.Errorf("%s as %s: %v", tc.level, tc.login.User, diags)
			}
			continue
		}
		if !diags.HasError() {
			t.Errorf("%s as %s with password %q: no error", tc.level, tc.login.User, tc.login.Password)
			continue
		}
		for _, w := range tc.want {
			if d := diags.Errors()[0].Detail(); !strings.Contains(d, w) {
				t.Errorf("%s as %s: %q does not say %q", tc.level, tc.login.User, d, w)
			}
		}
	}
}
