package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/stewardhq/terraform-provider-steward/internal/agentbin"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/client"
)

// minDiskFree is the free space preflight asks for on /usr/local: two agent
// builds (current and previous) with room to spare.
const minDiskFree = 100 << 20

var supportedOS = map[string]string{
	"debian": "apt", "ubuntu": "apt",
	"rhel": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf", "fedora": "dnf", "ol": "dnf",
}

// preflightProblems lists every reason the host cannot take the agent. binErr
// is what agentbin.For said for the host's architecture.
func preflightProblems(f client.Facts, binErr error, sudoErr *client.SudoError) []string {
	var problems []string
	if _, ok := supportedOS[f.OSID]; !ok {
		problems = append(problems, fmt.Sprintf("operating system %q (%s) is not supported: Debian, Ubuntu and RHEL-family hosts are", f.OSID, f.OSName))
	}
	if f.InitSystem != "systemd" {
		problems = append(problems, fmt.Sprintf("the init system is %q: the agent runs as a systemd service", f.InitSystem))
	}
	if binErr != nil && !errors.Is(binErr, agentbin.ErrNotBuilt) {
		problems = append(problems, binErr.Error())
	}
	if f.DiskFreeBytes < minDiskFree {
		problems = append(problems, fmt.Sprintf("only %d MiB free on /usr/local, at least %d MiB needed", f.DiskFreeBytes>>20, minDiskFree>>20))
	}
	if sudoErr != nil {
		problems = append(problems, sudoErr.Error())
	}
	return problems
}

// connect opens the pooled connection for a steward_host, requiring the host
// key pinned in state when the configuration trusts on first use. It returns
// the host id the host must answer with: the connection's host_id when set,
// else the one in m ("" when neither is known yet).
func (r *hostResource) connect(ctx context.Context, m *hostResourceModel) (*client.Conn, string, diag.Diagnostics) {
	c, diags := connectionFromObject(ctx, m.Host)
	if diags.HasError() {
		return nil, "", diags
	}
	if pinned := m.HostKey.ValueString(); pinned != "" && c.HostKey.IsNull() && c.KnownHostsFile.IsNull() {
		c.HostKey = types.StringValue(pinned)
		c.TrustOnFirstUse = types.BoolNull()
	}
	conn, d := r.data.connectModel(ctx, path.Root("host"), c)
	diags.Append(d...)
	if diags.HasError() {
		return nil, "", diags
	}
	expected := c.hostIDOf()
	if expected == "" {
		expected = m.HostID.ValueString()
	}
	return conn, expected, diags
}

