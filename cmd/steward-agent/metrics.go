package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

const metricsUsage = `usage: steward-agent metrics [NAME...]              current values (the daemon's last collection)
       steward-agent metrics --range WINDOW NAME [--json]  min/avg/max/last/p95 of NAME over WINDOW (e.g. 1h, 7d)
`

// metrics prints what the running daemon collected, read through its socket.
func (c *cli) metrics(ctx context.Context, args []string) int {
	fs := c.newFlags("metrics")
	fs.Usage = func() { fmt.Fprint(c.stderr, metricsUsage) }
	window := fs.String("range", "", "summarize NAME over this window from the history")
	asJSON := fs.Bool("json", false, "print the summaries as JSON")
	if err := fs.Parse(args); err != nil { // names follow the flags
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	names := fs.Args()
	if *window == "" {
		return c.currentMetrics(ctx, names)
	}
	if len(names) != 1 {
		fmt.Fprint(c.stderr, metricsUsage)
		return exitUsage
	}
	q := api.MetricsQueryParams{Window: *window, Select: map[string]api.MetricSelector{"m": {Name: names[0]}}}
	res, err := monitor.QueryDaemon(ctx, c.paths, q)
	if err != nil {
		return c.fail("metrics", err)
	}
	if *asJSON {
		return c.printJSON(res)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERIES\tSAMPLES\tLAST\tMIN\tAVG\tMAX\tP95\tRATE/S\n")
	for _, s := range res.Results["m"] {
		fmt.Fprintf(tw, "%s%s\t%d\t%g\t%g\t%g\t%g\t%g\t%g\n", names[0], api.AlertLabelsString(s.Labels), s.Samples, s.Last, s.Min, s.Avg, s.Max, s.P95, s.Rate)
	}
	if err := tw.Flush(); err != nil {
		return c.fail("metrics", err)
	}
	return exitOK
}

// currentMetrics prints the daemon's /metrics, only the named families when
// names are given.
func (c *cli) currentMetrics(ctx context.Context, names []string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, core.DaemonURL+"/metrics", nil)
	if err != nil {
		return c.fail("metrics", err)
	}
	resp, err := core.DaemonClient(c.paths).Do(req)
	if err != nil {
		return c.fail("metrics", fmt.Errorf("the agent daemon does not answer on %s: %w", c.paths.Socket, err))
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return familyOf(line) == n }) {
			fmt.Fprintln(c.stdout, line)
		}
	}
	if err := sc.Err(); err != nil {
		return c.fail("metrics", err)
	}
	return exitOK
}

// familyOf is the metric name a text-format line is about.
func familyOf(line string) string {
	if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
		line = rest
	} else if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
		line = rest
	}
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return line
	}
	return line[:end]
}
