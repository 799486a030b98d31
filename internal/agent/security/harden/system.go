package harden

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// ModprobeFile denies the profile's kernel modules.
const ModprobeFile = "/etc/modprobe.d/60-steward-hardening.conf"

// notInContainer is the reason a control bound to the kernel does not
// apply in a container.
func notInContainer(h *host, c api.ControlInfo, what string) (api.ControlResult, bool) {
	if h.container == "" {
		return api.ControlResult{}, false
	}
	return api.ControlResult{Status: api.ControlNotApplicable, Expected: c.Default,
		Reason: fmt.Sprintf("a container (%s): %s", h.container, what)}, true
}

// modprobeConfig is what `modprobe --showconfig` says: the install
// command and the blacklisting of each module (names with underscores).
type modprobeConfig struct {
	install     map[string]string
	blacklisted map[string]bool
	loaded      map[string]bool
	err         error
}

func (h *host) modprobe() modprobeConfig {
	return memo(h, "modprobe", func() modprobeConfig {
		m := modprobeConfig{install: map[string]string{}, blacklisted: map[string]bool{}, loaded: map[string]bool{}}
		out, err := h.run(h.ctx, "modprobe", "--showconfig")
		if err != nil {
			m.err = err
			return m
		}
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[0] == "install":
				m.install[f[1]] = strings.Join(f[2:], " ")
			case len(f) == 2 && f[0] == "blacklist":
				m.blacklisted[f[1]] = true
			}
		}
		if b, err := os.ReadFile(h.path("/proc/modules")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 0 {
					m.loaded[f[0]] = true
				}
			}
		}
		return m
	})
}

func moduleName(c api.ControlInfo) string { return strings.ReplaceAll(c.Module, "-", "_") }

// moduleResult: the module cannot be loaded (its install command is
// /bin/false or /bin/true), is blacklisted, and is not loaded now.
func moduleResult(h *host, c api.ControlInfo, _ string) api.ControlResult {
	if r, skip := notInContainer(h, c, "kernel modules are the host's kernel's"); skip {
		return r
	}
	r := api.ControlResult{Expected: "install /bin/false, blacklisted, not loaded", Source: "modprobe --showconfig, /proc/modules"}
	m := h.modprobe()
	if m.err != nil {
		r.Status, r.Reason = api.ControlError, m.err.Error()
		return r
	}
	name := moduleName(c)
	inst := m.install[name]
	denied := inst == "/bin/false" || inst == "/bin/true" || inst == "/usr/bin/false" || inst == "/usr/bin/true"
	var got []string
	if inst != "" {
		got = append(got, "install "+inst)
	} else {
		got = append(got, "loadable")
	}
	if m.blacklisted[name] {
		got = append(got, "blacklisted")
	}
	if m.loaded[name] {
		got = append(got, "loaded")
	}
	r.Actual = strings.Join(got, ", ")
	r.Status = api.ControlPass
	if !denied || !m.blacklisted[name] || m.loaded[name] {
		r.Status = api.ControlFail
	}
	return r
}

// renderModprobe is ModprobeFile for the host's profiles' modules.
func renderModprobe(ps []api.HardeningProfile) string {
	var b strings.Builder
	b.WriteString(header(ps))
	for _, c := range api.Catalogue {
		if on, _ := expectedAny(ps, c); on && c.Family == "modules" {
			fmt.Fprintf(&b, "install %s /bin/false\nblacklist %s\n", c.Module, c.Module)
		}
	}
	return b.String()
}

// unloadModule takes a loaded module out; ModprobeFile keeps it out.
func unloadModule(h *host, c api.ControlInfo, _ string) (bool, error) {
	if h.container != "" || !h.modprobe().loaded[moduleName(c)] {
		return false, nil
	}
	_, err := h.run(h.ctx, "modprobe", "-r", c.Module)
	return true, err
}

// unitState is a systemd unit as `systemctl show` reports it.
type unitState struct{ load, file, active string }

