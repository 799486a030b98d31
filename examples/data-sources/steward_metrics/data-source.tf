# Host health as a review pipeline asserts it: `terraform plan` fails the
# check (a warning, or an error with -var strict=true in CI) when the root
# file system is more than 90 % used or ssh is not running.
data "steward_metrics" "web" {
  host   = steward_host.web.host_connection
  window = "1h"
  select = {
    root_avail = { name = "node_filesystem_avail_bytes", labels = { mountpoint = "/" } }
    root_size  = { name = "node_filesystem_size_bytes", labels = { mountpoint = "/" } }
    ssh        = { name = "node_systemd_unit_state", labels = { name = "ssh.service", state = "active" } }
    load       = { name = "node_load5" }
  }
}

check "web_health" {
  assert {
    condition = (1 - data.steward_metrics.web.results["root_avail"].series[0].last /
    data.steward_metrics.web.results["root_size"].series[0].last) < 0.9
    error_message = "The root file system of web is more than 90 % used."
  }
  assert {
    condition     = data.steward_metrics.web.results["ssh"].series[0].min == 1
    error_message = "ssh.service was not active for the whole last hour."
  }
  assert {
    condition     = data.steward_metrics.web.results["load"].series[0].p95 < 8
    error_message = "The 5-minute load of web was above 8 for more than 5 % of the last hour."
  }
}
