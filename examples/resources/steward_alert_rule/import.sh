# Import by "[user@]host[:port]/<rule name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_alert_rule.disk_full 'deploy@192.0.2.20/disk-full'
