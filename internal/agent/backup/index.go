package backup

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/stewardhq/terraform-provider-steward/internal/atomicfile"
)

// Object names in the destination, all under "<schedule>/".
const (
	archiveSuffix  = ".tar.zst.age"
	manifestSuffix = ".manifest.jsonl.zst.age"
	indexSuffix    = ".index.json"
	restoreKeyName = "restore-key.age"
)

func archiveObject(schedule, id string) string  { return schedule + "/" + id + archiveSuffix }
func manifestObject(schedule, id string) string { return schedule + "/" + id + manifestSuffix }
func indexObject(schedule, id string) string    { return schedule + "/" + id + indexSuffix }

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// newID returns a time-sortable snapshot ID such as 20261126T133000Z-a1b2c3.
func newID(t time.Time) (string, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("snapshot id: %w", err)
	}
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:]), nil
}

// index is the small plaintext record that makes a snapshot exist. It is
// authenticated with HMAC-SHA256 under a key that never leaves the host's
// state directory.
type index struct {
	Version        int       `json:"version"`
	ID             string    `json:"id"`
	Schedule       string    `json:"schedule"`
	Time           time.Time `json:"time"`
	Kind           string    `json:"kind"`
	Parent         string    `json:"parent,omitempty"`
	Files          int       `json:"files"`
	SourceBytes    int64     `json:"source_bytes"`
	TotalFiles     int       `json:"total_files"`
	TotalBytes     int64     `json:"total_bytes"`
	Partial        bool      `json:"partial,omitempty"`
	ArchiveBytes   int64     `json:"archive_bytes"`
	ArchiveSHA256  string    `json:"archive_sha256"`
	ManifestBytes  int64     `json:"manifest_bytes"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	// Recipients are the public keys archive and manifest are encrypted
	// to, sorted (see recipientSet); empty in snapshots made before they
	// were recorded.
	Recipients []string `json:"recipients,omitempty"`
	MAC        string   `json:"mac,omitempty"`
}

const indexVersion = 1

func (ix index) mac(key []byte) string {
	ix.MAC = ""
	body, _ := json.Marshal(ix) // a struct of plain fields always marshals
	m := hmac.New(sha256.New, key)
	m.Write([]byte("steward-backup-index-v1\x00"))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (ix index) seal(key []byte) ([]byte, error) {
	ix.MAC = ix.mac(key)
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode index %s: %w", ix.ID, err)
	}
	return append(b, '\n'), nil
}

// ErrTampered marks an index whose MAC does not match, or that claims to be
// another snapshot than its name says.
var ErrTampered = errors.New("backup index failed authentication (edited, swapped, or written with another state key)")

func openIndex(data []byte, key []byte, schedule, id string) (index, error) {
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return index{}, fmt.Errorf("index %s/%s: %w: %w", schedule, id, ErrTampered, err)
	}
	want := ix.mac(key)
	if !hmac.Equal([]byte(want), []byte(ix.MAC)) {
		return index{}, fmt.Errorf("index %s/%s: %w", schedule, id, ErrTampered)
	}
	if ix.ID != id || ix.Schedule != schedule {
		return index{}, fmt.Errorf("index %s/%s names snapshot %s/%s: %w", schedule, id, ix.Schedule, ix.ID, ErrTampered)
	}
	if ix.Version != indexVersion {
		return index{}, fmt.Errorf("index %s/%s: unsupported version %d", schedule, id, ix.Version)
	}
	return ix, nil
}

const indexKeyFile = "index.key"

// loadIndexKey reads the HMAC key from stateDir, creating it (0600, 32 random
// bytes) on first use.
func loadIndexKey(stateDir string) ([]byte, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", stateDir, err)
	}
	file := filepath.Join(stateDir, indexKeyFile)
	key, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate index key: %w", err)
		}
		// Write a temporary file, then link it into place: the link fails if
		// another process got there first, and nobody ever reads a short key.
		tmp, err := os.CreateTemp(stateDir, tempPrefix+indexKeyFile+"-*")
		if err != nil {
			return nil, fmt.Errorf("create index key in %s: %w", stateDir, err)
		}
		defer func() { _ = os.Remove(tmp.Name()) }() // the link keeps the content
		if _, err := tmp.Write(key); err != nil {
			_ = tmp.Close()
			return nil, fmt.Errorf("write index key %s: %w", tmp.Name(), err)
		}
		if err := tmp.Sync(); err != nil {
			_ = tmp.Close()
			return nil, fmt.Errorf("sync index key %s: %w", tmp.Name(), err)
		}
		if err := tmp.Close(); err != nil {
			return nil, fmt.Errorf("close index key %s: %w", tmp.Name(), err)
		}
		if err := os.Link(tmp.Name(), file); errors.Is(err, fs.ErrExist) {
			return loadIndexKey(stateDir) // another process won the race
		} else if err != nil {
			return nil, fmt.Errorf("create index key %s: %w", file, err)
		}
		if err := atomicfile.SyncDir(stateDir); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index key %s: %w", file, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("index key %s: want 32 bytes, have %d", file, len(key))
	}
	return key, nil
}
