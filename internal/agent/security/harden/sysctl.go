package harden

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// SysctlFile persists the profile's kernel parameters for the next boot.
const SysctlFile = "/etc/sysctl.d/60-steward-hardening.conf"

// sysctlPath is the parameter's file under /proc/sys.
func sysctlPath(root, name string) string {
	return filepath.Join(root, "/proc/sys", strings.ReplaceAll(name, ".", "/"))
}

// sysctlApplicable says why a parameter cannot be set here: it does not
// exist, or /proc/sys is read-only for it (a container, where the kernel's
// own parameters belong to the host).
func sysctlApplicable(root, name string) (reason string) {
	p := sysctlPath(root, name)
	if _, err := os.Stat(p); err != nil {
		return "this kernel has no " + name
	}
	if err := syscall.Access(p, 2 /* W_OK */); err != nil {
		if errors.Is(err, syscall.EROFS) {
			return name + " is read-only here (a container: the kernel's parameters are the host's)"
		}
		return fmt.Sprintf("%s cannot be set here: %v", name, err)
	}
	return ""
}

// persisted reads the values of SysctlFile.
func persisted(root string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(filepath.Join(root, SysctlFile))
	if err != nil {
		return out
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// sysctlResult compares the runtime value and the persisted one with the
// expected value, each on its own.
func sysctlResult(root string, c api.ControlInfo, want string, file map[string]string) api.ControlResult {
	r := api.ControlResult{Expected: want, Source: "/proc/sys"}
	if why := sysctlApplicable(root, c.Sysctl); why != "" {
		r.Status, r.Reason = api.ControlNotApplicable, why
		return r
	}
	b, err := os.ReadFile(sysctlPath(root, c.Sysctl))
	if err != nil {
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	}
	runtime := strings.Join(strings.Fields(string(b)), " ")
	r.Actual = runtime
	saved, ok := file[c.Sysctl]
	switch {
	case runtime != want:
		r.Status = api.ControlFail
		if ok && saved == want {
			r.Reason = "the runtime value differs from " + SysctlFile
		}
	case !ok:
		r.Status, r.Reason = api.ControlFail, "not persisted in "+SysctlFile+": the next boot loses it"
	case saved != want:
		r.Status, r.Reason = api.ControlFail, fmt.Sprintf("%s says %s: the next boot sets that", SysctlFile, saved)
	default:
		r.Status = api.ControlPass
	}
	if r.Status == api.ControlFail {
		r.Source = "/proc/sys, " + SysctlFile
	}
	return r
}

// renderSysctl is SysctlFile for the host's profiles' parameters that
// apply here.
func renderSysctl(root string, ps []api.HardeningProfile) string {
	var b strings.Builder
	b.WriteString(header(ps))
	for _, c := range api.Catalogue {
		if on, v := expectedAny(ps, c); on && c.Family == "sysctl" && sysctlApplicable(root, c.Sysctl) == "" {
			fmt.Fprintf(&b, "%s = %s\n", c.Sysctl, v)
		}
	}
	return b.String()
}

// setSysctl sets a parameter that applies here; it reports whether it changed.
func setSysctl(root, name, want string) (bool, error) {
	if sysctlApplicable(root, name) != "" {
		return false, nil
	}
	p := sysctlPath(root, name)
	b, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	if strings.TrimSpace(string(b)) == want {
		return false, nil
	}
	return true, os.WriteFile(p, []byte(want+"\n"), 0o644)
}
