package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"

	"golang.org/x/sys/unix"
)

// The backup walk runs as root over trees that other users own, so it
// reads them through directory descriptors and never resolves a name twice:
//
//   - a configured path is opened from "/" one component at a time with
//     O_NOFOLLOW; a symlink among its directories is refused (Config.validate
//     says so before the run, the walk notes it when one appears later). The
//     path's last component is an entry like any other: a symlink there is
//     stored as a symlink.
//   - every entry is looked up by name in its parent's descriptor: lstat with
//     AT_SYMLINK_NOFOLLOW, readlinkat, and opens with O_NOFOLLOW. A name
//     swapped for a symlink after the walk saw it fails the open with ELOOP
//     and is skipped with a note; it is never followed.
//   - a directory is entered with openat(parent, name, O_DIRECTORY|O_NOFOLLOW)
//     and described by fstat of that descriptor, so its entry and its
//     content are the same directory.
//   - a file is opened with O_NONBLOCK and O_NOCTTY and read only when fstat
//     of the open descriptor says it is a regular file, and described by that
//     fstat: a FIFO swapped in neither blocks the open nor is read. An entry
//     the walk sees as a device, FIFO or socket is never opened. Making a
//     device node takes root, and fs.protected_hardlinks keeps other users
//     from linking one, so only root could swap one in between the look and
//     the open; it would be closed unread.
//
// The order is filepath.WalkDir's (a directory, then its entries sorted by
// name, each directory's subtree before the next name), which is the order
// the parent's manifest is matched in (walkLess).

// walkRoot backs up the tree at root, an absolute, clean configured path.
func (r *snapshotRun) walkRoot(root string) error {
	dir, base, err := openParentNoFollow(root)
	if err != nil {
		r.partialNote("%s: not backed up: %v", root, err)
		return nil
	}
	defer closeFD(dir)
	if base == "" {
		// "/" has no name in the archive; its entries do.
		return r.walkEntries(dir, "")
	}
	return r.visit(dir, base, root, unix.DT_UNKNOWN)
}

// walkEntries visits the entries of the open directory fd, whose absolute
// path is dirAbs ("" for "/").
func (r *snapshotRun) walkEntries(fd int, dirAbs string) error {
	if r.dirBuf == nil {
		r.dirBuf = make([]byte, 32<<10)
	}
	entries, err := readDirAt(fd, r.dirBuf)
	if err != nil {
		// Stored without its entries, as filepath.WalkDir did.
		r.partialNote("%s: %v", orRoot(dirAbs), &fs.PathError{Op: "readdirent", Path: orRoot(dirAbs), Err: err})
	}
	for _, d := range entries { // none after an error
		if err := r.visit(fd, d.name, dirAbs+"/"+d.name, d.typ); err != nil {
			return err
		}
	}
	return nil
}

// visit backs up the entry name of the open directory dir; abs is its
// absolute path and typ its type from the directory entry.
func (r *snapshotRun) visit(dir int, name, abs string, typ uint8) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if excluded(r.cfg.Exclude, abs) {
		return nil
	}
	arch := archiveName(abs)
	if typ == unix.DT_REG {
		if err := r.skipDeleted(arch); err != nil {
			return err
		}
		if r.prevCur == nil || string(r.prevCur.Path) != arch {
			// A file the parent does not have is read whatever its lstat
			// says, so it is described by an fstat of the open file alone.
			return r.storeFile(dir, name, abs, &manifestEntry{Path: rawPath(arch), Type: typeFile}, false)
		}
	}
	var st unix.Stat_t
	if err := lstatAt(dir, name, &st); err != nil {
		r.note("%s: vanished during the backup: %v", abs, &fs.PathError{Op: "lstat", Path: abs, Err: err})
		return nil
	}
	m := &manifestEntry{Path: rawPath(arch)}
	sub := -1 // the directory's descriptor, to walk once its entry is written
	var openErr error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		m.Type = typeFile
	case unix.S_IFDIR:
		m.Type = typeDir
		fd, err := r.openDir(dir, name, abs, &st)
		switch {
		case errors.Is(err, errChangedType):
			r.note("%s: changed type during the backup, skipped", abs)
			return nil
		case errors.Is(err, fs.ErrNotExist):
			r.note("%s: vanished during the backup: %v", abs, err)
			return nil
		case err != nil:
			openErr = err // stored without its entries, as filepath.WalkDir did
		default:
			sub = fd
			defer closeFD(sub)
		}
	case unix.S_IFLNK:
		m.Type = typeSymlink
		target, err := readlinkAt(dir, name)
		if err != nil {
			r.partialNote("%s: read link: %v", abs, &fs.PathError{Op: "readlink", Path: abs, Err: err})
			return nil
		}
		m.Link = rawPath(target)
	default:
		r.note("%s: skipped %s", abs, describeSpecial(st.Mode))
		return nil
	}
	fillStat(m, &st)
	if err := r.storeEntry(dir, name, abs, m, &st); err != nil {
		return err
	}
	if openErr != nil {
		r.partialNote("%s: %v", abs, openErr)
	}
	if sub >= 0 {
		return r.walkEntries(sub, abs)
	}
	return nil
}