// away says the unit cannot run: not installed, or masked and stopped.
func (s unitState) away() bool {
	return s.load == "not-found" || s.load == "" || s.load == "masked" && s.active != "active"
}

func (h *host) units() (map[string]unitState, error) {
	type result struct {
		m   map[string]unitState
		err error
	}
	r := memo(h, "units", func() result {
		var names []string
		for _, c := range api.Catalogue {
			names = append(names, c.Units...)
		}
		args := append([]string{"show", "-p", "Id,LoadState,UnitFileState,ActiveState", "--"}, names...)
		out, err := h.run(h.ctx, "systemctl", args...)
		if err != nil {
			return result{err: err}
		}
		m := map[string]unitState{}
		for i, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
			if i >= len(names) {
				break
			}
			var s unitState
			for _, line := range strings.Split(block, "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "LoadState":
					s.load = v
				case "UnitFileState":
					s.file = v
				case "ActiveState":
					s.active = v
				}
			}
			m[names[i]] = s
		}
		return result{m: m}
	})
	return r.m, r.err
}

// serviceResult: every unit is masked or not installed, and not running.
func serviceResult(h *host, c api.ControlInfo, _ string) api.ControlResult {
	r := api.ControlResult{Expected: "masked or not installed", Source: "systemctl show"}
	units, err := h.units()
	if err != nil {
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	}
	r.Status = api.ControlPass
	var got []string
	for _, u := range c.Units {
		s := units[u]
		switch {
		case s.load == "not-found" || s.load == "":
			got = append(got, u+" not installed")
		case s.load == "masked" && s.active != "active":
			got = append(got, u+" masked")
		default:
			got = append(got, fmt.Sprintf("%s %s, %s", u, s.file, s.active))
			r.Status = api.ControlFail
		}
	}
	r.Actual = strings.Join(got, "; ")
	return r
}

// maskServices stops and masks the control's installed units.
func maskServices(h *host, c api.ControlInfo, _ string) (bool, error) {
	units, err := h.units()
	if err != nil {
		return false, err
	}
	var todo []string
	for _, u := range c.Units {
		if s := units[u]; !s.away() {
			todo = append(todo, u)
		}
	}
	if len(todo) == 0 {
		return false, nil
	}
	_, err = h.run(h.ctx, "systemctl", append([]string{"mask", "--now", "--"}, todo...)...)
	return true, err
}

// installed is every package dpkg has on the host, not only removed
// (config files left) or never installed.
func (h *host) installed() (map[string]bool, error) {
	type result struct {
		m   map[string]bool
		err error
	}
	r := memo(h, "dpkg", func() result {
		out, err := h.run(h.ctx, "dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\n")
		if err != nil {
			return result{err: err}
		}
		m := map[string]bool{}
		for _, line := range strings.Split(out, "\n") {
			name, st, ok := strings.Cut(line, "\t")
			if ok && len(st) >= 2 && st[1] != 'n' && st[1] != 'c' {
				m[name] = true
			}
		}
		return result{m: m}
	})
	return r.m, r.err
}

func packageResult(h *host, c api.ControlInfo, _ string) api.ControlResult {
	r := api.ControlResult{Expected: "not installed", Source: "dpkg-query"}
	have, err := h.installed()
	if err != nil {
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	}
	var got []string
	for _, p := range c.Packages {
		if have[p] {
			got = append(got, p)
		}
	}
	r.Status, r.Actual = api.ControlPass, "none installed"
	if len(got) > 0 {
		r.Status, r.Actual = api.ControlFail, strings.Join(got, ", ")+" installed"
	}
	return r
}

// purgePackages removes the control's installed packages and their
// configuration (apt-get purge; nothing is downloaded).
func purgePackages(h *host, c api.ControlInfo, _ string) (bool, error) {
	have, err := h.installed()
	if err != nil {
		return false, err
	}
	var todo []string
	for _, p := range c.Packages {
		if have[p] {
			todo = append(todo, p)
		}
	}
	if len(todo) == 0 {
		return false, nil
	}
	args := append([]string{"DEBIAN_FRONTEND=noninteractive", "apt-get", "purge", "-y", "-q", "--"}, todo...)
	_, err = h.run(h.ctx, "env", args...)
	return true, err
}

