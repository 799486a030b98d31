# nginx's and sshd's journald entries at info or more severe, and the
# application's own log file, to the central rsyslog over TLS. The receiver's
# certificate must chain to the CA file on the host (root-only): the system's
# roots are never consulted.
resource "steward_log_forward" "app" {
  host = steward_host.web.host_connection
  name = "app"

  journal = {
    units       = ["nginx.service"]
    identifiers = ["nginx", "sshd"]
    priority    = "info"
  }
  files = [
    { path = "/var/log/app/app.log", tag = "app", facility = "local3" },
  ]
  target = {
    address  = "logs.example.com:6514"
    protocol = "tls"
    ca_file  = "/etc/steward/tls/logs-ca.pem"
  }
}

# Warn when the receiver has not been reachable (the journal and the files
# hold the lines meanwhile; nothing is lost).
check "logs_flowing" {
  assert {
    condition     = steward_log_forward.app.connected
    error_message = "steward_log_forward.app: ${steward_log_forward.app.last_error}"
  }
}
