package api

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Managed objects. Every object a resource puts on a host (a backup
// schedule today; alert rules, channels, profiles, firewalls, policies,
// secrets and certificates next) follows one lifecycle: the provider sends
// its Spec with <kind>.configure, the agent stores it as
// /etc/steward/<dir>/<name>.json and makes the host so; <kind>.status reports
// the spec as the host has it, its digest and what the kind observes live;
// <kind>.remove undoes it. A Kind ties the three method names to the spec
// and observed types, so a call with the wrong types does not compile.

// Method names one agent method and ties it to its parameter and result
// types (see client.Call).
type Method[P, R any] struct{ Name string }

// Spec is the configuration of one managed object, as the provider sends
// it and the host stores it.
type Spec interface {
	// ObjectName is the object's name within its kind: it becomes a file
	// name, so it matches ObjectNamePattern.
	ObjectName() string
	// Validate checks the spec. The provider calls it before it sends the
	// spec and the agent before it writes it.
	Validate() error
}

// RenderSpec is a spec's canonical file content, the bytes whose SHA-256
// is ObjectStatus.SpecSHA256: indented JSON and a newline. Specs are plain
// data, which always encodes.
func RenderSpec(spec Spec) []byte {
	b, _ := json.MarshalIndent(spec, "", "  ")
	return append(b, '\n')
}

// ObjectNamePattern is what every managed object's name must match: the
// name becomes a file under /etc/steward/<dir>/, so it can never be a path.
var ObjectNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateObjectName checks a name against ObjectNamePattern.
func ValidateObjectName(name string) error {
	if !ObjectNamePattern.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit", name)
	}
	return nil
}

// ObjectName names one object of a kind in a request.
type ObjectName struct {
	Name string `json:"name"`
}

// Validate checks the name.
func (n ObjectName) Validate() error { return ValidateObjectName(n.Name) }

// ObjectStatus is the result of <kind>.configure and <kind>.status.
type ObjectStatus[S Spec, O any] struct {
	// HostID is the host's /etc/machine-id, so one call also proves identity.
	HostID string `json:"host_id"`
	// Present says whether the object's spec file exists.
	Present bool `json:"present"`
	// Spec is the spec as the host has it, and SpecSHA256 the digest of its
	// file, so an edit by hand shows.
	Spec       *S     `json:"spec,omitempty"`
	SpecSHA256 string `json:"spec_sha256,omitempty"`
	// Observed is what the kind reads live from the host.
	Observed O `json:"observed"`
	// Pending is set when configure applied a change that reverts itself
	// unless confirmed (kinds that can cut access).
	Pending *PendingChange `json:"pending,omitempty"`
}

// PendingChange is a change the agent applied with an automatic revert:
// unless the provider proves access still works with a fresh login and
// confirms it by ID before RevertAt, the agent puts the previous state back.
type PendingChange struct {
	ID       string    `json:"id"`
	RevertAt time.Time `json:"revert_at"`
	Detail   string    `json:"detail,omitempty"` // What changed, for the operator.
}

// Removed is the result of <kind>.remove.
type Removed struct {
	Existed bool `json:"existed"` // Whether there was anything to remove.
}

// Kind describes one kind of managed object.
type Kind[S Spec, O any] struct {
	Name string // Method prefix: "backup" gives backup.configure, backup.remove, backup.status.
	Dir  string // Folder under /etc/steward holding one <name>.json per object.
}

// Configure writes (or replaces) an object's spec and makes the host so.
func (k Kind[S, O]) Configure() Method[S, ObjectStatus[S, O]] {
	return Method[S, ObjectStatus[S, O]]{Name: k.Name + ".configure"}
}

// Remove undoes an object and removes its spec file.
func (k Kind[S, O]) Remove() Method[ObjectName, Removed] {
	return Method[ObjectName, Removed]{Name: k.Name + ".remove"}
}

// Status reports an object as the host has it.
func (k Kind[S, O]) Status() Method[ObjectName, ObjectStatus[S, O]] {
	return Method[ObjectName, ObjectStatus[S, O]]{Name: k.Name + ".status"}
}
