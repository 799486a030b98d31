package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core/coretest"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

func TestServe(t *testing.T) {
	t.Parallel()
	echo := func(_ context.Context, _ core.Deps, req api.Request) (any, error) {
		var p struct {
			Say string `json:"say"`
		}
		if err := core.DecodeParams(req, &p); err != nil {
			return nil, err
		}
		return map[string]string{"said": p.Say, "by": req.Operator.SSHUser}, nil
	}
	methods := DefaultMethods()
	methods["test.echo"] = echo
	methods["test.not_found"] = func(context.Context, core.Deps, api.Request) (any, error) {
		return nil, &api.Error{Code: api.CodeNotFound, Message: "no backup named etc"}
	}
	methods["test.fail"] = func(context.Context, core.Deps, api.Request) (any, error) {
		return nil, errors.New("read /etc/steward/x.json: permission denied")
	}
	methods["test.panic"] = func(context.Context, core.Deps, api.Request) (any, error) {
		panic("boom")
	}

	tests := []struct {
		name       string
		in         string
		wantCode   string // Empty: a result is expected.
		wantMsg    []string
		wantResult string // Checked when set.
	}{
		{name: "health", in: `{"protocol":2,"method":"health","operator":{"ssh_user":"deploy"}}`, wantResult: `"host_id":"` + coretest.MachineID + `"`},
		{name: "health with empty params", in: `{"protocol":2,"method":"health","params":{}}`, wantResult: `"protocol":2`},
		{name: "health with unknown param", in: `{"protocol":2,"method":"health","params":{"verbose":true}}`, wantCode: api.CodeBadRequest, wantMsg: []string{"verbose"}},
		{name: "params and operator reach the handler", in: `{"protocol":2,"method":"test.echo","operator":{"ssh_user":"ann"},"params":{"say":"hi"}}`, wantResult: `{"by":"ann","said":"hi"}`},
		{name: "newer provider", in: `{"protocol":3,"method":"health"}`, wantCode: api.CodeProtocolMismatch, wantMsg: []string{"protocol 3", "protocol 2", "apply steward_host", "upgrade"}},
		{name: "older provider", in: `{"protocol":0,"method":"health"}`, wantCode: api.CodeProtocolMismatch, wantMsg: []string{"apply steward_host"}},
		{name: "future request shape still gets a mismatch", in: `{"protocol":7,"method":{"name":"health"}}`, wantCode: api.CodeProtocolMismatch},
		{name: "no protocol", in: `{"method":"health"}`, wantCode: api.CodeBadRequest, wantMsg: []string{"no protocol"}},
		{name: "unknown method", in: `{"protocol":2,"method":"backup.teleport"}`, wantCode: api.CodeUnknownMethod, wantMsg: []string{`"backup.teleport"`, "health", "apply steward_host"}},
		{name: "no method", in: `{"protocol":2}`, wantCode: api.CodeBadRequest, wantMsg: []string{"no method"}},
		{name: "not json", in: `hello`, wantCode: api.CodeBadRequest, wantMsg: []string{"decode request"}},
		{name: "empty input", in: ``, wantCode: api.CodeBadRequest, wantMsg: []string{"decode request"}},
		{name: "truncated json", in: `{"protocol":2,"meth`, wantCode: api.CodeBadRequest},
		{name: "json array", in: `[1]`, wantCode: api.CodeBadRequest},
		{name: "wrong field type", in: `{"protocol":2,"method":5}`, wantCode: api.CodeBadRequest},
		{name: "handler api error keeps its code", in: `{"protocol":2,"method":"test.not_found"}`, wantCode: api.CodeNotFound, wantMsg: []string{"no backup named etc"}},
		{name: "handler plain error is internal", in: `{"protocol":2,"method":"test.fail"}`, wantCode: api.CodeInternal, wantMsg: []string{"permission denied"}},
		{name: "handler panic is internal", in: `{"protocol":2,"method":"test.panic"}`, wantCode: api.CodeInternal, wantMsg: []string{"boom", "report"}},
		{name: "only the first value is read", in: `{"protocol":2,"method":"health"} {"protocol":2,"method":"nope"}`, wantResult: `"host_id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			deps := core.Deps{Paths: coretest.NewHost(t), Methods: methods, Now: time.Now}
			var out bytes.Buffer
			if err := Serve(context.Background(), strings.NewReader(tt.in), &out, deps); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if n := strings.Count(out.String(), "\n"); n != 1 {
				t.Errorf("output has %d lines, want exactly one response: %s", n, out.String())
			}
			var resp api.Response
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&resp); err != nil {
				t.Fatalf("response is not an api.Response: %v", err)
			}
			if resp.Protocol != api.ProtocolVersion {
				t.Errorf("response protocol = %d, want %d", resp.Protocol, api.ProtocolVersion)
			}
			if tt.wantCode == "" {
				if resp.Error != nil {
					t.Fatalf("unexpected error %+v", resp.Error)
				}
				if !strings.Contains(string(resp.Result), tt.wantResult) {
					t.Errorf("result %s does not contain %s", resp.Result, tt.wantResult)
				}
				return
			}
			if resp.Error == nil {
				t.Fatalf("want error %s, got result %s", tt.wantCode, resp.Result)
			}
			if resp.Result != nil {
				t.Errorf("error response also carries a result: %s", resp.Result)
			}
			if resp.Error.Code != tt.wantCode {
				t.Errorf("code = %s, want %s (message %q)", resp.Error.Code, tt.wantCode, resp.Error.Message)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(resp.Error.Message, want) {
					t.Errorf("message %q does not contain %q", resp.Error.Message, want)
				}
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestServe_writeFailure(t *testing.T) {
	t.Parallel()
	err := Serve(context.Background(), strings.NewReader(`{"protocol":2,"method":"health"}`), failingWriter{}, core.Deps{Paths: coretest.NewHost(t)})
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Fatalf("Serve error = %v, want the write failure", err)
	}
}
