package api

import (
	"encoding/json"
	"fmt"
	"net"
)

// Methods that deploy and remove the agent itself (steward_host). Each change
// they make is appended to the host's audit log with the request's Operator.
const (
	// MethodInstall makes a staged agent binary the current one, writes the
	// agent configuration and the systemd unit, and (re)starts the service.
	// It is idempotent: installing what is already installed changes nothing.
	MethodInstall = "install"
	// MethodRollback restores the previous binary and configuration kept by
	// the last install and restarts the service.
	MethodRollback = "rollback"
	// MethodUninstall stops and disables the service and removes what
	// Steward installed; state and audit log stay unless Purge is set.
	MethodUninstall = "uninstall"
	// MethodPackages installs missing packages with the host's package
	// manager (apt or dnf) and reports the installed versions.
	MethodPackages = "packages"
)

// CodeUnknownPackage means the package manager knows no package of that name.
const CodeUnknownPackage = "unknown_package"

// AgentConfig is /etc/steward/agent.json.
type AgentConfig struct {
	HostID            string `json:"host_id"`
	ListenAddress     string `json:"listen_address"`
	HeartbeatInterval string `json:"heartbeat_interval"` // A Go duration, e.g. "10s".
	// Monitoring is steward_host's monitoring block; nil takes every default.
	Monitoring *Monitoring `json:"monitoring,omitempty"`
}

// Validate checks what the agent must refuse even when agent.json was
// written by hand.
func (c AgentConfig) Validate() error {
	webConfig := ""
	if c.Monitoring != nil {
		if err := c.Monitoring.Validate(); err != nil {
			return fmt.Errorf("monitoring: %w", err)
		}
		webConfig = c.Monitoring.WebConfigFile
	}
	if c.ListenAddress != "" {
		if err := CheckListen(c.ListenAddress, webConfig); err != nil {
			return fmt.Errorf("listen_address %s: %w", c.ListenAddress, err)
		}
	}
	return nil
}

// LoopbackOnly says which listen addresses CheckListen accepts without a web
// configuration and why, for the messages of the provider and the agent.
const LoopbackOnly = "only loopback hosts are accepted (127.0.0.0/8, ::1 or localhost) unless monitoring.web_config_file is set: " +
	"otherwise the daemon serves /healthz (which reports the machine id), /metrics and the status page without TLS or authentication"

// CheckListen reports an error unless addr, an AgentConfig.ListenAddress in
// host:port form, names a loopback host, or webConfigFile is set (the web
// configuration then must give TLS and authentication, which the daemon
// checks when it starts). An empty host or 0.0.0.0 listens on every
// interface.
func CheckListen(addr, webConfigFile string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" || webConfigFile != "" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		every := ""
		if host == "" || ip.IsUnspecified() {
			every = " (it listens on every interface)"
		}
		return fmt.Errorf("host %q is not a loopback address%s: %s", host, every, LoopbackOnly)
	}
	return nil
}

// InstallParams are the parameters of MethodInstall.
type InstallParams struct {
	// Binary is the staged agent executable (under the agent's lib dir) to
	// make current. Its name carries the version and digest.
	Binary string      `json:"binary"`
	Config AgentConfig `json:"config"`
}

// InstallResult is the result of MethodInstall.
type InstallResult struct {
	Version  string `json:"version"`            // Version of the now current agent.
	Previous string `json:"previous,omitempty"` // The binary that was current before, kept for rollback.
	Changed  bool   `json:"changed"`            // Whether anything on the host changed.
}

// RollbackParams are the parameters of MethodRollback.
type RollbackParams struct {
	Reason string `json:"reason"` // Why, for the audit log.
}

// RollbackResult is the result of MethodRollback.
type RollbackResult struct {
	Restored string `json:"restored"` // The binary that is current again.
}

// UninstallParams are the parameters of MethodUninstall.
type UninstallParams struct {
	Purge bool `json:"purge"` // Also remove /var/lib/steward and the audit log.
}

// PackagesParams are the parameters of MethodPackages.
type PackagesParams struct {
	Names []string `json:"names"`
}

// PackagesResult is the result of MethodPackages.
type PackagesResult struct {
	Versions  map[string]string `json:"versions"`            // Installed version of every requested package.
	Installed []string          `json:"installed,omitempty"` // Packages this call installed.
	Manager   string            `json:"manager"`             // "apt" or "dnf".
}

// Render is the exact content of /etc/steward/agent.json for c. Provider and
// agent both use it, so the provider can compare digests to detect an edit.
func (c AgentConfig) Render() []byte {
	b, _ := json.MarshalIndent(c, "", "  ") // Strings, numbers and lists always encode.
	return append(b, '\n')
}
