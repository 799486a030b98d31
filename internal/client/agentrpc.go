package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// AgentRPC sends one request to `BINARY rpc` on the host (as root when the
// connection uses sudo) and decodes the result into result. Errors reported by
// the agent come back as *api.Error so callers can switch on their Code.
func (c *Conn) AgentRPC(ctx context.Context, binary, method string, op api.Operator, params, result any) error {
	req, err := api.NewRequest(method, op, params)
	if err != nil {
		return err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", method, err)
	}
	res, err := c.Exec(ctx, Command{Args: []string{binary, "rpc"}, Stdin: bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("agent %s on %s: %w", method, c.Address(), err)
	}
	var resp api.Response
	if err := json.Unmarshal(res.Stdout, &resp); err != nil {
		return &AgentUnavailableError{Method: method, Address: c.Address(), Binary: binary, ExitStatus: res.ExitStatus,
			Output: truncate(strings.TrimSpace(string(res.Stderr)+" "+string(res.Stdout)), 500)}
	}
	if err := resp.Decode(result); err != nil {
		return fmt.Errorf("agent %s on %s: %w", method, c.Address(), err)
	}
	return nil
}

// AgentUnavailableError means the agent did not answer with a response at
// all: it is missing (exit status 127), not executable, or broken.
type AgentUnavailableError struct {
	Method, Address, Binary string
	ExitStatus              int
	Output                  string // stderr and stdout, truncated
}

func (e *AgentUnavailableError) Error() string {
	return fmt.Sprintf("agent %s on %s: %s rpc exited %d without a JSON answer: %s", e.Method, e.Address, e.Binary, e.ExitStatus, e.Output)
}

// Missing says whether the agent binary is not there at all.
func (e *AgentUnavailableError) Missing() bool { return e.ExitStatus == 127 }

// Operator describes who is connected, for the agent's audit log.
func (c *Conn) Operator(localUser string) api.Operator {
	return api.Operator{LocalUser: localUser, SSHUser: c.User(), KeyFingerprint: c.authFingerprint()}
}

// RPCCaller is what Call needs: a Conn, or an in-process twin of a host in
// tests.
type RPCCaller interface {
	AgentRPC(ctx context.Context, binary, method string, op api.Operator, params, result any) error
}

// Call runs method m of the current agent on the host with params and
// returns its result; m ties params and result to their types.
func Call[P, R any](ctx context.Context, c RPCCaller, m api.Method[P, R], op api.Operator, params P) (R, error) {
	var r R
	err := c.AgentRPC(ctx, api.AgentCurrent, m.Name, op, params, &r)
	return r, err
}
