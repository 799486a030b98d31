provider "steward" {
  # Merged under every resource's and data source's own `host` connection.
  default_connection {
    user             = "deploy"
    private_key_file = "~/.ssh/id_ed25519"
    sudo             = true
    # Host keys are always verified: pin each host's key on the resource,
    # or trust a known_hosts file (hashed entries and @cert-authority work).
    known_hosts_file = "~/.ssh/known_hosts"
    timeout          = "60s"
  }
}
