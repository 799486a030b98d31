// Package logs is the log forwarder behind steward_log_forward: journald
// entries (read with journalctl) and log files (followed by inode and
// offset across rotation) sent to a syslog receiver as RFC 5424 messages,
// over TCP with RFC 6587 octet counting, over TLS with a pinned CA, or
// over UDP.
//
// Delivery over TCP and TLS is at least once. The journal and the files
// are the buffer: the forwarder keeps no lines of its own, only a position
// per source (a journald cursor, a file's inode and offset), saved
// atomically in its state directory. A position advances only when the
// receiver's TCP has acknowledged every byte up to it, which the socket's
// send queue tells (SIOCOUTQ): a write the kernel merely accepted proves
// nothing. Plain syslog over TCP has no acknowledgement by the receiving
// program, so lines acknowledged less than Config.Settle before a
// connection breaks are sent again on the next one: a receiver that dies
// with lines in its socket buffer or memory queue loses none. A receiver
// that is down is retried with bounded exponential backoff while the
// sources wait where they are; a forwarder stopped by its context waits
// for the receiver to acknowledge what it wrote and saves its positions,
// so a restart neither skips nor repeats; a forwarder killed outright
// repeats at most what was acknowledged since the last save
// (Config.PersistInterval) and what was still unacknowledged.
//
// UDP gives no such guarantee: a datagram to a receiver that is down is
// lost without notice.
package logs