// deploy converges the host to plan: preflight → pre_deploy → agent upload →
// dependencies → configuration and service → health → post_deploy. state is
// nil on create. On success plan holds what the host now really runs.
func (r *hostResource) deploy(ctx context.Context, plan, state *hostResourceModel) diag.Diagnostics {
	var diags diag.Diagnostics
	if state != nil {
		plan.HostKey, plan.HostID = state.HostKey, state.HostID
	} else {
		plan.HostKey, plan.HostID = types.StringNull(), types.StringNull()
	}
	conn, expectedID, d := r.connect(ctx, plan)
	diags.Append(d...)
	if diags.HasError() {
		return diags
	}
	op := conn.Operator(localUser())
	step := func(name string) { tflog.Info(ctx, "steward_host: "+name, map[string]any{"host": conn.Address()}) }

	step("preflight")
	facts, err := conn.Facts(ctx)
	var sudoErr *client.SudoError
	if err != nil && !errors.As(err, &sudoErr) {
		diags.Append(connectionDiagnostic(path.Root("host"), err))
		return diags
	}
	if expectedID != "" && facts.HostID != expectedID {
		diags.Append(hostIDMismatch(path.Root("host"), conn.Address(), expectedID, facts.HostID))
		return diags
	}
	// One decompression of the agent serves the preflight and the upload.
	bin, binErr := agentbin.For(facts.Architecture)
	if problems := preflightProblems(facts, binErr, sudoErr); len(problems) > 0 {
		diags.AddAttributeError(path.Root("host"), "Preflight Failed", fmt.Sprintf(
			"%s (%s) cannot take the Steward agent:\n\n  - %s\n\nNothing was changed on the host.",
			conn.Address(), facts.Hostname, strings.Join(problems, "\n  - ")))
		return diags
	}
	if binErr != nil {
		diags.AddError("Agent Binaries Missing", binErr.Error())
		return diags
	}

	step("pre_deploy")
	if d := runSteps(ctx, conn, "pre_deploy", stringList(ctx, plan.PreDeploy, &diags)); d.HasError() {
		diags.Append(d...)
		return diags
	}

	step("agent")
	staged := stagedPath(bin)
	want := wantedInstallation(bin)
	if state == nil || state.AgentSHA256.ValueString() != bin.SHA256 || stateFile(ctx, state, staged) != want.Files[staged] {
		if _, err := conn.Output(ctx, client.Script(`mkdir -p -- "$1" && chmod 0755 -- "$1"`, agentLibDir)); err != nil {
			diags.AddError("Agent Upload Failed", fmt.Sprintf("Could not create %s on %s: %v", agentLibDir, conn.Address(), err))
			return diags
		}
		err := conn.Upload(ctx, client.File{Path: staged, Mode: api.AgentBinaryMode, Owner: "0", Group: "0", Content: bytes.NewReader(bin.Data)})
		if err != nil {
			diags.AddError("Agent Upload Failed", fmt.Sprintf(
				"Uploading steward-agent %s to %s failed; the agent that was running (if any) is untouched and keeps running. "+
					"Check free space on /usr/local.\n\n%v", bin.Version, conn.Address(), err))
			return diags
		}
	}

	step("dependencies")
	wanted := stringSet(ctx, plan.Packages, &diags)
	if len(wanted) > 0 {
		var pr api.PackagesResult
		err := conn.AgentRPC(ctx, staged, api.MethodPackages, op, api.PackagesParams{Names: wanted}, &pr)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeUnknownPackage {
			diags.AddAttributeError(path.Root("packages"), "Unknown Package", fmt.Sprintf(
				"The package manager on %s does not know a package in `packages`: %s. Nothing was installed.", conn.Address(), ae.Message))
			return diags
		}
		if err != nil {
			diags.AddAttributeError(path.Root("packages"), "Package Installation Failed", err.Error())
			return diags
		}
		tflog.Info(ctx, "steward_host: packages", map[string]any{"installed": pr.Installed, "manager": pr.Manager})
	}

	step("configuration and service")
	cfg, _ := agentConfigFor(ctx, facts.HostID, *plan, &diags) // known at apply
	var ir api.InstallResult
	if err := conn.AgentRPC(ctx, staged, api.MethodInstall, op, api.InstallParams{Binary: staged, Config: cfg}, &ir); err != nil {
		diags.AddError("Agent Installation Failed", fmt.Sprintf("Installing steward-agent %s on %s failed: %v", bin.Version, conn.Address(), err))
		return diags
	}

	step("health")
	timeout, _ := time.ParseDuration(plan.HealthTimeout.ValueString())
	if why := waitHealthy(ctx, conn, op, bin.Version, facts.HostID, timeout); why != "" {
		logs := serviceLog(ctx, conn)
		if ir.Previous != "" && ir.Previous != staged {
			var rr api.RollbackResult
			rbErr := conn.AgentRPC(ctx, ir.Previous, api.MethodRollback, op, api.RollbackParams{Reason: "health check failed: " + why}, &rr)
			outcome := "Steward rolled back to " + ir.Previous + " and restarted it: the previous agent is running again and healthy."
			if rbErr != nil {
				outcome = "Steward tried to roll back to " + ir.Previous + ", but the rollback failed: " + rbErr.Error() + ". The host needs attention."
			} else if why2 := waitHealthy(ctx, conn, op, "", facts.HostID, timeout); why2 != "" {
				outcome = "Steward rolled back to " + ir.Previous + ", but the previous agent is not healthy either: " + why2 + ". The host needs attention."
			}
			diags.AddError("Agent Upgrade Rolled Back", fmt.Sprintf(
				"steward-agent %s did not become healthy on %s within %s: %s\n\n%s\n\nService log of the failed agent:\n%s",
				bin.Version, conn.Address(), timeout, why, outcome, logs))
			return diags
		}
		diags.AddError("Agent Unhealthy", fmt.Sprintf(
			"steward-agent %s did not become healthy on %s within %s: %s\n\nService log:\n%s", bin.Version, conn.Address(), timeout, why, logs))
		return diags
	}

	step("post_deploy")
	if d := runSteps(ctx, conn, "post_deploy", stringList(ctx, plan.PostDeploy, &diags)); d.HasError() {
		diags.Append(d...)
		return diags
	}

	live, err := inspectHost(ctx, conn, op, wanted)
	if err != nil {
		diags.Append(connectionDiagnostic(path.Root("host"), err))
		return diags
	}
	// What the deployment could not put right would show as drift at once.
	if diffs := want.differences(live.installation); len(diffs) > 0 {
		diags.AddError("Host Did Not Converge", fmt.Sprintf(
			"steward-agent %s is deployed and healthy on %s, but the host still differs from what Steward installs:\n\n  - %s\n\n"+
				"Something on the host that Steward did not create takes precedence; remove it and apply again.",
			bin.Version, conn.Address(), strings.Join(diffs, "\n  - ")))
		return diags
	}
	setFacts(plan, facts, conn.HostKey())
	diags.Append(applyLiveState(ctx, plan, live)...)
	plan.DeployedAt = types.StringValue(time.Now().UTC().Format(time.RFC3339))
	diags.Append(setConnection(plan)...)
	return diags
}

