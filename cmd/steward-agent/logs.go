package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/logs"
)

const logsUsage = `usage: steward-agent logs status [--json]   each log forwarder and source: position, lag, last error
`

// logs prints what the running daemon's log forwarders report, read
// through its socket (root only: errors may quote log lines).
func (c *cli) logs(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprint(c.stderr, logsUsage)
		return exitUsage
	}
	fs := c.newFlags("logs status")
	fs.Usage = func() { fmt.Fprint(c.stderr, logsUsage) }
	asJSON := fs.Bool("json", false, "print the statuses as JSON")
	if code := c.parse(fs, args[1:]); code >= 0 {
		return code
	}
	states, err := logs.DaemonStatus(ctx, c.paths)
	if err != nil {
		return c.fail("logs status", err)
	}
	if *asJSON {
		return c.printJSON(states)
	}
	if len(states) == 0 {
		fmt.Fprintln(c.stdout, "no log forwarders (none in /etc/steward/log_forward)")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FORWARDER\tSOURCE\tCONNECTED\tSENT\tLAG\tPOSITION\tLAST ERROR\n")
	for _, name := range logs.SortedNames(states) {
		st := states[name]
		if st.Refused != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\trefused: %s\n", name, st.Refused)
		}
		o := st.Observed
		if o == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t(all)\t%t\t%d\t-\t-\t%s\n", name, o.Connected, o.LinesSent, since(o.LastError, o.LastErrorAt))
		for _, s := range o.Sources {
			pos := s.Cursor
			if s.Cursor == "" {
				pos = fmt.Sprintf("inode %d offset %d", s.Inode, s.Offset)
				if s.BacklogBytes > 0 {
					pos += fmt.Sprintf(" (%d bytes behind)", s.BacklogBytes)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t\t%d\t%s\t%s\t%s\n", name, s.Source, s.LinesSent,
				(time.Duration(s.LagSeconds * float64(time.Second))).Round(time.Millisecond), pos, since(s.LastError, s.LastErrorAt))
		}
	}
	if err := tw.Flush(); err != nil {
		return c.fail("logs status", err)
	}
	return exitOK
}

// since is an error with when it happened, or "-" for none.
func since(msg string, at time.Time) string {
	if msg == "" {
		return "-"
	}
	if at.IsZero() {
		return strconv.Quote(msg)
	}
	return fmt.Sprintf("%s (%s)", strconv.Quote(msg), at.UTC().Format(time.RFC3339))
}
