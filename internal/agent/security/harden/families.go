package harden

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// family checks and applies the controls of one api.ControlInfo.Family.
// check reads the live host; apply changes it only where check would
// fail and reports whether it changed anything. Families whose settings
// are one file for all the host's profiles (sshd, sysctl, modules, sudo)
// also have it in sharedFiles.
type family struct {
	check func(h *host, c api.ControlInfo, want string) api.ControlResult
	apply func(h *host, c api.ControlInfo, want string) (bool, error)
}

var families = map[string]family{
	"sshd":     {check: sshdCheck, apply: noApply},
	"files":    {check: func(h *host, c api.ControlInfo, _ string) api.ControlResult { return fileResult(h.root, c) }, apply: applyFiles},
	"homes":    {check: homesResult, apply: fixHomes},
	"banner":   {check: bannerResult, apply: writeBanner},
	"shell":    {check: bannerResult, apply: writeBanner},
	"sudo":     {check: sudoResult, apply: noApply},
	"conf":     {check: confResult, apply: setConf},
	"pam":      {check: pamResult, apply: enablePAM},
	"modules":  {check: moduleResult, apply: unloadModule},
	"services": {check: serviceResult, apply: maskServices},
	"packages": {check: packageResult, apply: purgePackages},
	"sysctl": {check: func(h *host, c api.ControlInfo, want string) api.ControlResult {
		return sysctlResult(h.root, c, want, h.persisted())
	}, apply: func(h *host, c api.ControlInfo, want string) (bool, error) { return setSysctl(h.root, c.Sysctl, want) }},
}

func applyFiles(h *host, c api.ControlInfo, _ string) (bool, error) { return fixFiles(h.root, c) }

// host is the live host one Observe or Apply reads: its root directory,
// the command runner, and what more than one control reads, read once.
type host struct {
	ctx  context.Context
	root string
	run  func(ctx context.Context, name string, args ...string) (string, error)

	cache     map[string]any
	container string
}

func newHost(ctx context.Context, root string, run func(context.Context, string, ...string) (string, error)) *host {
	h := &host{ctx: ctx, root: root, run: run, cache: map[string]any{}}
	h.container = containerOf(root)
	return h
}

// memo returns what read returned the first time key was asked for.
func memo[T any](h *host, key string, read func() T) T {
	if v, ok := h.cache[key].(T); ok {
		return v
	}
	v := read()
	h.cache[key] = v
	return v
}

// sshdView is sshd's effective configuration (`sshd -T`) and where each
// keyword takes its value.
type sshdView struct {
	effective map[string]string
	first     map[string]sshdSetting
	err       error
}

func (h *host) sshd() sshdView {
	return memo(h, "sshd", func() sshdView {
		out, err := h.run(h.ctx, "sshd", "-T")
		if err != nil {
			return sshdView{err: err}
		}
		return sshdView{effective: parseSSHDT(out), first: firstSettings(h.root)}
	})
}

// sshdCheck reads a control from sshd's effective configuration; the
// drop-ins are shared files (sharedFiles).
func sshdCheck(h *host, c api.ControlInfo, want string) api.ControlResult {
	v := h.sshd()
	if v.err != nil {
		return api.ControlResult{Status: api.ControlError, Expected: want, Reason: v.err.Error()}
	}
	return sshdResult(c, want, v.effective, v.first)
}

func (h *host) persisted() sysctlPersisted {
	return memo(h, "sysctl", func() sysctlPersisted { return persisted(h.root) })
}

// path is p on the host.
func (h *host) path(p string) string { return filepath.Join(h.root, p) }

// exists says whether p exists on the host.
func (h *host) exists(p string) bool {
	_, err := os.Lstat(h.path(p))
	return err == nil
}

// containerOf names the container the host is, or "" for a machine of
// its own: systemd's /run/systemd/container (nspawn, and Docker or Podman
// with systemd), or the files Docker and Podman leave.
func containerOf(root string) string {
	if b, err := os.ReadFile(filepath.Join(root, "/run/systemd/container")); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	for f, name := range map[string]string{"/.dockerenv": "docker", "/run/.containerenv": "podman"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			return name
		}
	}
	return ""
}

// needs reports the control not applicable when a file it needs is missing.
func needs(h *host, c api.ControlInfo) (api.ControlResult, bool) {
	if c.Needs == "" || h.exists(c.Needs) {
		return api.ControlResult{}, false
	}
	return api.ControlResult{Status: api.ControlNotApplicable, Expected: c.Default, Reason: c.NeedsWhy + " (no " + c.Needs + ")"}, true
}
