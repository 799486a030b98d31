package provider

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// stringCheck adapts a check function to a validator.String. Unknown and null
// values pass: they are checked again once known.
type stringCheck struct {
	desc  string
	check func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.desc }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.desc }
func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Attribute Value",
			fmt.Sprintf("%s must be %s: %v", req.Path, v.desc, err))
	}
}

var machineIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// The validators of the connection object; their descriptions say what is accepted.
var (
	hostKeyValidator = stringCheck{
		desc:  "one public key in authorized_keys format, e.g. the content of /etc/ssh/ssh_host_ed25519_key.pub (\"ssh-ed25519 AAAA...\")",
		check: func(s string) error { _, err := client.ParseHostKey(s); return err },
	}
	privateKeyValidator = stringCheck{
		desc:  "a private key in OpenSSH or PEM format (\"-----BEGIN OPENSSH PRIVATE KEY-----...\")",
		check: client.CheckPrivateKey,
	}
	certificateValidator = stringCheck{
		desc:  "an SSH user certificate in authorized_keys format (the content of id_ed25519-cert.pub)",
		check: client.CheckCertificate,
	}
	durationValidator = stringCheck{
		desc:  "a positive duration such as \"30s\", \"2m\" or \"1h30m\"",
		check: func(s string) error { _, err := client.ParseTimeout(s); return err },
	}
	machineIDValidator = stringCheck{
		desc: "a machine id: 32 lower-case hexadecimal characters, as in /etc/machine-id",
		check: func(s string) error {
			if !machineIDPattern.MatchString(s) {
				return fmt.Errorf("got %q", s)
			}
			return nil
		},
	}
)
