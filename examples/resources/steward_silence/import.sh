# Import by "[user@]host[:port]/<silence name>".
terraform import steward_silence.sunday_maintenance 'deploy@192.0.2.20/sunday-maintenance'
