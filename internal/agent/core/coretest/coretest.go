// Package coretest lays out fixture hosts and calls agent methods in tests
// of the agent's packages, without a real host or the rpc transport.
package coretest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// MachineID is the machine id of every host NewHost lays out.
const MachineID = "0123456789abcdef0123456789abcdef"

// NewHost lays out a minimal host tree in a temporary directory: a
// machine-id, a /proc/uptime and an empty state directory. The directory's
// name is short, so the daemon's unix socket fits in a socket address
// (108 bytes), which t.TempDir's long names do not promise.
func NewHost(t testing.TB) core.Paths {
	t.Helper()
	root, err := os.MkdirTemp("", "host")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	p := core.PathsUnder(root)
	for path, content := range map[string]string{
		p.MachineID: MachineID + "\n",
		p.Uptime:    "3600.25 7000.50\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(p.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// Call runs method from methods with params, as the operator "deploy"
// (local user "ops"), and decodes its result into result (when not nil)
// through JSON, as the provider would see it. The error is what the
// provider would get: an *api.Error, with code internal for any other error.
func Call(t testing.TB, methods map[string]core.Handler, deps core.Deps, method string, params, result any) error {
	t.Helper()
	h, ok := methods[method]
	if !ok {
		t.Fatalf("no method %s", method)
	}
	req, err := api.NewRequest(method, api.Operator{SSHUser: "deploy", LocalUser: "ops"}, params)
	if err != nil {
		t.Fatal(err)
	}
	res, err := h(context.Background(), deps, req)
	if err != nil {
		if e := (*api.Error)(nil); errors.As(err, &e) {
			return e
		}
		return &api.Error{Code: api.CodeInternal, Message: err.Error()}
	}
	if result != nil {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatalf("encode result of %s: %v", method, err)
		}
		if err := json.Unmarshal(b, result); err != nil {
			t.Fatalf("decode result of %s into %T: %v", method, result, err)
		}
	}
	return nil
}
