package agent

import (
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"go.yaml.in/yaml/v2"
)

// checkWebConfig refuses a web configuration (exporter-toolkit's format)
// that does not give both TLS and at least one basic auth user, or that a
// user other than root could change (core.RootOnly): whoever may write it
// may let anyone in.
func checkWebConfig(file string) error {
	if err := core.RootOnly(file); err != nil {
		return fmt.Errorf("web config: %w", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("web config: %w", err)
	}
	var c web.Config
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return fmt.Errorf("web config %s: %w", file, err)
	}
	var missing []error
	if !c.TLSConfig.IsEnabled() {
		missing = append(missing, errors.New("tls_server_config with cert_file and key_file (or cert and key)"))
	}
	if len(c.Users) == 0 {
		missing = append(missing, errors.New("basic_auth_users with at least one user and a bcrypt hash"))
	}
	if err := errors.Join(missing...); err != nil {
		return fmt.Errorf("web config %s lacks what a listener beyond loopback needs: %w", file, err)
	}
	if err := web.Validate(file); err != nil {
		return fmt.Errorf("web config %s: %w", file, err)
	}
	return nil
}
