# Import by "[user@]host[:port]/<profile name>"; authentication and host-key
# trust come from the provider's default_connection.
terraform import steward_hardening_profile.base 'deploy@192.0.2.25/base'
