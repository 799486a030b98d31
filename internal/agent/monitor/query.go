package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/history"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// summaryPath is where the daemon answers api.MetricsQuery.
const summaryPath = "/api/v1/summary"

// maxQueryBody bounds a query's request body.
const maxQueryBody = 1 << 20

// Register adds the monitoring methods to an agent's method registry.
func Register(methods map[string]core.Handler) {
	methods[api.MetricsQuery.Name] = handleMetricsQuery
	core.RegisterKind(methods, api.CustomMetricKind, newCustomController)
}

// handleMetricsQuery asks the running daemon, which holds the history,
// through its socket.
func handleMetricsQuery(ctx context.Context, deps core.Deps, req api.Request) (any, error) {
	var q api.MetricsQueryParams
	if err := core.DecodeParams(req, &q); err != nil {
		return nil, err
	}
	return QueryDaemon(ctx, deps.Paths, q)
}

// QueryDaemon runs q on the daemon through its unix socket.
func QueryDaemon(ctx context.Context, p core.Paths, q api.MetricsQueryParams) (api.MetricsQueryResult, error) {
	var res api.MetricsQueryResult
	body, err := json.Marshal(q)
	if err != nil {
		return res, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, core.DaemonURL+summaryPath, bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	resp, err := core.DaemonClient(p).Do(hreq)
	if err != nil {
		return res, &api.Error{Code: api.CodeDaemonUnavailable, Message: fmt.Sprintf(
			"the agent daemon does not answer on %s (%v): metrics come from the daemon; check `systemctl status %s` on the host", p.Socket, err, api.ServiceName)}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return res, fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return res, &e
		}
		return res, fmt.Errorf("the daemon answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("decode the daemon's answer: %w", err)
	}
	return res, nil
}

// serveSummary answers api.MetricsQuery from the history.
func (m *Monitor) serveSummary(w http.ResponseWriter, r *http.Request) {
	var q api.MetricsQueryParams
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxQueryBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		reply(http.StatusBadRequest, api.Error{Code: api.CodeBadRequest, Message: "decode query: " + err.Error()})
		return
	}
	res, err := m.Summaries(q)
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		reply(http.StatusBadRequest, ae)
	case err != nil:
		reply(http.StatusInternalServerError, api.Error{Code: api.CodeInternal, Message: err.Error()})
	default:
		reply(http.StatusOK, res)
	}
}

// Summaries answers q: each selection's series over the window that ends now.
func (m *Monitor) Summaries(q api.MetricsQueryParams) (api.MetricsQueryResult, error) {
	if err := q.Validate(); err != nil {
		return api.MetricsQueryResult{}, &api.Error{Code: api.CodeBadRequest, Message: err.Error()}
	}
	if m.history == nil {
		return api.MetricsQueryResult{}, errors.New("this daemon keeps no history")
	}
	window, _ := api.ParseDuration(q.Window) // checked by Validate
	now := m.deps.Now()
	hostID, err := core.ReadHostID(m.deps.Paths)
	if err != nil {
		return api.MetricsQueryResult{}, err
	}
	res := api.MetricsQueryResult{HostID: hostID, At: now.UTC(), Results: map[string][]api.MetricSummary{}}
	for key, sel := range q.Select {
		ms := make([]history.Matcher, 0, len(sel.Labels))
		for k, v := range sel.Labels {
			ms = append(ms, history.Matcher{Name: k, Type: history.MatchEqual, Value: v})
		}
		// The store keeps a sample at its collection time rounded to the
		// interval, so the last collection may be stored up to half an
		// interval after now.
		sums, err := m.history.Summary(history.Query{Name: sel.Name, Match: ms, Start: now.Add(-window), End: now.Add(m.interval / 2)})
		if err != nil {
			return res, fmt.Errorf("select %q: %w", key, err)
		}
		out := []api.MetricSummary{}
		for _, s := range sums {
			if !finite(s.Last, s.Min, s.Avg, s.Max, s.P95, s.Rate) {
				continue // JSON has no NaN or infinity; such a series says nothing a check could use
			}
			labels := map[string]string{}
			for _, l := range s.Labels {
				labels[l.Name] = l.Value
			}
			out = append(out, api.MetricSummary{Labels: labels, Samples: s.Count, Last: s.Last, LastAt: s.LastT.UTC(),
				Min: s.Min, Avg: s.Avg, Max: s.Max, P95: s.P95, Rate: s.Rate})
		}
		res.Results[key] = out
	}
	return res, nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
