package backup

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry types in a manifest.
const (
	typeFile    = "file"
	typeDir     = "dir"
	typeSymlink = "symlink"
)

// rawPath is a file name that survives JSON even when it is not UTF-8: valid
// UTF-8 is a plain string, anything else {"b64": "..."}.
type rawPath string

func (p rawPath) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(p)) {
		return json.Marshal(string(p))
	}
	return json.Marshal(struct {
		B64 string `json:"b64"`
	}{base64.StdEncoding.EncodeToString([]byte(p))})
}

func (p *rawPath) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = rawPath(s)
		return nil
	}
	var v struct {
		B64 string `json:"b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(v.B64)
	if err != nil {
		return fmt.Errorf("decode path: %w", err)
	}
	*p = rawPath(raw)
	return nil
}

// manifestEntry is one file system entry (or dump, or deletion). Path is the
// archive name: the absolute path without its leading slash.
type manifestEntry struct {
	Path     rawPath `json:"path,omitempty"`
	Type     string  `json:"type,omitempty"`
	Size     int64   `json:"size,omitempty"`
	Mode     uint32  `json:"mode,omitempty"` // permission bits incl. setuid, setgid, sticky
	MtimeNS  int64   `json:"mtime_ns,omitempty"`
	CtimeNS  int64   `json:"ctime_ns,omitempty"`
	Inode    uint64  `json:"inode,omitempty"`
	Nlink    uint64  `json:"nlink,omitempty"` // files only, when more than 1
	UID      int     `json:"uid,omitempty"`
	GID      int     `json:"gid,omitempty"`
	SHA256   string  `json:"sha256,omitempty"`
	Link     rawPath `json:"link,omitempty"`     // symlink target
	HardLink rawPath `json:"hardlink,omitempty"` // earlier path with the same inode
	Stored   bool    `json:"stored,omitempty"`   // content is in this snapshot's archive
	Deleted  bool    `json:"deleted,omitempty"`  // present in the parent, gone now
	Dump     bool    `json:"dump,omitempty"`
}

// manifestHeader opens a manifest.
type manifestHeader struct {
	Version  int       `json:"version"`
	ID       string    `json:"id"`
	Schedule string    `json:"schedule"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"`
	Parent   string    `json:"parent,omitempty"`
	// Manifests written before the archive's digest moved to the trailer
	// carry it here.
	ArchiveSHA256 string `json:"archive_sha256,omitempty"`
	ArchiveBytes  int64  `json:"archive_bytes,omitempty"`
}

// manifestTrailer closes a manifest; its presence proves the list is whole.
type manifestTrailer struct {
	Files       int      `json:"files"`        // entries stored in this archive
	SourceBytes int64    `json:"source_bytes"` // file bytes stored in this archive
	TotalFiles  int      `json:"total_files"`  // entries in the snapshot's tree
	TotalBytes  int64    `json:"total_bytes"`  // file bytes in the snapshot's tree
	Deleted     int      `json:"deleted"`
	Partial     bool     `json:"partial,omitempty"`
	Notes       []string `json:"notes,omitempty"`
	// The archive is complete only once every entry is written, so its
	// digest closes the manifest rather than opening it.
	ArchiveSHA256 string `json:"archive_sha256"`
	ArchiveBytes  int64  `json:"archive_bytes"`
}

// archiveSHA256 is the digest of the archive the manifest describes.
func (m *manifestReader) archiveSHA256() string {
	if m.trailer != nil && m.trailer.ArchiveSHA256 != "" {
		return m.trailer.ArchiveSHA256
	}
	if m.header != nil {
		return m.header.ArchiveSHA256
	}
	return ""
}

// manifestRecord is one JSON line: a header, a trailer, or an entry.
type manifestRecord struct {
	Header  *manifestHeader  `json:"header,omitempty"`
	Trailer *manifestTrailer `json:"trailer,omitempty"`
	manifestEntry
}

const manifestVersion = 1

// manifestReader reads a manifest, or a bare list of entries, line by line.
type manifestReader struct {
	r       *bufio.Reader
	line    []byte // a line longer than the reader's buffer
	header  *manifestHeader
	trailer *manifestTrailer
}

func newManifestReader(r io.Reader) *manifestReader {
	return &manifestReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// maxManifestLine bounds one manifest line, so a hostile manifest cannot
// make its reader grow without limit. An entry holds at most three paths
// of PATH_MAX bytes, escaped (under 100 KiB); a trailer at most maxNotes
// notes.
const maxManifestLine = 4 << 20

// readLine returns the next line without its newline; it is valid until the
// next call.
func (m *manifestReader) readLine() ([]byte, error) {
	b, err := m.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		m.line = append(m.line[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(m.line) > maxManifestLine {
				return nil, fmt.Errorf("%w: a manifest line is longer than %d bytes", ErrCorrupt, maxManifestLine)
			}
			b, err = m.r.ReadSlice('\n')
			m.line = append(m.line, b...)
		}
		b = m.line
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(b) == 0 {
		return nil, io.EOF
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

// next returns the next entry, or io.EOF after the last one.
func (m *manifestReader) next() (*manifestEntry, error) {
	for {
		line, err := m.readLine()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec := new(manifestRecord)
		if err := decodeRecord(line, rec); err != nil {
			return nil, fmt.Errorf("read manifest: %w", err)
		}
		switch {
		case rec.Header != nil:
			if rec.Header.Version != manifestVersion {
				return nil, fmt.Errorf("read manifest: unsupported version %d", rec.Header.Version)
			}
			m.header = rec.Header
		case rec.Trailer != nil:
			m.trailer = rec.Trailer
		default:
			if m.trailer != nil {
				return nil, errors.New("read manifest: entry after trailer")
			}
			return &rec.manifestEntry, nil
		}
	}
}

// walkLess orders paths the way filepath.WalkDir visits them: component by
// component, so "a/x" comes before "a-b". Treating '/' as the lowest byte
// gives exactly that order.
func walkLess(a, b string) bool { return walkCompare(a, b) < 0 }

func walkCompare(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func sortWalkOrder(paths []string) {
	sort.Slice(paths, func(i, j int) bool { return walkLess(paths[i], paths[j]) })
}

// archiveName turns an absolute path into its name in the archive.
func archiveName(abs string) string { return strings.TrimPrefix(abs, "/") }
