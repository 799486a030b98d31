// Package provider is the Steward Terraform provider: one file per Terraform
// object, its test beside it, and the shared pieces in files named for them
// (connection.go, object_resource.go).
//
// # Adding a kind of managed object
//
// Every object a resource puts on a host (a backup schedule; alert rules,
// channels, profiles, firewalls next) follows one lifecycle. A new kind needs:
//
//  1. internal/api: its spec type (with ObjectName and Validate; rendered by
//     api.RenderSpec), its observed type, and an api.Kind naming its method
//     prefix and its folder under /etc/steward. Extra methods (backup.run)
//     are api.Method values beside it.
//  2. The agent: a package of its own under internal/agent (importing
//     internal/agent/core, never internal/agent) with a core.Controller
//     (Check, Apply, Observe, Remove) registered with core.RegisterKind, and
//     one line in agent.DefaultMethods (and in daemonComponents when the
//     kind has daemon work). The shared lifecycle writes the spec file,
//     audits every change and puts host_id in every status; Apply may return
//     an api.PendingChange for changes that can cut access. Tests use
//     core/coretest (a fixture host, a method call without rpc).
//  3. internal/provider: one file with the kind's model (embedding
//     objectState), its attributes and an objectKind: known, toSpec,
//     fromSpec and observe, plus the optional plan, afterConfigure,
//     configureError and importState hooks. objectResource does the rest:
//     Metadata, Schema, ModifyPlan (the spec digest as drift), CRUD, import,
//     one identity check blamed on "host", agent errors mapped by code, and a
//     missing or outdated agent planned as a re-apply with a warning.
//  4. Its acceptance test: create, import, update, a change by hand on the
//     host that the plan shows, and one plain apply that converges.
package provider
