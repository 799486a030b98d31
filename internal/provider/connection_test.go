package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBshZnuy5r7RdepkzcgYA/ururEmk1wB2JazcemNx4pw"
	keyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAGI+g9uBZuSzZW2aWI1wg4mXW/Y2USI9KvzVfUetyDH"
)

// hop builds a hopModel from a map of set fields; everything else is null.
func hop(fields map[string]any) hopModel {
	h := hopModel{
		Host: types.StringNull(), Port: types.Int64Null(), User: types.StringNull(), PrivateKey: types.StringNull(),
		PrivateKeyFile: types.StringNull(), PrivateKeyPassphrase: types.StringNull(), Certificate: types.StringNull(),
		UseAgent: types.BoolNull(), Password: types.StringNull(), HostKey: types.StringNull(),
		KnownHostsFile: types.StringNull(), TrustOnFirstUse: types.BoolNull(),
	}
	for k, v := range fields {
		str, _ := v.(string)
		b, _ := v.(bool)
		n, _ := v.(int)
		switch k {
		case "host":
			h.Host = types.StringValue(str)
		case "port":
			h.Port = types.Int64Value(int64(n))
		case "user":
			h.User = types.StringValue(str)
		case "private_key_file":
			h.PrivateKeyFile = types.StringValue(str)
		case "password":
			h.Password = types.StringValue(str)
		case "use_agent":
			h.UseAgent = types.BoolValue(b)
		case "host_key":
			h.HostKey = types.StringValue(str)
		case "known_hosts_file":
			h.KnownHostsFile = types.StringValue(str)
		case "trust_on_first_use":
			h.TrustOnFirstUse = types.BoolValue(b)
		default:
			panic("unknown field " + k)
		}
	}
	return h
}

func hopObjectType() types.ObjectType { return types.ObjectType{AttrTypes: hopAttrTypes()} }

func conn(t *testing.T, h hopModel, sudo *bool, timeout string, bastions ...hopModel) connectionModel {
	t.Helper()
	c := connectionModel{hopModel: h, HostID: types.StringNull(), Sudo: types.BoolNull(), Timeout: types.StringNull(),
		Bastions: types.ListNull(hopObjectType())}
	if sudo != nil {
		c.Sudo = types.BoolValue(*sudo)
	}
	if timeout != "" {
		c.Timeout = types.StringValue(timeout)
	}
	if bastions != nil {
		l, diags := types.ListValueFrom(context.Background(), hopObjectType(), bastions)
		if diags.HasError() {
			t.Fatal(diags)
		}
		c.Bastions = l
	}
	return c
}

func TestResolveConnection(t *testing.T) {
	t.Parallel()
	yes := true
	noEnv := func(string) string { return "" }
	agentEnv := func(k string) string {
		if k == "SSH_AUTH_SOCK" {
			return "/run/agent.sock"
		}
		return ""
	}
	cases := []struct {
		name    string
		c, def  connectionModel
		env     func(string) string
		want    client.Config
		wantErr []string // attribute paths blamed
	}{
		{
			name: "defaults fill what the resource leaves unset",
			c:    conn(t, hop(map[string]any{"host": "10.0.0.5", "host_key": keyA}), nil, ""),
			def:  conn(t, hop(map[string]any{"user": "deploy", "private_key_file": "/k", "port": 2222}), &yes, "30s"),
			env:  noEnv,
			want: client.Config{Hop: client.Hop{Host: "10.0.0.5", Port: 2222, User: "deploy", PrivateKeyFile: "/k", HostKey: keyA},
				Sudo: true, Timeout: 30 * time.Second},
		},
		{
			name: "the resource's trust choice replaces the default's",
			c:    conn(t, hop(map[string]any{"host": "h", "user": "u", "password": "p", "host_key": keyA}), nil, ""),
			def:  conn(t, hop(map[string]any{"known_hosts_file": "/kh"}), nil, ""),
			env:  noEnv,
			want: client.Config{Hop: client.Hop{Host: "h", User: "u", Password: "p", HostKey: keyA}},
		},
		{
			name: "agent from SSH_AUTH_SOCK when no key is configured",
			c:    conn(t, hop(map[string]any{"host": "h", "user": "u", "trust_on_first_use": true}), nil, ""),
			def:  conn(t, hop(nil), nil, ""),
			env:  agentEnv,
			want: client.Config{Hop: client.Hop{Host: "h", User: "u", UseAgent: true, TrustOnFirstUse: true}},
		},
		{
			name: "bastions inherit auth but never a pinned host key",
			c: conn(t, hop(map[string]any{"host": "target", "host_key": keyA}), nil, "",
				hop(map[string]any{"host": "b1", "host_key": keyB}), hop(map[string]any{"host": "b2", "user": "jump"})),
			def: conn(t, hop(map[string]any{"user": "deploy", "private_key_file": "/k"}), nil, ""),
			env: noEnv,
			want: client.Config{Hop: client.Hop{Host: "target", User: "deploy", PrivateKeyFile: "/k", HostKey: keyA},
				Bastions: []client.Hop{
					{Host: "b1", User: "deploy", PrivateKeyFile: "/k", HostKey: keyB},
					{Host: "b2", User: "jump", PrivateKeyFile: "/k"},
				}},
			wantErr: []string{"host.bastions[1].host_key"},
		},
		{
			name:    "nothing to authenticate or verify with",
			c:       conn(t, hop(map[string]any{"host": "h", "user": "u"}), nil, ""),
			def:     conn(t, hop(nil), nil, ""),
			env:     noEnv,
			want:    client.Config{Hop: client.Hop{Host: "h", User: "u"}},
			wantErr: []string{"host.private_key", "host.host_key"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, diags := resolveConnection(context.Background(), path.Root("host"), tc.c, tc.def, tc.env)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
			var blamed []string
			for _, d := range diags.Errors() {
				if wp, ok := d.(interface{ Path() path.Path }); ok {
					blamed = append(blamed, wp.Path().String())
				} else {
					blamed = append(blamed, "<no path>: "+d.Summary())
				}
			}
			if d := cmp.Diff(tc.wantErr, blamed); d != "" {
				t.Errorf("blamed attributes (-want +got):\n%s\n%s", d, strings.TrimSpace(diagText(diags.Errors())))
			}
		})
	}
}

func diagText[T interface{ Detail() string }](ds []T) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Detail() + "\n")
	}
	return b.String()
}
