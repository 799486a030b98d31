// Package alerting is the daemon's alerting: it joins the rule engine
// (package alert) and the notifier (package notify) to the monitoring
// component, serves what they hold over the daemon's socket, and is the
// agent side of steward_alert_rule, steward_notification_channel,
// steward_silence and steward_alert_history.
//
// # In the daemon
//
//	al, err := alerting.New(deps, m, hist)
//	monitor.New(deps, m, monitor.Options{After: []monitor.AfterCollect{al.AfterCollect}, Alerts: al.PageAlerts, ...})
//	components: al (the "alerting" component: rules and silences, mute requests), al.Notifier() ("notifier")
//
// After every collection AfterCollect evaluates the rules against the
// samples just collected and the history (Source), enqueues every
// notification, then saves the engine's state, in that order, so a crash
// in between sends a notification twice rather than never. Run reads the
// rules (/etc/steward/alert_rules/*.json) and silences
// (/etc/steward/silences/*.json) when it starts and whenever the
// configuration changes; the notifier reads the channels
// (/etc/steward/channels/*.json) likewise. The engine's state is under
// <StateDir>/alerts, the notifier's under <StateDir>/notify.
//
// # Mute during Steward's changes
//
// The install and rollback methods call core.RequestMute right before they
// restart the daemon; the request is a file under the state directory,
// which the Alerting component takes when it starts and before every
// evaluation, and hands to Engine.Mute.
//
// # Routes (daemon socket and listener)
//
//	GET  /api/v1/alerts                      api.AlertsStatus
//	GET  /api/v1/alerts/rules/{name}         api.AlertRuleObserved
//	GET  /api/v1/alerts/silences/{name}      api.SilenceObserved (404 when not loaded)
//	GET  /api/v1/alerts/channels             map of channel name to api.NotificationChannelObserved
//	POST /api/v1/alerts/channels/{name}/test {} or an api.Error (socket only)
//	DELETE /api/v1/alerts/channels/{name}    {} (socket only): the channel's queue and state deleted
//	POST /api/v1/alerts/history              api.AlertHistoryParams → api.AlertHistoryResult
//
// Routes that act (a test send, removing a queue) answer on the unix socket
// only, which only root can reach, never on the TCP listener.
package alerting
