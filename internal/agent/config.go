package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// LoadConfig reads /etc/steward/agent.json. A missing file is not an error:
// the zero config means "use the defaults".
func LoadConfig(p core.Paths) (api.AgentConfig, error) {
	var c api.AgentConfig
	b, err := os.ReadFile(p.AgentConfig())
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", p.AgentConfig(), err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", p.AgentConfig(), err)
	}
	return c, nil
}
