# The baseline, with root keeping key logins (the CIS default, "no", would
# lock out an operator who logs in as root) and no banner.
resource "steward_hardening_profile" "base" {
  host  = steward_host.web.host_connection
  name  = "base"
  level = "baseline"

  controls = {
    "sshd.permit_root_login" = { value = "prohibit-password", reason = "break-glass root login with keys from the vault" }
    "sshd.banner"            = { enabled = false, reason = "no legal banner required on this fleet" }
  }
}
