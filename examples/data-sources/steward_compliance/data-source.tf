# The compliance report of a host, read live at every plan. The check block
# makes `terraform plan` in a review pipeline report (and, with
# -detailed-exitcode or a policy on check results, fail on) any control
# that fails, naming it and what the host has.
data "steward_compliance" "web" {
  host = steward_host.web.host_connection
}

check "hardening" {
  assert {
    condition = data.steward_compliance.web.failed == 0 && data.steward_compliance.web.errors == 0
    error_message = join("\n", [
      for c in data.steward_compliance.web.controls :
      "${c.id} (${join(", ", c.refs)}): ${c.status}: want ${c.expected}, host has ${c.actual} (${c.source}) ${c.reason}"
      if c.status == "fail" || c.status == "error"
    ])
  }
}

output "hardening_score" {
  value = "${data.steward_compliance.web.score}% (${data.steward_compliance.web.not_applicable} not applicable, ${data.steward_compliance.web.off} off)"
}
