# Import by "[user@]host[:port]/<firewall name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_firewall.main 'deploy@192.0.2.25/main'
