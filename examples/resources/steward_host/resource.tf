# Deploy the Steward agent to a host, with the packages it needs.
resource "steward_host" "web" {
  host = {
    host     = "192.0.2.10"
    user     = "deploy"
    sudo     = true
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBshZnuy5r7RdepkzcgYA/ururEmk1wB2JazcemNx4pw"
  }

  packages = ["nginx", "postgresql-client"]

  # The seed's extension points: run in order, output shown when one fails.
  pre_deploy  = ["test -d /srv || mkdir -p /srv"]
  post_deploy = ["systemctl reload nginx"]

  health_timeout = "90s"
}

# Other Steward resources reach the host through its pinned connection.
data "steward_host_facts" "web" {
  host = steward_host.web.host_connection
}
