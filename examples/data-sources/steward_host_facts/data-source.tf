# Read a host's facts before deploying to it. No agent is needed.
data "steward_host_facts" "web" {
  host = {
    host     = "192.0.2.10"
    user     = "deploy"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBshZnuy5r7RdepkzcgYA/ururEmk1wB2JazcemNx4pw"
  }
}

# Through two bastions, each with its own host key.
data "steward_host_facts" "db" {
  host = {
    host     = "10.0.3.7"
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJLOqz3kmTeuW/DJcy7pdC0m5stsMfZ4FNS69D6VUbMf"
    bastions = [
      { host = "bastion.example.com", host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAGI+g9uBZuSzZW2aWI1wg4mXW/Y2USI9KvzVfUetyDH" },
      { host = "10.0.3.1", known_hosts_file = "~/.ssh/known_hosts_internal" },
    ]
  }
}

output "web_os" {
  value = "${data.steward_host_facts.web.os_name} on ${data.steward_host_facts.web.architecture}"
}
