package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/backup/schedule"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/alerting"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/monitor/logs"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/security/firewall"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/security/harden"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// MaxRequestBytes bounds the request Serve reads, so a runaway writer cannot
// exhaust the host's memory. Bulk data never travels through rpc.
const MaxRequestBytes = 8 << 20

// DefaultMethods returns the registry of every method this agent implements,
// keyed by method name. It returns a new map on every call.
func DefaultMethods() map[string]core.Handler {
	m := map[string]core.Handler{
		api.MethodHealth:       handleHealth,
		api.MethodInstall:      handleInstall,
		api.MethodRollback:     handleRollback,
		api.MethodUninstall:    handleUninstall,
		api.MethodPackages:     handlePackages,
		api.ConfirmChange.Name: handleConfirmChange,
	}
	schedule.Register(m)
	monitor.Register(m)
	alerting.Register(m)
	logs.Register(m)
	firewall.Register(m)
	harden.Register(m)
	return m
}

// Serve reads one api.Request from in, dispatches it and writes one
// api.Response to out. Every failure to understand or answer the request is
// reported in the response; Serve returns an error only when it cannot write
// the response. deps.Methods defaults to DefaultMethods().
func Serve(ctx context.Context, in io.Reader, out io.Writer, deps core.Deps) error {
	deps = deps.WithDefaults()
	if deps.Methods == nil {
		deps.Methods = DefaultMethods()
	}
	resp := api.Response{Protocol: api.ProtocolVersion}
	result, err := dispatch(ctx, in, deps)
	if err == nil {
		raw, merr := json.Marshal(result)
		if merr != nil {
			err = fmt.Errorf("encode result: %w", merr)
		} else {
			resp.Result = raw
		}
	}
	if err != nil {
		resp.Error = toAPIError(err)
		deps.Logger.Warn("rpc request failed", "code", resp.Error.Code, "error", resp.Error.Message)
	}
	if err := json.NewEncoder(out).Encode(resp); err != nil {
		return fmt.Errorf("write rpc response: %w", err)
	}
	return nil
}

func dispatch(ctx context.Context, in io.Reader, deps core.Deps) (any, error) {
	// Decode one JSON value only: the provider may keep stdin open.
	var raw json.RawMessage
	if err := json.NewDecoder(io.LimitReader(in, MaxRequestBytes)).Decode(&raw); err != nil {
		return nil, core.BadRequest("decode request: %v", err)
	}
	// Check the protocol before anything else: a request from another protocol
	// may not fit today's Request type at all.
	var envelope struct {
		Protocol *int `json:"protocol"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		return nil, core.BadRequest("decode request: %v", err)
	}
	if envelope.Protocol == nil {
		return nil, core.BadRequest("request has no protocol version")
	}
	if *envelope.Protocol != api.ProtocolVersion {
		return nil, &api.Error{Code: api.CodeProtocolMismatch, Message: protocolMismatchMessage(*envelope.Protocol)}
	}
	var req api.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, core.BadRequest("decode request: %v", err)
	}
	if req.Method == "" {
		return nil, core.BadRequest("request has no method")
	}
	handle, ok := deps.Methods[req.Method]
	if !ok {
		return nil, &api.Error{
			Code:    api.CodeUnknownMethod,
			Message: fmt.Sprintf("steward-agent %s does not know method %q (it knows: %s): apply steward_host to upgrade the agent on this host", Version, req.Method, strings.Join(slices.Sorted(maps.Keys(deps.Methods)), ", ")),
		}
	}
	deps.Logger.Debug("rpc request", "method", req.Method, "local_user", req.Operator.LocalUser, "ssh_user", req.Operator.SSHUser, "key_fingerprint", req.Operator.KeyFingerprint)
	return callHandler(ctx, handle, deps, req)
}

// callHandler turns a handler's panic into an internal error, so the provider
// still gets a response it can show instead of an empty stdout.
func callHandler(ctx context.Context, handle core.Handler, deps core.Deps, req api.Request) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			deps.Logger.Error("rpc handler panicked", "method", req.Method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("%s: handler panicked: %v (please report this to the Steward developers)", req.Method, p)
		}
	}()
	return handle(ctx, deps, req)
}

func protocolMismatchMessage(got int) string {
	return fmt.Sprintf("the provider speaks agent protocol %d but steward-agent %s on this host speaks protocol %d: apply steward_host to upgrade the agent on this host to the provider's version", got, Version, api.ProtocolVersion)
}

func toAPIError(err error) *api.Error {
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		return apiErr
	}
	return &api.Error{Code: api.CodeInternal, Message: err.Error()}
}
