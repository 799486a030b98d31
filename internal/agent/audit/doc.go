// Package audit keeps the agent's tamper-evident, append-only audit log
// (DESIGN.md §3, "Audit"), by default /var/log/steward/audit.log.
//
// Every change the agent makes appends one line: a JSON object with the time,
// the operator, the object, the action, digests of the object before and
// after, the result, and `prev`, the hex SHA-256 of the previous line's bytes
// (without its newline). The first line's prev is 64 zeros. Editing, removing
// or reordering any line therefore breaks the chain at the line after it, and
// Verify names the first line where the chain breaks.
//
// The chain proves that lines were not changed relative to each other; it
// cannot tell that the newest lines were removed, or that the whole file was
// rewritten with a fresh chain, by someone who is root on the host. To catch
// those, keep the hash of the last line somewhere else (for example in
// Terraform state) and compare it later.
//
// Beside the operator the caller claims, each line carries `observed`: what
// sudo and sshd told the agent itself (SUDO_USER, SUDO_UID and the SSH
// client's address and port, from the agent's environment or, since sudo
// clears it, from the login shell above it). A claim that does not match is
// visible; lines written before the field existed still verify.
//
// The file is created 0600 in a 0700 directory, which belongs to the log:
// Append makes it the agent's own 0700 directory when it is not (through its
// descriptor), never follows a symlink at the directory or the log, and
// refuses a log that is not a regular file with one link owned by the agent's
// user, so a user who can write to /var/log cannot redirect root's writes or
// forge the log's history. Each Append takes an
// exclusive lock on the file, so concurrent appenders (rpc and daemon) never
// chain to the same line, writes the line in a single O_APPEND write and
// fsyncs it before returning.
package audit
