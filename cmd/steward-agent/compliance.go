package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/security/harden"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// compliance prints every control of the host's hardening profiles as the
// host has it now.
func (c *cli) compliance(ctx context.Context, args []string) int {
	fs := c.newFlags("compliance")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	profile := fs.String("profile", "", "only this profile")
	if code := c.parse(fs, args); code >= 0 {
		return code
	}
	rep, err := harden.Report(ctx, core.Deps{Paths: c.paths, Logger: c.log}, api.ComplianceQuery{Profile: *profile})
	if err != nil {
		return c.fail("compliance", err)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return c.fail("compliance", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tCONTROL\tSTATUS\tEXPECTED\tACTUAL\tSOURCE\tREASON")
	for _, r := range rep.Controls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Profile, r.ID, r.Status, r.Expected, r.Actual, r.Source, r.Reason)
	}
	_ = tw.Flush()
	fmt.Fprintf(c.stdout, "\nscore %.1f%%: %d passed, %d failed, %d errors; %d not applicable, %d off (neither counted as passed)\n",
		rep.Score, rep.Passed, rep.Failed, rep.Errors, rep.NotApplicable, rep.Off)
	if rep.Failed+rep.Errors > 0 {
		return exitFailure
	}
	return exitOK
}
