package harden

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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

// sysctlSetting is a value a sysctl.d file sets, and where.
type sysctlSetting struct{ value, file string }

// sysctlPersisted is what the next boot sets: the values of SysctlFile,
// and the value that wins at boot for each parameter.
type sysctlPersisted struct {
	ours map[string]string
	boot map[string]sysctlSetting
}

// sysctlDirs are where systemd-sysctl reads *.conf, a file in an earlier
// directory hiding one of the same name in a later one; the files run in
// name order and /etc/sysctl.conf last, a later value winning.
var sysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

// persisted reads SysctlFile and every file systemd-sysctl reads at boot.
func persisted(root string) sysctlPersisted {
	p := sysctlPersisted{ours: map[string]string{}, boot: map[string]sysctlSetting{}}
	byName := map[string]string{}
	for _, d := range sysctlDirs {
		m, _ := filepath.Glob(filepath.Join(root, d, "*.conf"))
		for _, f := range m {
			if _, hidden := byName[filepath.Base(f)]; !hidden {
				byName[filepath.Base(f)] = f
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	files := make([]string, 0, len(names)+1)
	for _, n := range names {
		files = append(files, byName[n])
	}
	files = append(files, filepath.Join(root, "/etc/sysctl.conf"))
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		for k, v := range readSysctlFile(f) {
			p.boot[k] = sysctlSetting{value: v, file: "/" + rel}
			if "/"+rel == SysctlFile {
				p.ours[k] = v
			}
		}
	}
	return p
}

// readSysctlFile reads one sysctl.d file ("a.b = v", or "a/b = v").
func readSysctlFile(path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
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
			k = strings.TrimPrefix(strings.TrimSpace(k), "-")
			out[strings.ReplaceAll(k, "/", ".")] = strings.TrimSpace(v)
		}
	}
	return out
}

// sysctlResult compares the runtime value, the persisted one and the one
// the next boot sets with the expected value, each on its own.
func sysctlResult(root string, c api.ControlInfo, want string, file sysctlPersisted) api.ControlResult {
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
	saved, ok := file.ours[c.Sysctl]
	boot := file.boot[c.Sysctl]
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
	case boot.value != want:
		r.Status, r.Reason = api.ControlFail, fmt.Sprintf("%s sets %s at boot, after Steward's %s", boot.file, boot.value, SysctlFile)
	default:
		r.Status = api.ControlPass
	}
	if r.Status == api.ControlFail {
		r.Source = "/proc/sys, " + SysctlFile
		if boot.file != "" && boot.file != SysctlFile {
			r.Source += ", " + boot.file
		}
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
