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

  # A control of your own: what the check prints on a host that complies,
  # and the command that makes it so (run only when the check fails).
  custom_control = [
    {
      id       = "custom.issue_net_mode"
      title    = "/etc/issue.net is 0644 root:root"
      check    = "stat -c '%a %U:%G' /etc/issue.net"
      expected = "644 root:root"
      apply    = "chown root:root /etc/issue.net && chmod 0644 /etc/issue.net"
      refs     = ["CIS 1.6.6"]
    },
  ]
}
