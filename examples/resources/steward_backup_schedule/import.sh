# Import by "[user@]host[:port]/<schedule name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_backup_schedule.db 'deploy@192.0.2.20/etc-and-postgres'
