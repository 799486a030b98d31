# Drop what is not asked for: SSH from the office and the bastion network,
# the web ports from anywhere, new connections to the API rate limited.
# Changes are confirmed by a fresh SSH login; if that login fails within
# confirm_timeout, the host puts the previous table back by itself.
resource "steward_firewall" "main" {
  host = steward_host.web.host_connection
  name = "main"

  input_policy = "drop"
  log_drops    = true
  rule = [
    { ports = ["22"], sources = ["198.51.100.0/24", "2001:db8:42::/48"], comment = "ssh: office and bastions" },
    { ports = ["80", "443"], comment = "web" },
    { ports = ["8443"], rate_limit = "20/second", comment = "api" },
    { protocol = "udp", ports = ["51820"], comment = "wireguard" },
  ]
}
