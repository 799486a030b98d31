package main

import (
	"context"
	"fmt"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
)

// revert is what a pending change's timer runs when no fresh login
// confirmed the change in time (core.Revert).
func (c *cli) revert(ctx context.Context, args []string) int {
	fs := c.newFlags("revert")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(c.stderr, "usage: steward-agent revert ID")
		return exitUsage
	}
	res, err := core.Revert(ctx, core.Deps{Paths: c.paths, Logger: c.log}, fs.Arg(0), "not confirmed by a fresh login in time")
	if err != nil {
		return c.fail("revert", err)
	}
	fmt.Fprintf(c.stdout, "%s: reverted %s at %s (%s)\n", res.Object, res.Detail, res.RevertedAt.Format("2006-01-02T15:04:05Z07:00"), res.Reason)
	for _, e := range res.Errors {
		fmt.Fprintf(c.stderr, "steward-agent revert: %s\n", e)
	}
	if len(res.Errors) > 0 {
		return exitFailure
	}
	return exitOK
}
