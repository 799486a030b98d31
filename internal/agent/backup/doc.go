// Package backup is Steward's snapshot engine: it backs up a set of paths
// into encrypted, compressed tar archives in a Destination, lists, verifies,
// restores and removes them. Retention (which snapshots to keep) lives
// beside it as a pure function; schedules are parsed by internal/cron.
//
// # Pipeline
//
// Backup walks the configured paths in filepath.WalkDir's order, through
// directory descriptors that never follow a symlink (walk.go says how), and
// streams
//
//	tar (PAX) → zstd (level 3, GOMAXPROCS workers) → age (X25519 recipients) → destination
//
// hashing the encrypted bytes on the way, while a second goroutine reads
// them back from the destination and compares them byte for byte with what
// was written. The snapshot is published only when archive and manifest
// both read back exactly. Nothing is held in memory but
// buffers: dump output is spooled to a file in the state directory because a
// tar header needs the size first. Regular files, directories, symlinks and
// hard links (a later path with the same device and inode becomes a tar
// hard link to the first) are stored with mode, numeric uid/gid and mtime
// (nanoseconds, in PAX records). Sockets, devices and FIFOs are skipped with
// a note. Sparse files are stored densely. A file that cannot be opened is
// left out, noted, and the snapshot is marked partial.
//
// # Objects in the destination
//
// Each schedule writes only under its own prefix, and takes "<schedule>/.lock"
// (flock) for a run, so schedules sharing a destination never meet:
//
//	<schedule>/<id>.tar.zst.age              the archive
//	<schedule>/<id>.manifest.jsonl.zst.age   the manifest, encrypted like the archive
//	<schedule>/<id>.index.json               plaintext index, HMAC-SHA256 authenticated
//	<schedule>/restore-key.age               only with a passphrase file, see below
//
// IDs sort by time: 20261126T133000Z-a1b2c3 (UTC, then 3 random bytes).
// Archive and manifest are uploaded under temporary names (".tmp-…"),
// fsynced and renamed; the index is written last. A snapshot exists only
// when its index does, so a crash, kill or full disk never leaves something
// that looks complete; the next run of the schedule sweeps the leftovers.
//
// The manifest is JSON lines: a {"header": …} line (id, kind, parent), one
// line per path in walk order, a {"trailer": …} line (totals, notes, the
// archive's SHA-256 and size). It is written during the walk, so the
// archive's digest, known only at its end, is in the trailer; manifests
// from before that carry it in the header, and readers accept both. Paths are archive names (the absolute path without its
// leading "/"); a name that is not UTF-8 is written as {"b64": "…"}. Each
// entry has type, size, mode, mtime, ctime, inode, uid, gid, SHA-256, link
// target; "stored" when its content is in this archive, "deleted" when it
// was in the parent but is gone.
//
// The index holds id, time, kind, parent, counts and sizes, and the SHA-256
// and size of archive and manifest. Its MAC key is "index.key" in the state
// directory (32 random bytes, 0600, created on first use); an edited or
// renamed index, or a swapped archive, is therefore detected. A new host
// restoring from the destination needs that key copied from the old host's
// state (or restores with stock tools, which do not check it).
//
// # Incremental snapshots
//
// An incremental snapshot stores only paths whose type, size, mtime, ctime
// or inode differ from its parent's manifest; unchanged files are not even
// opened, so a run with no changes costs a directory walk plus one lstat
// per path. The parent's manifest is read from the state directory in step
// with the walk (both are in walk order), so memory stays flat. A full
// snapshot is made every FullEveryRuns runs (1: always), when the chain's
// full snapshot is FullEveryAge old, when the parent's manifest is not on
// this host, or when a snapshot in the chain failed verification. With
// FullEveryRuns <= 0 and no FullEveryAge every snapshot is full.
//
// # Restoring with stock tools
//
// Restore a chain in order: the full snapshot first, then each incremental
// up to the one wanted (follow "parent" in the index files), each into the
// same directory:
//
//	age -d -i KEY < ID.tar.zst.age | zstd -d | tar -xpf - --numeric-owner
//
// then delete the paths that the incremental's manifest marks deleted:
//
//	age -d -i KEY < ID.manifest.jsonl.zst.age | zstd -d | grep '"deleted":true'
//
// GNU tar may warn about PAX names that are not UTF-8 and still restores
// them byte for byte. With a passphrase file, first recover the schedule's
// restore key ("age -d restore-key.age > KEY" asks for the passphrase): age
// lets a passphrase be the only recipient of a file, so the archive is
// encrypted to that key, which in turn is encrypted to the passphrase.
//
// # Restore and verification
//
// Restore walks the chain into a temporary directory beside the target,
// checking every restored file's SHA-256 against the manifest and every
// archive's and manifest's SHA-256 against the index, applies owners (as
// root), modes and mtimes (directories last), and only then renames the
// result into place or moves it entry by entry into an existing target;
// existing files are replaced only with Overwrite. A wrong key (ErrWrongKey)
// or a corrupt snapshot (ErrCorrupt) thus leaves nothing under the target.
// Verify re-reads an archive against its index and, given identities, runs
// the same restore into a scratch directory under the state directory; a
// failure is recorded there and the snapshot is refused from then on
// (ErrVerificationFailed).
package backup
