# Import by [user@]host[:port]; authentication and host-key trust come from
# the provider's default_connection.
terraform import steward_host.web 'deploy@192.0.2.10:22'
