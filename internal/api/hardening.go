package api

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// HardeningProfile is /etc/steward/hardening/<name>.json, the spec of
// steward_hardening_profile: a level of the agent's control catalogue,
// with controls switched off or given another value by id.
type HardeningProfile struct {
	Name string `json:"name"`
	// Level is "baseline" (the automated CIS Debian 12 Level 1 Server
	// controls the catalogue has) or "strict" (baseline and more).
	Level string `json:"level"`
	// Controls override the level's controls by id.
	Controls map[string]ControlSetting `json:"controls,omitempty"`
	// ConfirmTimeout bounds the wait for the fresh login that confirms a
	// change to sshd; empty is DefaultConfirmTimeout.
	ConfirmTimeout string `json:"confirm_timeout,omitempty"`
	// CustomControls are the profile's own controls, reported after the
	// catalogue's.
	CustomControls []CustomControl `json:"custom_controls,omitempty"`
}

// ControlSetting overrides one control.
type ControlSetting struct {
	// Enabled false switches the control off; nil keeps the level's choice.
	Enabled *bool `json:"enabled,omitempty"`
	// Value replaces the control's expected value (for controls that have one).
	Value string `json:"value,omitempty"`
	// Reason is recorded in the compliance report; required for an override.
	Reason string `json:"reason,omitempty"`
}

// Control statuses.
const (
	ControlPass          = "pass"
	ControlFail          = "fail"
	ControlNotApplicable = "not_applicable"
	ControlError         = "error"
	ControlOff           = "off" // switched off by the profile
)

// ControlResult is one control as the host has it.
type ControlResult struct {
	ID       string   `json:"id"`
	Title    string   `json:"title"`
	Family   string   `json:"family"`
	Refs     []string `json:"refs,omitempty"`
	Status   string   `json:"status"`
	Expected string   `json:"expected,omitempty"`
	// Actual is the effective value read live, and Source where it comes
	// from (a file and line, "sshd -T", a mode and owner).
	Actual string `json:"actual,omitempty"`
	Source string `json:"source,omitempty"`
	// Reason explains not_applicable, error, off and overridden values.
	Reason string `json:"reason,omitempty"`
}

// HardeningObserved is every control of the profile, in catalogue order.
type HardeningObserved struct {
	Controls []ControlResult `json:"controls"`
}

// HardeningKind is the managed-object kind of steward_hardening_profile.
var HardeningKind = Kind[HardeningProfile, HardeningObserved]{Name: "hardening", Dir: "hardening"}

// CodeUnknownControl answers a profile naming a control the agent does not
// have; CodeControlConflict one that disagrees with another profile.
const (
	CodeUnknownControl  = "unknown_control"
	CodeControlConflict = "control_conflict"
)

var controlIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// Validate checks the spec's shape; the agent checks ids and values
// against its catalogue.
func (p HardeningProfile) Validate() error {
	if err := ValidateObjectName(p.Name); err != nil {
		return err
	}
	if p.Level != "baseline" && p.Level != "strict" {
		return fmt.Errorf("level %q: want \"baseline\" or \"strict\"", p.Level)
	}
	ids := make([]string, 0, len(p.Controls))
	for id := range p.Controls {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := p.Controls[id]
		if !controlIDPattern.MatchString(id) {
			return fmt.Errorf("controls[%q]: want a control id such as \"sshd.permit_root_login\"", id)
		}
		if strings.TrimSpace(c.Reason) == "" {
			return fmt.Errorf("controls[%q].reason: an override needs a reason, for the compliance report", id)
		}
		if strings.ContainsAny(c.Value, "\n\r") || len(c.Value) > 256 {
			return fmt.Errorf("controls[%q].value: one line of at most 256 characters", id)
		}
	}
	if _, err := ParseConfirmTimeout(p.ConfirmTimeout); err != nil {
		return err
	}
	if err := validateCustomControls(p.CustomControls); err != nil {
		return err
	}
	return p.CheckControls()
}

// ObjectName is the object's name.
func (p HardeningProfile) ObjectName() string { return p.Name }

// ComplianceReport reads every control of the host's hardening profiles
// live (steward_compliance, `steward-agent compliance`).
var ComplianceReport = Method[ComplianceQuery, Compliance]{Name: "compliance.report"}

// ComplianceQuery selects one profile; empty reports them all.
type ComplianceQuery struct {
	Profile string `json:"profile,omitempty"`
}

// Validate checks the profile name.
func (q ComplianceQuery) Validate() error {
	if q.Profile == "" {
		return nil
	}
	return ValidateObjectName(q.Profile)
}

// Compliance is the report. Score is the share of the controls that were
// checked (passed, failed or in error) that passed, in percent;
// not_applicable and off are counted apart, never as passed.
type Compliance struct {
	HostID        string              `json:"host_id"`
	Controls      []ComplianceControl `json:"controls"`
	Passed        int                 `json:"passed"`
	Failed        int                 `json:"failed"`
	Errors        int                 `json:"errors"`
	NotApplicable int                 `json:"not_applicable"`
	Off           int                 `json:"off"`
	Score         float64             `json:"score"`
}

// ComplianceControl is one control of one profile.
type ComplianceControl struct {
	Profile string `json:"profile"`
	ControlResult
}

// Tally counts the controls by status and computes the score.
func (c *Compliance) Tally() {
	c.Passed, c.Failed, c.Errors, c.NotApplicable, c.Off = 0, 0, 0, 0, 0
	for _, r := range c.Controls {
		switch r.Status {
		case ControlPass:
			c.Passed++
		case ControlFail:
			c.Failed++
		case ControlError:
			c.Errors++
		case ControlNotApplicable:
			c.NotApplicable++
		case ControlOff:
			c.Off++
		}
	}
	c.Score = 0
	if n := c.Passed + c.Failed + c.Errors; n > 0 {
		c.Score = float64(c.Passed) * 100 / float64(n)
	}
}
