package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// Confirm-or-revert, the provider's half (api/change.go, core/revert.go):
// a change that can cut access is kept only if a fresh SSH login, made
// with the same credentials after the change, confirms it on the host.

// revertGrace is how long after RevertAt the provider waits for the host's
// revert before it checks that a fresh login works again.
const revertGrace = 5 * time.Second

// freshConn opens a new login to conn's host: for a real host a new SSH
// connection outside the pool; the in-process twin of the unit tests has
// no logins to prove and answers itself.
func freshConn(ctx context.Context, conn hostConn) (client.RPCCaller, func(), error) {
	c, ok := conn.(*client.Conn)
	if !ok {
		return conn, func() {}, nil
	}
	f, err := c.Fresh(ctx)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// confirmFresh confirms change p over a fresh login and checks the host's
// identity on it.
func confirmFresh(ctx context.Context, conn hostConn, hostID string, p *api.PendingChange) error {
	fresh, closeFresh, err := freshConn(ctx, conn)
	if err != nil {
		return err
	}
	defer closeFresh()
	res, err := client.Call(ctx, fresh, api.ConfirmChange, conn.Operator(localUser()), api.ChangeID{ID: p.ID})
	if err != nil {
		return err
	}
	if hostID != "" && res.HostID != hostID {
		return fmt.Errorf("the fresh login reached host %s, not %s", res.HostID, hostID)
	}
	return nil
}

// confirmChange keeps change p if a fresh login works before the host's
// revert time. If not, it waits for the host to revert, checks that a
// fresh login works again, and returns the diagnostic that says what
// would have locked the operator out.
func confirmChange(ctx context.Context, conn hostConn, hostID string, p *api.PendingChange) diag.Diagnostics {
	var diags diag.Diagnostics
	cctx, cancel := context.WithDeadline(ctx, p.RevertAt.Add(-2*time.Second))
	err := confirmFresh(cctx, conn, hostID, p)
	cancel()
	if err == nil {
		return nil
	}
	user := conn.Operator("").SSHUser
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeChangeReverted {
		select {
		case <-time.After(time.Until(p.RevertAt.Add(revertGrace))):
		case <-ctx.Done():
			diags.AddError("Change Not Confirmed", fmt.Sprintf("%s on %s was not confirmed (%v) and Terraform stopped waiting; "+
				"the host reverts it by itself at %s.", p.Detail, conn.Address(), err, p.RevertAt.Format(time.RFC3339)))
			return diags
		}
	}
	after := "A fresh login after the revert works again: the host is as it was before this apply."
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if aerr := confirmFresh(actx, conn, hostID, p); aerr == nil {
		after = "A fresh login after the revert time confirmed the change anyway; it stays. Run the apply again to check."
	} else if !errors.As(aerr, &ae) || ae.Code != api.CodeChangeReverted {
		after = fmt.Sprintf("A fresh login after the revert time failed too (%v): the host may be unreachable for another reason; "+
			"see the hardening guide, \"If a host is unreachable anyway\".", aerr)
	}
	diags.AddError("Change Would Lock Out the Operator", fmt.Sprintf(
		"%s was applied on %s, but a fresh SSH login as %q then failed: %v\n\n"+
			"The host put back what the change replaced at %s, as it does for every change that can cut access when no "+
			"fresh login confirms it in time. %s", p.Detail, conn.Address(), user, err, p.RevertAt.Format(time.RFC3339), after))
	return diags
}
