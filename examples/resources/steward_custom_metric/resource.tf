# Mails waiting in the Postfix queue, as the gauge steward_custom_mail_queue on
# the agent's /metrics and in the host's history. The program runs every
# collection interval as root, without a shell: give its absolute path and its
# arguments as a list.
resource "steward_custom_metric" "mail_queue" {
  host    = steward_host.mx.host_connection
  name    = "mail_queue"
  command = ["/usr/local/bin/mail-queue-depth", "--queue", "deferred"]
  timeout = "2s"
  help    = "Mails in Postfix's deferred queue."
}

# A program may also print Prometheus text format: every family it prints is
# served as it is (one that a built-in collector already provides is dropped).
resource "steward_custom_metric" "certs" {
  host    = steward_host.mx.host_connection
  name    = "cert_expiry"
  command = ["/usr/local/bin/cert-expiry", "/etc/ssl/mx.pem"]
}

# Warn when the command stopped working (right after the first apply the
# daemon has not run it yet: last_run_at is empty then).
check "mail_queue_collected" {
  assert {
    condition     = steward_custom_metric.mail_queue.last_run_at == "" || steward_custom_metric.mail_queue.last_run_ok
    error_message = "steward_custom_metric.mail_queue: ${steward_custom_metric.mail_queue.last_error}"
  }
}