// errChangedType means an entry is no longer what the walk saw.
var errChangedType = errors.New("changed type during the backup")

// openDir opens the directory name in dir, which lstat described as st,
// and replaces st with the fstat of what was opened.
func (r *snapshotRun) openDir(dir int, name, abs string, st *unix.Stat_t) (int, error) {
	if r.e.beforeOpen != nil {
		if err := r.e.beforeOpen(abs, true); err != nil {
			return -1, err
		}
	}
	fd, err := openDirAt(dir, name)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return -1, errChangedType // a symlink or a file now
	}
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	if err := unix.Fstat(fd, st); err != nil {
		closeFD(fd)
		return -1, &fs.PathError{Op: "stat", Path: abs, Err: err}
	}
	return fd, nil
}

// storeEntry writes the entry m (a regular file, directory or symlink
// described by its lstat st) as unchanged from the parent, or stores it.
func (r *snapshotRun) storeEntry(dir int, name, abs string, m *manifestEntry, st *unix.Stat_t) error {
	prev, err := r.matchParent(string(m.Path))
	if err != nil {
		return err
	}
	key := devIno{uint64(st.Dev), st.Ino} //nolint:unconvert // field types differ across architectures
	if prev != nil && unchanged(prev, m) {
		m.SHA256 = prev.SHA256
		if m.Type == typeFile && st.Nlink > 1 {
			if first, ok := r.links[key]; ok {
				m.HardLink = rawPath(first.path)
			} else {
				r.links[key] = hardLinkTarget{string(m.Path), m.SHA256}
			}
		}
		r.countTree(m)
		return r.writeEntry(m)
	}
	if m.Type == typeFile {
		return r.storeFile(dir, name, abs, m, true)
	}
	m.Stored = true
	hdr := entryHeader(m)
	if m.Type == typeDir {
		hdr.typeflag, hdr.name = tarDir, hdr.name+"/"
	} else {
		hdr.typeflag, hdr.linkname = tarSymlink, string(m.Link)
	}
	return r.storeHeader(hdr, m)
}

// entryHeader is the tar header of m, but for its type.
func entryHeader(m *manifestEntry) *tarHeader {
	return &tarHeader{name: string(m.Path), mode: int64(m.Mode), uid: m.UID, gid: m.GID, mtimeNS: m.MtimeNS}
}

// storeHeader stores an entry that is its header alone: a directory, a
// symlink or a hard link.
func (r *snapshotRun) storeHeader(hdr *tarHeader, m *manifestEntry) error {
	if err := r.tw.writeHeader(hdr); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	r.trailer.Files++
	r.countTree(m)
	return r.writeEntry(m)
}

