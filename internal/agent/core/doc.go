// Package core is what every feature of the agent shares: the host paths
// (Paths), the dependencies a method handler gets (Deps, Handler), the
// managed-object lifecycle (Controller, RegisterKind: the spec files under
// /etc/steward/<kind>/, write-if-changed, the audit entry for every change,
// host_id in every status), the audit record and events, and the daemon's
// components and their supervisor (Component, Runtime, Supervisor).
//
// A feature package (backup/schedule today; monitoring, alerting and
// security next) imports core and nothing of package agent, which imports
// the features to dispatch their methods and run their components.
package core
