package api

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ScheduleNamePattern is what a backup schedule's name must match: the name
// becomes a file under /etc/steward/backups and a folder in the destination,
// so it can never be a path.
var ScheduleNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validateScheduleName(name string) error {
	if !ScheduleNamePattern.MatchString(name) {
		return fmt.Errorf("schedule name %q: want 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit", name)
	}
	return nil
}

// Method names of steward_backup_schedule and steward_backups beside the
// lifecycle (BackupKind).
const (
	// MethodBackupRun runs one backup of a schedule now (with retention and
	// verification), as the daemon's scheduler would.
	MethodBackupRun = "backup.run"
	// MethodBackupList lists a schedule's snapshots.
	MethodBackupList = "backup.list"
)

// Snapshot kinds.
const (
	SnapshotFull        = "full"
	SnapshotIncremental = "incremental"
)

// CodePathMissing means a configured path does not exist on the host.
const CodePathMissing = "path_missing"

// CodePathSymlink means a directory of a configured path is a symlink. The
// agent resolves configured paths without following symlinks, because
// whoever may write the directory holding one could point it elsewhere.
const CodePathSymlink = "path_symlink"

// CodeDestinationUnsafe means a directory destination, or a directory on
// the way to it, is one a user other than root could change, and the
// destination is not marked shared.
const CodeDestinationUnsafe = "destination_unsafe"

// BackupSchedule is /etc/steward/backups/<name>.json.
type BackupSchedule struct {
	Name                 string            `json:"name"`
	Paths                []string          `json:"paths"`
	Exclude              []string          `json:"exclude,omitempty"`
	Schedule             string            `json:"schedule"`               // Cron expression or @daily-style, host time zone.
	RandomDelay          string            `json:"random_delay,omitempty"` // Duration.
	Destination          BackupDestination `json:"destination"`
	Recipients           []string          `json:"recipients"`                // age X25519 public keys.
	PassphraseFile       string            `json:"passphrase_file,omitempty"` // Lets the host restore itself.
	FullEvery            int               `json:"full_every,omitempty"`      // Runs between full snapshots.
	FullMaxAge           string            `json:"full_max_age,omitempty"`    // Duration; a full snapshot at least this often.
	Retention            BackupRetention   `json:"retention"`
	VerifyEvery          string            `json:"verify_every,omitempty"` // Duration between restore drills.
	Dumps                []BackupDump      `json:"dumps,omitempty"`
	IncludeStewardConfig bool              `json:"include_steward_config"`
	Pre                  []string          `json:"pre,omitempty"`  // sh -c commands before the backup.
	Post                 []string          `json:"post,omitempty"` // sh -c commands after it.
}

// BackupDestination says where snapshots go: a directory on the host, or
// SFTP to another machine.
type BackupDestination struct {
	Path string `json:"path,omitempty"` // A directory on the host (may be an NFS mount).
	// Shared accepts a Path that users other than root own or may write;
	// without it the agent refuses such a path (CodeDestinationUnsafe).
	Shared bool        `json:"shared,omitempty"`
	SFTP   *BackupSFTP `json:"sftp,omitempty"`
}

// BackupSFTP is a destination on another machine reached over SFTP, with its
// own pinned host key.
type BackupSFTP struct {
	Host           string `json:"host"`
	Port           int    `json:"port,omitempty"`
	User           string `json:"user"`
	PrivateKeyFile string `json:"private_key_file"` // On the backed-up host, readable by root only.
	HostKey        string `json:"host_key"`         // The SFTP server's public key, authorized_keys format.
	Path           string `json:"path"`             // Directory on the SFTP server.
}

