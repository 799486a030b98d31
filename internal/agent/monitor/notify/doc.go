// Package notify delivers a host's alert notifications to its notification
// channels (steward_notification_channel): webhook, alertmanager, email,
// slack and command, each through its own persisted delivery queue.
//
// # API
//
// The daemon builds one Notifier with New(Config{StateDir, Logger, Clock,
// ...}) and runs it as a core.Component (Run, Name, Describe, Collect).
// SetChannels gives it the channel specs (or Config.LoadChannels lets Run
// read them on every configuration change); the rule engine calls
// Enqueue(channel, notification) for every transition; the channel
// controller calls Test for test_on_create and Remove when a channel is
// deleted; the CLI, status page and steward_alert_history read Status and
// History(api.DeliveryFilter).
//
// # Delivery
//
// Enqueue returns once the notification is a file in the channel's queue
// (<StateDir>/channels/<name>/queue/<seq>.json, written atomically, 0600 in
// 0700 directories). Each channel has its own delivery loop, so a receiver
// that fails or hangs holds up no other channel; each attempt is cut off
// after the channel's timeout. Within a channel, notifications go out in
// the order they were queued, one at a time: the next is sent only once the
// receiver accepted the one before, so a channel that is down gets
// everything once it is back, in order. A failed attempt is retried after
// retry_min, doubling per failure up to retry_max, less up to half of it
// at random. A notification is removed from the queue as soon as it is
// acknowledged, so a restart never sends an acknowledged one again; one
// whose answer was lost (a timeout, a crash between answer and removal) is
// sent again, with the same api.DeliveryIDHeader, so a receiver can tell.
// The queue is bounded: notifications older than queue_max_age, and the
// oldest past queue_max_entries, are dropped, counted (Dropped, the
// steward_notifications_total metric), logged and recorded in the history.
// A receiver that answers 400, 413 or 422 refused the content itself: the
// notification is recorded as rejected and not retried, so it cannot block
// the queue; every other failure (connection refused, timeout, 5xx, 401,
// 404, a redirect, an SMTP error, a command's non-zero exit) is retried.
//
// Alerts the channel was told fire are remembered (state.json) until it is
// told they resolved. When the channel sets repeat_interval, a still-firing
// alert is queued again as a repeat that long after the last notification
// that carried it (a rule's own repeat_interval counts as one), only while
// the queue is empty: a channel that is behind gets its backlog first, not
// repeats on top of it.
//
// Damaged state is moved to <StateDir>/damaged and reported (logged,
// counted as Damaged, recorded in the history): a queue file that does not
// parse (only its own notification is lost), a state.json that does not
// parse (counters and firing alerts start afresh), damaged lines of the
// history file (the readable records are kept). A temporary file an
// interrupted write left behind is removed: its Enqueue never returned.
//
// # Formats
//
// webhook: Alertmanager's webhook payload, version 4 (receiver, status,
// alerts with status, labels, annotations, startsAt, endsAt, generatorURL
// and fingerprint, groupLabels, commonLabels, commonAnnotations,
// externalURL, version, groupKey, truncatedAlerts), POSTed as JSON. Labels
// carry alertname (the rule) and host unless the rule sets them; a firing
// alert's endsAt is 0001-01-01T00:00:00Z, as Alertmanager sends it;
// groupLabels are alertname and host where all alerts share them. With a
// secret_file the request carries X-Steward-Signature: sha256=<hex>, the
// HMAC-SHA256 of the exact body keyed with the file's content (see
// Signature); a receiver recomputes it over the raw body and compares with
// hmac.Equal.
//
// alertmanager: POST /api/v2/alerts (an array of postable alerts: labels,
// annotations, startsAt, endsAt, generatorURL) to every URL at once;
// delivered when at least one accepted it. While an alert fires it is
// re-sent every resend_interval (default 1m, Prometheus's resend delay)
// with endsAt four intervals ahead, as Prometheus does: Alertmanager keeps
// it firing across three lost re-sends and resolves it by itself when the
// host goes silent (use the heartbeat to page for that). A resolved alert
// is sent with its endsAt. Re-sends are not queued.
//
// email: one SMTP session per notification, with STARTTLS (required when
// tls = "starttls"), implicit TLS or, to loopback only, none; AUTH PLAIN
// or LOGIN with the password read from password_file; an optional pinned
// CA. The subject names state, rules and host ("[FIRING:1] disk_full on
// web1"); the body is plain text.
//
// slack: the incoming-webhook JSON (text and one attachment per alert),
// which Mattermost also accepts, POSTed to the URL in url_file.
//
// command: the program in args, without a shell, in its own process group
// (killed whole at the timeout), with the api.Notification JSON on stdin,
// STEWARD_CHANNEL, STEWARD_DELIVERY and STEWARD_EVENT in a minimal
// environment, and its output kept to the last 4 KiB for the error.
//
// # Secrets
//
// Passwords, HMAC keys, Authorization values and URLs that are tokens
// (Slack's, a heartbeat's url_file) are read from their files at every
// send, so rotating one needs no reload; the files must be owned by the
// agent's user and closed to others. URLs in logs, errors and the history
// are shown redacted (api.RedactURL), and net/http's errors are stripped of
// the URL they carry.
//
// # Dead-man's switch
//
// A host that dies cannot alert about itself. A channel's heartbeat
// requests a URL every interval (default 1m) while the notifier runs and
// Config.Alive reports alerting healthy; a service outside the host alerts
// when the requests stop: healthchecks.io or Dead Man's Snitch with a
// period a little over the interval, or Prometheus: a blackbox or
// pushgateway-style receiver whose last-seen timestamp feeds a rule such as
// time() - steward_heartbeat_last_seen > 180. Heartbeats are not queued (a
// late one proves nothing), they wait at most one delivery attempt of
// their channel, and their failures are logged and recorded in the history
// when they start and when they stop.
package notify
