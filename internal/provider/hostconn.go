package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// hostConn is what the managed-object resource needs of a host: a pooled
// *client.Conn, or in unit tests an in-process twin that runs the real
// agent's rpc dispatch (see object_resource_test.go).
type hostConn interface {
	client.RPCCaller
	Address() string
	Operator(localUser string) api.Operator
	Facts(ctx context.Context) (client.Facts, error)
}

var _ hostConn = (*client.Conn)(nil)

// connectHost is connect for resources that talk only to the agent: it
// returns the twin when the provider has one.
func (p *providerData) connectHost(ctx context.Context, root path.Path, obj types.Object) (hostConn, string, diag.Diagnostics) {
	if p != nil && p.twin != nil {
		m, diags := connectionFromObject(ctx, obj)
		return p.twin, m.hostIDOf(), diags
	}
	conn, id, diags := p.connect(ctx, root, obj)
	if conn == nil { // a nil *client.Conn must not become a non-nil hostConn
		return nil, id, diags
	}
	return conn, id, diags
}

// readFromAgent is the one shape of data sources that only read from the
// agent (steward_backups; metrics, alert history, compliance and the audit
// log next): connect to host, call method m with params, and check that the
// host answered as the machine the connection names. hostID picks the
// host_id out of the result; summary titles a failure.
func readFromAgent[P, R any](ctx context.Context, data *providerData, host types.Object, summary string, m api.Method[P, R], params P, hostID func(R) string) (R, diag.Diagnostics) {
	var zero R
	conn, expectedID, diags := data.connectHost(ctx, path.Root("host"), host)
	if diags.HasError() {
		return zero, diags
	}
	res, err := client.Call(ctx, conn, m, conn.Operator(localUser()), params)
	if err != nil {
		diags.Append(agentDiagnostic(summary, conn.Address(), err))
		return zero, diags
	}
	if diags.Append(checkIdentity(conn.Address(), hostID(res), expectedID)...); diags.HasError() {
		return zero, diags
	}
	return res, diags
}
