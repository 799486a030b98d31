# Import by "[user@]host[:port]/<metric name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_custom_metric.mail_queue 'deploy@192.0.2.25/mail_queue'
