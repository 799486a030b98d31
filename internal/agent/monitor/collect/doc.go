// Package collect is the agent's metric collectors: a registry of small
// collectors (one Update method each, in the manner of node_exporter)
// that one Gather runs concurrently, each bounded by its timeout.
//
// Host metrics carry node_exporter's names, labels and units, so its
// dashboards and alert rules work unchanged: cpu (node_cpu_seconds_total,
// and steward_cpu_utilisation_ratio from the change since the previous
// collection), meminfo (node_memory_*), filesystem (node_filesystem_*,
// pseudo file systems and kernel mount points left out as node_exporter
// does), diskstats (node_disk_*, whole disks only), loadavg (node_load1,
// node_processes_threads, …), netdev (node_network_*), stat
// (node_boot_time_seconds, node_procs_running, …), time, systemd
// (node_systemd_unit_state for the watched units, and
// steward_systemd_unit_load_state, whose not-found series says a watched
// unit does not exist) and textfile. The agent's own process_* metrics are
// the daemon registry's, beside the collections on /metrics.
// Each collector's outcome is steward_collector_success{collector} and
// steward_collector_duration_seconds{collector}, and Set.Status.
//
// Parsing is pure functions over the bytes of /proc files, tested on
// copies in testdata/; Config's roots point the collectors at such a tree.
//
// # Textfiles
//
// Every *.prom file in Config.TextfileDir is read in node_exporter's
// format, at most MaxTextfileSize bytes. node_textfile_mtime_seconds{file}
// is each good file's mtime, and node_textfile_scrape_error is 1 when
// any file could not be read or parsed; such a file contributes nothing
// (all or nothing per file), the textfile collector reports it with the
// offending line as its error, and the other files are still served.
//
// A file older than its freshness counts as no data: its samples are
// left out, steward_textfile_stale{file} is 1 and its mtime is still
// exported, so a cron job that stopped writing is noticed instead of
// serving its last values forever (node_exporter#713). The freshness is
// Config.TextfileMaxAge (DefaultTextfileMaxAge, 15 minutes) unless the file
// declares its own in a comment line, which Prometheus parsers ignore:
//
//	# steward_max_age 26h
//
// The value is a Go duration ("90s", "15m", "26h"); 0 means the file
// never goes stale (facts written once at boot). A file written by a
// daily job should declare a little more than a day.
//
// # Custom metric commands
//
// A Command (the steward_custom_metric resource) is run every collection
// as its own collector, custom_<name>: its argument list is executed
// without a shell, with standard input from /dev/null, an environment of
// only a fixed PATH and the C locale, in its own process group, which is
// killed at the command's timeout. At most MaxCommandOutput (64 KiB) of
// standard output is read; a command that prints more is killed and
// fails. The output is either one number, which becomes the gauge
// steward_custom_<name>, or Prometheus text format, served as it is.
// Output that is neither is the collector's error, quoting the offending
// line; whatever the failure (exit status, timeout, size, syntax, a series
// given twice, a timestamp) none of that run's samples are served.
//
// # Family names
//
// Collectors are ordered: built-in, then those passed to New, then
// textfile, then the commands. A family name belongs to the first
// collector that provides it; a later collector's family of the same name
// is dropped and reported as that collector's error, so a textfile or a
// command can never replace or corrupt a host metric.
package collect
