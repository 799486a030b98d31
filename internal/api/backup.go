package api

import (
	"encoding/json"
	"fmt"
	"regexp"
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

// Methods of steward_backup_schedule and steward_backups.
const (
	// MethodBackupConfigure writes (or replaces) one schedule's configuration,
	// /etc/steward/backups/<name>.json, after checking that its paths exist.
	MethodBackupConfigure = "backup.configure"
	// MethodBackupRemove removes a schedule's configuration. Its snapshots stay
	// at the destination.
	MethodBackupRemove = "backup.remove"
	// MethodBackupStatus reports a schedule's configuration as the host has it
	// and its catalog summary.
	MethodBackupStatus = "backup.status"
	// MethodBackupRun runs one backup of a schedule now (with retention and
	// verification), as the daemon's scheduler would.
	MethodBackupRun = "backup.run"
	// MethodBackupList lists a schedule's snapshots.
	MethodBackupList = "backup.list"
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
type BackupName struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (n BackupName) Validate() error { return validateScheduleName(n.Name) }

// BackupStatus is the result of MethodBackupStatus.
type BackupStatus struct {
	HostID         string          `json:"host_id"` // The host's /etc/machine-id, so one call also proves identity.
	Present        bool            `json:"present"` // The configuration file exists.
	Config         *BackupSchedule `json:"config,omitempty"`
	ConfigSHA256   string          `json:"config_sha256,omitempty"`
	LastSuccessAt  time.Time       `json:"last_success_at,omitzero"`
	LastSnapshotID string          `json:"last_snapshot_id,omitempty"`
	SnapshotCount  int             `json:"snapshot_count"`
	LastVerifiedAt time.Time       `json:"last_verified_at,omitzero"`
	LastError      string          `json:"last_error,omitempty"`
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

// Render is the exact content of the schedule's configuration file.
func (b BackupSchedule) Render() []byte {
	out, _ := json.MarshalIndent(b, "", "  ") // Plain data always encodes.
	return append(out, '\n')
}