// content is the whole file a banner or shell control wants.
func content(c api.ControlInfo, want string) string {
	if c.Content == "" {
		return want
	}
	return fmt.Sprintf(c.Content, want)
}

// bannerResult: the file says exactly the profile's text.
func bannerResult(h *host, c api.ControlInfo, want string) api.ControlResult {
	r := api.ControlResult{Expected: want, Source: c.Path}
	want = content(c, want)
	b, err := os.ReadFile(h.path(c.Path))
	switch {
	case os.IsNotExist(err):
		r.Status, r.Actual = api.ControlFail, "no "+c.Path
		return r
	case err != nil:
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	}
	r.Actual = strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "; ")
	if len(r.Actual) > 120 {
		r.Actual = r.Actual[:120] + "…"
	}
	r.Status = api.ControlPass
	if strings.TrimSpace(string(b)) != want {
		r.Status = api.ControlFail
	}
	return r
}

func writeBanner(h *host, c api.ControlInfo, want string) (bool, error) {
	want = content(c, want)
	if b, err := os.ReadFile(h.path(c.Path)); err == nil && strings.TrimSpace(string(b)) == want {
		return false, nil
	}
	return true, rewrite(h.path(c.Path), want+"\n")
}

// account is an interactive user of /etc/passwd.
type account struct {
	name, home string
	uid        int
}

// interactive lists the users who log in: a UID from login.defs' UID_MIN
// (1000) up, not nobody, with a shell that is not nologin or false.
func interactive(h *host) ([]account, error) {
	b, err := os.ReadFile(h.path("/etc/passwd"))
	if err != nil {
		return nil, err
	}
	uidMin := 1000
	if s, ok := confEffective(h, api.ControlInfo{Path: "/etc/login.defs", Key: "UID_MIN"}); ok {
		if n, err := strconv.Atoi(s.value); err == nil {
			uidMin = n
		}
	}
	var out []account
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 7 {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		shell := filepath.Base(f[6])
		if err != nil || uid < uidMin || uid == 65534 || shell == "nologin" || shell == "false" || f[6] == "" {
			continue
		}
		out = append(out, account{name: f[0], home: f[5], uid: uid})
	}
	return out, nil
}

// homesResult: each interactive user's home exists, is the user's, and
// has no mode bit outside the control's.
func homesResult(h *host, c api.ControlInfo, _ string) api.ControlResult {
	r := api.ControlResult{Expected: fmt.Sprintf("each the user's own, %04o or stricter", c.Mode), Source: "/etc/passwd"}
	users, err := interactive(h)
	if err != nil {
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	}
	r.Status = api.ControlPass
	var got []string
	for _, u := range users {
		st, err := statPath(h.path(u.home))
		if err != nil {
			got = append(got, u.home+" missing")
			r.Status = api.ControlFail
			continue
		}
		got = append(got, fmt.Sprintf("%s %04o %s", u.home, st.mode, st.owner))
		if st.uid != u.uid || uint32(st.mode)&^c.Mode != 0 {
			r.Status = api.ControlFail
		}
	}
	r.Actual = strings.Join(got, "; ")
	if len(users) == 0 {
		r.Actual = "no interactive users"
	}
	return r
}

func fixHomes(h *host, c api.ControlInfo, _ string) (bool, error) {
	users, err := interactive(h)
	if err != nil {
		return false, err
	}
	changed := false
	for _, u := range users {
		st, err := statPath(h.path(u.home))
		if err != nil {
			return changed, fmt.Errorf("%s has no home directory %s (%v): create it, or switch the control off", u.name, u.home, err)
		}
		ch, err := st.restrict(u.uid, st.gid, c.Mode)
		changed = changed || ch
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}
