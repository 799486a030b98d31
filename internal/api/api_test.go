package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkWire asserts that v encodes to exactly wire and decodes back to v.
func checkWire[T any](t *testing.T, v T, wire string) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if string(got) != wire {
		t.Errorf("wire form\n got %s\nwant %s", got, wire)
	}
	var back T
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip: got %+v, want %+v", back, v)
	}
}

func TestRequest_roundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  Request
		wire string
	}{
		{
			name: "no params",
			req:  Request{Protocol: 1, Method: MethodHealth, Operator: Operator{LocalUser: "ann", SSHUser: "deploy", KeyFingerprint: "SHA256:abc"}},
			wire: `{"protocol":1,"method":"health","operator":{"local_user":"ann","ssh_user":"deploy","key_fingerprint":"SHA256:abc"}}`,
		},
		{
			name: "params and empty operator",
			req:  Request{Protocol: 1, Method: "backup.run", Params: json.RawMessage(`{"name":"etc"}`)},
			wire: `{"protocol":1,"method":"backup.run","operator":{},"params":{"name":"etc"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkWire(t, tt.req, tt.wire)
		})
	}
}

func TestResponse_roundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp Response
		wire string
	}{
		{
			name: "result",
			resp: Response{Protocol: 1, Result: json.RawMessage(`{"ok":true}`)},
			wire: `{"protocol":1,"result":{"ok":true}}`,
		},
		{
			name: "error",
			resp: Response{Protocol: 1, Error: &Error{Code: CodeUnknownMethod, Message: `unknown method "x"`}},
			wire: `{"protocol":1,"error":{"code":"unknown_method","message":"unknown method \"x\""}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkWire(t, tt.resp, tt.wire)
		})
	}
}

func TestHealthResult_roundTrip(t *testing.T) {
	t.Parallel()
	beat := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		res  HealthResult
		wire string
	}{
		{
			name: "daemon running",
			res:  HealthResult{AgentVersion: "0.1.0", HostID: "0123456789abcdef0123456789abcdef", Protocol: 1, UptimeSeconds: 42, DaemonRunning: true, LastHeartbeat: beat},
			wire: `{"agent_version":"0.1.0","host_id":"0123456789abcdef0123456789abcdef","protocol":1,"uptime_seconds":42,"daemon_running":true,"last_heartbeat":"2025-03-01T12:00:00Z"}`,
		},
		{
			name: "no heartbeat ever",
			res:  HealthResult{AgentVersion: "dev", HostID: "0123456789abcdef0123456789abcdef", Protocol: 1},
			wire: `{"agent_version":"dev","host_id":"0123456789abcdef0123456789abcdef","protocol":1,"uptime_seconds":0,"daemon_running":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkWire(t, tt.res, tt.wire)
		})
	}
}

func TestNewRequest(t *testing.T) {
	t.Parallel()
	req, err := NewRequest("x.get", Operator{SSHUser: "root"}, map[string]string{"name": "a"})
	if err != nil {
		t.Fatal(err)
	}
	if req.Protocol != ProtocolVersion || req.Method != "x.get" || string(req.Params) != `{"name":"a"}` || req.Operator.SSHUser != "root" {
		t.Errorf("unexpected request %+v", req)
	}
	req, err = NewRequest(MethodHealth, Operator{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if req.Params != nil {
		t.Errorf("nil params encoded as %s", req.Params)
	}
	if _, err := NewRequest("x", Operator{}, make(chan int)); err == nil {
		t.Error("unencodable params: want an error")
	}
}

func TestResponse_Decode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resp     Response
		wantCode string // empty: success expected
		wantMsg  string
	}{
		{name: "result", resp: Response{Protocol: ProtocolVersion, Result: json.RawMessage(`{"host_id":"h"}`)}},
		{name: "agent error", resp: Response{Protocol: ProtocolVersion, Error: &Error{Code: CodeNotFound, Message: "no such backup"}}, wantCode: CodeNotFound, wantMsg: "no such backup"},
		{name: "other protocol", resp: Response{Protocol: ProtocolVersion + 1, Result: json.RawMessage(`{}`)}, wantCode: CodeProtocolMismatch, wantMsg: "apply steward_host"},
		{name: "empty", resp: Response{Protocol: ProtocolVersion}, wantCode: CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got HealthResult
			err := tt.resp.Decode(&got)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if got.HostID != "h" {
					t.Errorf("host_id = %q, want h", got.HostID)
				}
				return
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("Decode error = %v, want an *Error", err)
			}
			if apiErr.Code != tt.wantCode || !strings.Contains(apiErr.Message, tt.wantMsg) {
				t.Errorf("Decode error = %+v, want code %s and message containing %q", apiErr, tt.wantCode, tt.wantMsg)
			}
		})
	}
}
