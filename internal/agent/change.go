package agent

import (
	"context"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// handleConfirmChange keeps a change that could have cut access. The
// provider calls it over a fresh SSH login, so that the call is the proof.
func handleConfirmChange(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var c api.ChangeID
	if err := core.DecodeParams(req, &c); err != nil {
		return nil, err
	}
	if err := core.Confirm(ctx, deps, c.ID, req.Operator); err != nil {
		return nil, err
	}
	hostID, err := core.ReadHostID(deps.Paths)
	if err != nil {
		return nil, err
	}
	return api.ChangeConfirmed{HostID: hostID, At: deps.Now().UTC()}, nil
}
