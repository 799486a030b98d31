// Package client is the only part of Steward that speaks SSH.
//
// It dials hosts (directly or through a chain of bastions), verifies every host
// key (pinned key, known_hosts file with hashed entries and @cert-authority
// lines, or trust on first use that reports the key it saw), authenticates with
// keys, certificates, an ssh-agent or a password, and keeps one connection per
// (host, port, user, route) in a Pool that is safe for Terraform's parallel
// calls. On a connection it runs commands (optionally through `sudo -n`) and
// uploads files atomically without ever putting a path into a shell unquoted.
package client