// storeFile stores the regular file name in dir, described as opened,
// which is what gets read. lstatted says whether the walk saw the file
// with lstat already; if not, a file gone by now has merely vanished.
func (r *snapshotRun) storeFile(dir int, name, abs string, m *manifestEntry, lstatted bool) error {
	f, st, err := r.openSource(dir, name, abs)
	switch {
	case errors.Is(err, unix.ELOOP):
		r.note("%s: changed type during the backup, skipped", abs) // a symlink now: not followed
		return nil
	case err != nil && !lstatted && errors.Is(err, fs.ErrNotExist):
		r.note("%s: vanished during the backup: %v", abs, err)
		return nil
	case err != nil:
		r.partialNote("%s: not backed up: %v", abs, err)
		return nil
	}
	defer func() { _ = f.Close() }() // opened read-only
	if st == nil {
		r.note("%s: changed type during the backup, skipped", abs)
		return nil
	}
	fillStat(m, st)
	m.Stored = true
	hdr := entryHeader(m)
	key := devIno{uint64(st.Dev), st.Ino} //nolint:unconvert // field types differ across architectures
	linked := st.Nlink > 1
	if first, ok := r.links[key]; ok && linked {
		hdr.typeflag, hdr.linkname = tarLink, first.path
		m.HardLink = rawPath(first.path)
		m.SHA256 = first.sha256
		return r.storeHeader(hdr, m)
	}
	hdr.typeflag = tarReg
	hdr.size = m.Size
	if err := r.tw.writeHeader(hdr); err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	sum, err := r.copyContent(f, abs, m.Size)
	if err != nil {
		return fmt.Errorf("write archive: %w", unwrapWrite(err))
	}
	m.SHA256 = sum
	if linked {
		r.links[key] = hardLinkTarget{string(m.Path), sum}
	}
	r.trailer.Files++
	r.trailer.SourceBytes += m.Size
	r.countTree(m)
	return r.writeEntry(m)
}

// openSource opens the file name in dir to back up and fstats it; the
// Stat_t is nil when it is not a regular file, which is then not read.
func (r *snapshotRun) openSource(dir int, name, abs string) (*rawFile, *unix.Stat_t, error) {
	if r.e.beforeOpen != nil {
		if err := r.e.beforeOpen(abs, false); err != nil {
			return nil, nil, err
		}
	}
	fd, err := openReadAt(dir, name)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	f := &rawFile{fd: fd, name: abs}
	st := &r.fileStat
	if err := unix.Fstat(fd, st); err != nil {
		_ = f.Close() // opened read-only
		return nil, nil, &fs.PathError{Op: "stat", Path: abs, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return f, nil, nil
	}
	return f, st, nil
}

// rawFile reads a file with plain system calls: an *os.File would cost
// three more (registering with the poller fails for regular files) per
// file.
type rawFile struct {
	fd   int
	name string
}

func (f *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) Close() error { return unix.Close(f.fd) }

func (r *snapshotRun) countTree(m *manifestEntry) {
	r.trailer.TotalFiles++
	if m.Type == typeFile {
		r.trailer.TotalBytes += m.Size
	}
}

// fillStat describes m from its lstat or fstat. The mode is the
// permission bits with setuid, setgid and sticky, exactly unixMode of the
// fs.FileMode that os derives from st.
func fillStat(m *manifestEntry, st *unix.Stat_t) {
	m.Mode = uint32(st.Mode) & 0o7777 //nolint:unconvert // field types differ across architectures
	m.MtimeNS = st.Mtim.Nano()
	m.CtimeNS = st.Ctim.Nano()
	m.Inode = st.Ino
	m.UID = int(st.Uid)
	m.GID = int(st.Gid)
	if m.Type == typeFile {
		m.Size = st.Size
		if st.Nlink > 1 {
			m.Nlink = uint64(st.Nlink) //nolint:unconvert // uint32 on arm64
		}
	}
}

// unchanged reports whether the parent's entry still describes the file:
// same type, size, mtime, ctime and inode. Any write, chmod, chown or rename
// over the path changes one of these, so the file is not read again.
func unchanged(prev, cur *manifestEntry) bool {
	return prev.Type == cur.Type && prev.Size == cur.Size && prev.MtimeNS == cur.MtimeNS &&
		prev.CtimeNS == cur.CtimeNS && prev.Inode == cur.Inode && prev.Link == cur.Link &&
		(prev.Type != typeFile || prev.SHA256 != "")
}

// describeSpecial names the type of a file the walk skips.
func describeSpecial(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "special file of type 0" + strconv.FormatUint(uint64(mode&unix.S_IFMT), 8)
}
