package harden

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/stewardhq/terraform-provider-steward/internal/api"
)

// fileState is one file's mode and owner.
type fileState struct {
	path         string
	mode         os.FileMode
	owner, group string
	uid, gid     int
}

func statFiles(root, pattern string) ([]fileState, error) {
	matches, err := filepath.Glob(filepath.Join(root, pattern))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	var out []fileState
	for _, m := range matches {
		fs, err := statPath(m)
		if err != nil {
			return nil, err
		}
		out = append(out, fs)
	}
	return out, nil
}

// statPath reads one file's or directory's mode and owner; a link is
// refused (changing it would change what it points to).
func statPath(p string) (fileState, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return fileState{}, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		return fileState{}, fmt.Errorf("%s is not a regular file or directory", p)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileState{}, fmt.Errorf("%s: no owner information", p)
	}
	fs := fileState{path: p, mode: fi.Mode().Perm(), uid: int(st.Uid), gid: int(st.Gid)}
	fs.owner, fs.group = strconv.Itoa(fs.uid), strconv.Itoa(fs.gid)
	if u, err := user.LookupId(fs.owner); err == nil {
		fs.owner = u.Username
	}
	if g, err := user.LookupGroupId(fs.group); err == nil {
		fs.group = g.Name
	}
	return fs, nil
}

// fileResult checks every file of the control: no mode bit outside the
// control's, and the owner and group it names.
func fileResult(root string, c api.ControlInfo) api.ControlResult {
	r := api.ControlResult{Expected: fmt.Sprintf("%04o or stricter, %s:%s", c.Mode, c.Owner, c.Group), Source: c.Path}
	files, err := statFiles(root, c.Path)
	switch {
	case err != nil:
		r.Status, r.Reason = api.ControlError, err.Error()
		return r
	case len(files) == 0:
		r.Status, r.Reason = api.ControlNotApplicable, "no "+c.Path+" on this host"
		return r
	}
	var actual, bad []string
	for _, f := range files {
		rel, _ := filepath.Rel(root, f.path)
		a := fmt.Sprintf("/%s %04o %s:%s", rel, f.mode, f.owner, f.group)
		actual = append(actual, a)
		if uint32(f.mode)&^c.Mode != 0 || f.owner != c.Owner || f.group != c.Group {
			bad = append(bad, a)
		}
	}
	r.Actual = strings.Join(actual, "; ")
	r.Status = api.ControlPass
	if len(bad) > 0 {
		r.Status = api.ControlFail
	}
	return r
}

// fixFiles takes away the mode bits the control does not allow and sets
// the owner and group; it reports whether it changed anything.
func fixFiles(root string, c api.ControlInfo) (bool, error) {
	files, err := statFiles(root, c.Path)
	if err != nil {
		return false, err
	}
	uid, gid, err := lookupIDs(c.Owner, c.Group)
	if err != nil {
		return false, err
	}
	changed := false
	for _, f := range files {
		ch, err := f.restrict(uid, gid, c.Mode)
		changed = changed || ch
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// restrict gives the file the owner and group and takes away the mode
// bits outside mask; it reports whether it changed anything.
func (f fileState) restrict(uid, gid int, mask uint32) (bool, error) {
	changed := false
	if f.uid != uid || f.gid != gid {
		if err := os.Lchown(f.path, uid, gid); err != nil {
			return false, err
		}
		changed = true
	}
	if m := os.FileMode(uint32(f.mode) & mask); m != f.mode {
		if err := os.Chmod(f.path, m); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

func lookupIDs(owner, group string) (int, int, error) {
	u, err := user.Lookup(owner)
	if err != nil {
		return 0, 0, err
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, 0, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return uid, gid, nil
}
