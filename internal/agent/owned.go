package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/agent/core"
	"github.com/stewardhq/terraform-provider-steward/internal/api"
	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// ensureOwned gives every path a deployment owns (api.OwnedPaths) back its
// kind, mode and owner, so that one install repairs whatever steward_host's
// drift check reports about them. A missing directory is created. A file
// that is a link, or is owned by another user, is rewritten in place as a
// regular file with the content it shows. A directory that is something else
// is an error: Steward does not delete what it did not create. Each repair
// of an existing path is audited.
func ensureOwned(p core.Paths, op api.Operator) error {
	for _, o := range api.OwnedPaths() {
		path := filepath.Join(p.Root, o.Path)
		want := o.Want()
		want.UID, want.GID = os.Geteuid(), os.Getegid()
		got, err := statPath(path)
		if err != nil {
			return err
		}
		switch {
		case got == want:
			continue
		case got.Kind == api.KindMissing && o.Dir:
			if err := os.MkdirAll(path, o.Mode); err != nil {
				return fmt.Errorf("create %s: %w", path, err)
			}
			// The mode MkdirAll gives is filtered by the umask.
			if err := os.Chmod(path, o.Mode); err != nil {
				return fmt.Errorf("create %s: %w", path, err)
			}
			continue
		case got.Kind == api.KindMissing && o.Path == api.AuditLog:
			// Deleted by hand: the entry recording it starts a new log.
			if err := core.Record(p, op, "audit", "recreate", "", ""); err != nil {
				return err
			}
			continue
		case got.Kind == api.KindMissing:
			return fmt.Errorf("repair %s: it is missing; please report this to the provider developers", path)
		case o.Dir && got.Kind != api.KindDir:
			return fmt.Errorf("repair %s: it is a %s, not the directory Steward created; move it away and apply again", path, got)
		case !o.Dir && (got.Kind != api.KindFile || got.UID != want.UID || got.GID != want.GID):
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("repair %s: %w", path, err)
			}
			if err := atomicfile.Write(path, data, o.Mode); err != nil {
				return fmt.Errorf("repair %s: %w", path, err)
			}
		default:
			if err := os.Lchown(path, want.UID, want.GID); err != nil {
				return fmt.Errorf("repair the owner of %s: %w", path, err)
			}
			if err := os.Chmod(path, o.Mode); err != nil {
				return fmt.Errorf("repair the mode of %s: %w", path, err)
			}
		}
		after, err := statPath(path)
		if err != nil {
			return err
		}
		if err := core.Record(p, op, "path"+o.Path, "repair", got.String(), after.String()); err != nil {
			return err
		}
	}
	return nil
}

// statPath describes path without following a link.
func statPath(path string) (api.PathState, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return api.PathState{Kind: api.KindMissing}, nil
	}
	if err != nil {
		return api.PathState{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	s := api.PathState{Kind: api.KindOther, Mode: unixPerm(fi.Mode())}
	switch {
	case fi.Mode().IsRegular():
		s.Kind = api.KindFile
	case fi.IsDir():
		s.Kind = api.KindDir
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return api.PathState{}, fmt.Errorf("inspect %s: %w", path, err)
		}
		return api.PathState{Kind: api.KindSymlink, Target: target}, nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.UID, s.GID = int(st.Uid), int(st.Gid)
	}
	return s, nil
}

// disableDropIns renames every drop-in for the agent's unit (api.UnitDirs)
// so that systemd no longer reads it, keeping its content beside it: the
// unit must run as Steward wrote it, but the file is not Steward's to
// delete. It reports whether it disabled any; each is audited.
func disableDropIns(p core.Paths, op api.Operator, now time.Time) (bool, error) {
	root, err := filepath.EvalSymlinks(p.Root)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", p.Root, err)
	}
	suffix := ".disabled-by-steward-" + now.UTC().Format("20060102T150405Z")
	disabled := false
	for _, dir := range api.UnitDirs {
		base := filepath.Join(root, dir)
		// Skip a directory that is missing or an alias of another one.
		if resolved, err := filepath.EvalSymlinks(base); err != nil || resolved != base {
			continue
		}
		confs, err := filepath.Glob(filepath.Join(base, api.UnitDropInDir, "*.conf"))
		if err != nil {
			return disabled, fmt.Errorf("list the drop-ins in %s: %w", base, err)
		}
		for _, conf := range confs {
			sum := core.FileDigest(conf)
			if err := os.Rename(conf, conf+suffix); err != nil {
				return disabled, fmt.Errorf("disable drop-in %s: %w", conf, err)
			}
			if err := core.Record(p, op, "unit"+filepath.Join(dir, api.UnitDropInDir, filepath.Base(conf)), "disable", sum, ""); err != nil {
				return disabled, err
			}
			disabled = true
		}
	}
	return disabled, nil
}

// unixPerm is m's permission bits with setuid, setgid and sticky, as chmod
// numbers them: a world-writable or setuid mode is as much drift as 0755.
func unixPerm(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	for bit, v := range map[fs.FileMode]uint32{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if m&bit != 0 {
			u |= v
		}
	}
	return u
}
