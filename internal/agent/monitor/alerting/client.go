package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// maxAnswerBytes bounds a daemon's answer.
const maxAnswerBytes = 16 << 20

// callDaemon asks the running daemon, through its unix socket, at path
// with body (nil: none) and decodes its answer into out. A daemon that
// does not answer is an *api.Error with CodeDaemonUnavailable; an error
// the daemon answered keeps its code.
func callDaemon(ctx context.Context, p core.Paths, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, core.DaemonURL+path, rd)
	if err != nil {
		return err
	}
	resp, err := core.DaemonClient(p).Do(req)
	if err != nil {
		return &api.Error{Code: api.CodeDaemonUnavailable, Message: fmt.Sprintf(
			"the agent daemon does not answer on %s (%v): alerts live in the daemon; check `systemctl status %s` on the host", p.Socket, err, api.ServiceName)}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("read the daemon's answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return &e
		}
		return fmt.Errorf("the daemon answered %s %s with %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode the daemon's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// daemonDown reports whether err says the daemon does not answer.
func daemonDown(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeDaemonUnavailable
}

// QueryStatus asks the daemon for its alerts (`steward-agent alerts`).
func QueryStatus(ctx context.Context, p core.Paths) (api.AlertsStatus, error) {
	var st api.AlertsStatus
	return st, callDaemon(ctx, p, http.MethodGet, alertsPath, nil, &st)
}

// QueryHistory asks the daemon for its alert history.
func QueryHistory(ctx context.Context, p core.Paths, q api.AlertHistoryParams) (api.AlertHistoryResult, error) {
	var res api.AlertHistoryResult
	return res, callDaemon(ctx, p, http.MethodPost, historyPath, q, &res)
}

// TestChannel asks the daemon to send a test notification through channel
// name; the error is the receiver's answer when it did not arrive.
func TestChannel(ctx context.Context, p core.Paths, name string) error {
	return callDaemon(ctx, p, http.MethodPost, channelsPath+"/"+url.PathEscape(name)+"/test", nil, nil)
}