// stateFile is what the state recorded for path in `files` ("" when nothing).
func stateFile(ctx context.Context, m *hostResourceModel, path string) string {
	files := map[string]string{}
	_ = m.Files.ElementsAs(ctx, &files, false) // Null before the first read: nothing recorded.
	return files[path]
}

var unsafeVersionChars = regexp.MustCompile(`[^A-Za-z0-9._+-]`)

func safeVersion(v string) string { return unsafeVersionChars.ReplaceAllString(v, "_") }

// runSteps runs operator commands in order; the first failure stops.
func runSteps(ctx context.Context, conn *client.Conn, attr string, commands []string) diag.Diagnostics {
	var diags diag.Diagnostics
	for i, cmd := range commands {
		res, err := conn.Exec(ctx, client.Command{Args: []string{"sh", "-c", cmd}})
		if err != nil {
			diags.AddAttributeError(path.Root(attr).AtListIndex(i), "Deploy Step Failed", fmt.Sprintf("%s[%d] %q could not run: %v", attr, i, cmd, err))
			return diags
		}
		if res.ExitStatus != 0 {
			diags.AddAttributeError(path.Root(attr).AtListIndex(i), "Deploy Step Failed", fmt.Sprintf(
				"%s[%d] %q exited with status %d.\n\nstdout:\n%s\nstderr:\n%s", attr, i, cmd, res.ExitStatus,
				strings.TrimSpace(string(res.Stdout)), strings.TrimSpace(string(res.Stderr))))
			return diags
		}
	}
	return diags
}

// waitHealthy polls until the service is active and the agent answers with
// the expected version (any, when empty) and host id, with a live daemon. It
// returns "" when healthy, or the last reason it was not.
func waitHealthy(ctx context.Context, conn *client.Conn, op api.Operator, version, hostID string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		var why string
		live, err := inspectHost(ctx, conn, op, nil)
		switch {
		case err != nil:
			why = err.Error()
		case !live.ServiceActive:
			why = agentService + " is not active"
		case live.Health == nil:
			why = "the agent does not answer: " + live.HealthError
		case version != "" && live.Health.AgentVersion != version:
			why = fmt.Sprintf("the agent answers as version %q, want %q", live.Health.AgentVersion, version)
		case live.Health.HostID != hostID:
			why = fmt.Sprintf("the agent answers as host %q, want %q", live.Health.HostID, hostID)
		case !live.Health.DaemonRunning:
			why = "the daemon has not written its heartbeat"
		default:
			return ""
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return why
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func serviceLog(ctx context.Context, conn *client.Conn) string {
	out, err := conn.Output(ctx, client.Command{Args: []string{"journalctl", "-u", agentService, "-n", "20", "--no-pager", "-o", "cat"}})
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}

// uninstallScript removes what Steward installed when the agent itself is gone.
const uninstallScript = `systemctl disable --now ` + agentService + ` >/dev/null 2>&1 || true
rm -f -- ` + agentUnitFile + `
systemctl daemon-reload >/dev/null 2>&1 || true
rm -rf -- ` + agentLibDir + ` /etc/steward
if [ "$1" = purge ]; then rm -rf -- /var/lib/steward /var/log/steward; fi
`

// uninstall removes the agent, through the agent when it is there (so the
// removal is audited), with a plain script otherwise.
func uninstall(ctx context.Context, conn *client.Conn, purge bool) diag.Diagnostics {
	var diags diag.Diagnostics
	var res struct{}
	err := conn.AgentRPC(ctx, agentCurrent, api.MethodUninstall, conn.Operator(localUser()), api.UninstallParams{Purge: purge}, &res)
	if err == nil {
		return diags
	}
	tflog.Warn(ctx, "agent uninstall failed, removing with a script", map[string]any{"error": err.Error()})
	mode := ""
	if purge {
		mode = "purge"
	}
	if _, err2 := conn.Output(ctx, client.Script(uninstallScript, mode)); err2 != nil {
		diags.AddError("Unable to Remove Agent", fmt.Sprintf("Removing steward-agent from %s failed: %v (agent said: %v)", conn.Address(), err2, err))
	}
	return diags
}