// BackupRetention is restic's forget policy; durations accept d and w units.
type BackupRetention struct {
	KeepLast    int    `json:"keep_last,omitempty"`
	KeepHourly  int    `json:"keep_hourly,omitempty"`
	KeepDaily   int    `json:"keep_daily,omitempty"`
	KeepWeekly  int    `json:"keep_weekly,omitempty"`
	KeepMonthly int    `json:"keep_monthly,omitempty"`
	KeepYearly  int    `json:"keep_yearly,omitempty"`
	KeepWithin  string `json:"keep_within,omitempty"`
}

// BackupDump is a command whose stdout is stored in the snapshot as dumps/<name>.
type BackupDump struct {
	Name    string   `json:"name"`
	Command []string `json:"command"`
}

// BackupName names a schedule in a request.
type BackupName = ObjectName

// BackupKind is the managed-object kind of steward_backup_schedule: the
// methods backup.configure, backup.remove and backup.status, and the files
// /etc/steward/backups/<name>.json.
var BackupKind = Kind[BackupSchedule, BackupObserved]{Name: "backup", Dir: "backups"}

// Backup methods beside the lifecycle.
var (
	// BackupRun runs one backup of a schedule now (with retention and
	// verification), as the daemon's scheduler would.
	BackupRun = Method[ObjectName, BackupRunResult]{Name: MethodBackupRun}
	// BackupCatalog lists a schedule's snapshots.
	BackupCatalog = Method[ObjectName, BackupList]{Name: MethodBackupList}
)

// BackupObserved is what backup.status observes of a schedule: the runs'
// results and the catalog at the destination.
type BackupObserved struct {
	LastSuccessAt  time.Time `json:"last_success_at,omitzero"`
	LastSnapshotID string    `json:"last_snapshot_id,omitempty"`
	SnapshotCount  int       `json:"snapshot_count"`
	LastVerifiedAt time.Time `json:"last_verified_at,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	// NextSnapshotKind is SnapshotFull or SnapshotIncremental: what the next
	// run takes. It is full when the recipients differ from those of the
	// chain the run would continue.
	NextSnapshotKind string `json:"next_snapshot_kind,omitempty"`
	// LastSnapshotMissing says the snapshot the last run made is no longer
	// at the destination (deleted there by hand, or lost).
	LastSnapshotMissing bool `json:"last_snapshot_missing,omitempty"`
}

// BackupSnapshot is one snapshot in a catalog.
type BackupSnapshot struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Kind     string    `json:"kind"` // "full" or "incremental".
	Parent   string    `json:"parent,omitempty"`
	Bytes    int64     `json:"bytes"`
	Files    int64     `json:"files"`
	Partial  bool      `json:"partial,omitempty"`
	Verified string    `json:"verified,omitempty"` // "", "ok" or "failed".
	Notes    []string  `json:"notes,omitempty"`
	// RecipientFingerprints name the public keys the snapshot is encrypted
	// to (RecipientFingerprint), sorted; empty when not recorded.
	RecipientFingerprints []string `json:"recipient_fingerprints,omitempty"`
}

// RecipientFingerprint names an age public key in catalogs and plans:
// "SHA256:" and the unpadded base64 of the SHA-256 of its canonical,
// lower-case form, as ssh-keygen names keys.
func RecipientFingerprint(recipient string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(recipient))))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// BackupRunResult is the result of MethodBackupRun.
type BackupRunResult struct {
	Snapshot BackupSnapshot `json:"snapshot"`
	Removed  []string       `json:"removed,omitempty"` // Snapshots retention removed.
}

// BackupList is the result of MethodBackupList.
type BackupList struct {
	HostID    string           `json:"host_id"` // The host's /etc/machine-id.
	Snapshots []BackupSnapshot `json:"snapshots"`
}

// Validate checks the name, which the agent turns into file names.
func (b BackupSchedule) Validate() error { return validateScheduleName(b.Name) }

// ObjectName is the schedule's name.
func (b BackupSchedule) ObjectName() string { return b.Name }

// Render is the exact content of the schedule's configuration file.
func (b BackupSchedule) Render() []byte { return RenderSpec(b) }
