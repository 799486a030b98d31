# Import by "[user@]host[:port]/<channel name>".
terraform import steward_notification_channel.ops 'deploy@192.0.2.20/ops'
