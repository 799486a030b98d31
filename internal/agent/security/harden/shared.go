package harden

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// sharedFile is a file Steward writes whole for every profile on the host
// (hostProfiles): a profile's apply writes all their settings, a removal
// keeps the others', and the file goes with the last profile.
type sharedFile struct {
	path   string
	mode   os.FileMode
	render func(h *host, ps []api.HardeningProfile) string
	// applies is false where the file has no place: modules in a
	// container, sudoers without sudo. nil is everywhere.
	applies func(h *host) bool
	// sshd files are checked with `sshd -t` once written and loaded by a
	// reload; sudoers with `visudo -c` before it replaces the old one.
	sshd, sudoers bool
	// what names a file that can cut access, saved under confirm-or-revert.
	what string
}

var sharedFiles = []sharedFile{
	{path: DropIn, mode: 0o600, sshd: true, what: "sshd settings (" + DropIn + ")",
		render: func(_ *host, ps []api.HardeningProfile) string { first, _ := renderDropIns(ps); return first }},
	{path: DropInLast, mode: 0o600, sshd: true, what: "sshd settings (" + DropIn + ")",
		render: func(_ *host, ps []api.HardeningProfile) string { _, last := renderDropIns(ps); return last }},
	{path: SysctlFile, mode: 0o644, render: func(h *host, ps []api.HardeningProfile) string { return renderSysctl(h.root, ps) }},
	{path: ModprobeFile, mode: 0o644, render: func(_ *host, ps []api.HardeningProfile) string { return renderModprobe(ps) },
		applies: func(h *host) bool { return h.container == "" }},
	{path: SudoersFile, mode: 0o440, sudoers: true, what: "sudo settings (" + SudoersFile + ")",
		render:  func(_ *host, ps []api.HardeningProfile) string { return renderSudoers(ps) },
		applies: func(h *host) bool { return h.exists("/usr/bin/sudo") }},
}

// fileChange is a shared file that differs from what the profiles want:
// its new text, or remove (no profile is left).
type fileChange struct {
	sharedFile
	text   string
	remove bool
}

// sharedChanges are the shared files that differ from what ps want.
func sharedChanges(h *host, ps []api.HardeningProfile) []fileChange {
	var out []fileChange
	for _, f := range sharedFiles {
		cur, err := os.ReadFile(h.path(f.path))
		switch {
		case len(ps) == 0:
			if err == nil {
				out = append(out, fileChange{sharedFile: f, remove: true})
			}
		case f.applies == nil || f.applies(h):
			if text := f.render(h, ps); err != nil || string(cur) != text {
				out = append(out, fileChange{sharedFile: f, text: text})
			}
		}
	}
	return out
}

// writeChanges writes (or removes) the changed files, sudoers through
// visudo, and says whether an sshd file changed: the caller checks it with
// `sshd -t` and reloads sshd.
func writeChanges(h *host, changes []fileChange) (sshd bool, err error) {
	for _, f := range changes {
		path := h.path(f.path)
		switch {
		case f.remove:
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return sshd, err
			}
		case f.sudoers:
			if err := writeSudoers(h, path, f.text); err != nil {
				return sshd, err
			}
		default:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return sshd, err
			}
			if err := atomicfile.Write(path, []byte(f.text), f.mode); err != nil {
				return sshd, err
			}
		}
		sshd = sshd || f.sshd
	}
	return sshd, nil
}

// writeSudoers checks text with `visudo -c` in a file sudo skips (its
// name has a dot), then renames it into place.
func writeSudoers(h *host, path, text string) error {
	tmp := filepath.Join(filepath.Dir(path), ".steward-hardening.new")
	if err := os.WriteFile(tmp, []byte(text), 0o440); err != nil {
		return err
	}
	if out, err := h.run(h.ctx, "visudo", "-c", "-q", "-f", tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("visudo refuses the sudo settings: %s", strings.TrimSpace(out))
	}
	return os.Rename(tmp, path)
}

// guarded are the changes that can cut access: the files to save, and
// what they are, once each.
func guarded(changes []fileChange) (files, what []string, sshd bool) {
	for _, f := range changes {
		if f.what == "" {
			continue
		}
		files = append(files, f.path)
		if len(what) == 0 || what[len(what)-1] != f.what {
			what = append(what, f.what)
		}
		sshd = sshd || f.sshd
	}
	return files, what, sshd
}
