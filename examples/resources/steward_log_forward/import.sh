# Import by "[user@]host[:port]/<forwarder name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_log_forward.app 'deploy@192.0.2.25/app'
