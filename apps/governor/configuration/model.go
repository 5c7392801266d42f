// Package configuration is the Runtime Governor's domain: configurations of Dapr bindings aimed at one
// runtime or at every runtime whose Director labels match a selector, the history of their revisions,
// the effective configuration of a runtime (all configurations aimed at it, merged) and the status the
// runtime's agent reports after applying it.
package configuration

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// NameValue is one metadata item of a binding.
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Binding is one Dapr binding component the runtime agent writes into the runtime.
type Binding struct {
	// Name is the component's name: a lower-case DNS label.
	Name    string `json:"name"`
	Type    string `json:"type"`
	Version string `json:"version"`
	// Metadata and SecretMetadata are kept sorted by name. Secret values never leave the Governor except
	// to the runtime itself (see Effective).
	Metadata       []NameValue `json:"metadata,omitempty"`
	SecretMetadata []NameValue `json:"secretMetadata,omitempty"`
	// Scopes are the app ids of the runtime the component is limited to; empty means every app.
	Scopes []string `json:"scopes,omitempty"`
}

// LabelMatch requires a runtime label: the label's value equals Value, or, for a list, contains it.
// Numbers and booleans compare in their JSON form ("3", "true").
type LabelMatch struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Target is what a configuration is aimed at: one runtime, or the runtimes matching all of LabelSelector.
// Exactly one of the two is set.
type Target struct {
	RuntimeID     string       `json:"runtimeID,omitempty"`
	LabelSelector []LabelMatch `json:"labelSelector,omitempty"`
}

// Matches reports whether the runtime with id and labels is aimed at.
func (t Target) Matches(runtimeID string, labels map[string]any) bool {
	if t.RuntimeID != "" {
		return t.RuntimeID == runtimeID
	}
	if len(t.LabelSelector) == 0 {
		return false
	}
	for _, m := range t.LabelSelector {
		if !labelHas(labels[m.Key], m.Value) {
			return false
		}
	}
	return true
}

// labelHas reports whether a label value (as decoded from JSON) is, or contains, want.
func labelHas(v any, want string) bool {
	if list, ok := v.([]any); ok {
		return slices.ContainsFunc(list, func(e any) bool { return scalarIs(e, want) })
	}
	return scalarIs(v, want)
}

func scalarIs(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64) == want
	case json.Number:
		return x.String() == want
	case bool:
		return strconv.FormatBool(x) == want
	}
	return false
}

// Configuration is one revision of a configuration. The stored configuration is its latest revision;
// earlier ones are kept as history.
type Configuration struct {
	ID       string `json:"id"`
	Revision int    `json:"revision"`
	// Deleted marks the revision that deleted the configuration (a tombstone, with no bindings).
	Deleted bool `json:"deleted,omitempty"`
	// RolledBackFrom is the revision a rollback restored.
	RolledBackFrom int       `json:"rolledBackFrom,omitempty"`
	Target         Target    `json:"target"`
	Bindings       []Binding `json:"bindings"`
	CreatedAt      time.Time `json:"createdAt"`
	RevisedAt      time.Time `json:"revisedAt"`
	// RevisedBy is the subject of the caller who made the revision.
	RevisedBy string `json:"revisedBy,omitempty"`
	// Strategy, on a label-selector configuration, rolls its changes out in steps (see Rollout).
	Strategy *Strategy `json:"strategy,omitempty"`
	// Rollout is the state of rolling this revision out. It belongs to the stored configuration only,
	// not to the revision: the history does not keep it.
	Rollout *Rollout `json:"rollout,omitempty"`
	// DriftPolicy tells the agents what to do when a runtime's components drift from this
	// configuration: DriftCorrect (also when empty, as stored before the field existed) or DriftReport.
	DriftPolicy string `json:"driftPolicy,omitempty"`
	// AutoRollback, on a configuration for one runtime, returns it to the revision the runtime last
	// applied when its agent reports a newer one FAILED.
	AutoRollback bool `json:"autoRollback,omitempty"`
	// RollbackReason says why the Governor made this revision by an automatic rollback.
	RollbackReason string `json:"rollbackReason,omitempty"`
}

// Drift policies.
const (
	DriftCorrect = "CORRECT"
	DriftReport  = "REPORT"
)

// Policy returns the configuration's drift policy, DriftCorrect when none was given.
func (c *Configuration) Policy() string {
	if c.DriftPolicy == DriftReport {
		return DriftReport
	}
	return DriftCorrect
}

// redacted returns a deep copy of c with every secret value blanked, for answers to anyone but the
// runtime itself.
func (c *Configuration) redacted() *Configuration {
	out := *c
	out.Bindings = redactBindings(c.Bindings)
	out.Target.LabelSelector = slices.Clone(c.Target.LabelSelector)
	out.Rollout = c.Rollout.clone()
	return &out
}

func redactBindings(bs []Binding) []Binding {
	out := make([]Binding, len(bs))
	for i, b := range bs {
		out[i] = b.redacted()
	}
	return out
}

func (b Binding) redacted() Binding {
	b.Metadata = slices.Clone(b.Metadata)
	b.Scopes = slices.Clone(b.Scopes)
	secrets := make([]NameValue, len(b.SecretMetadata))
	for i, s := range b.SecretMetadata {
		secrets[i] = NameValue{Name: s.Name}
	}
	b.SecretMetadata = secrets
	return b
}

// Input is what a caller writes: the whole configuration, replacing the previous revision.
type Input struct {
	RuntimeID     string
	LabelSelector []LabelMatch
	Bindings      []BindingInput
	// Rollout, for a label-selector configuration, releases this and later changes in steps; nil sends
	// each change to every runtime at once.
	Rollout *Strategy
	// DriftPolicy is DriftCorrect, DriftReport, or empty for DriftCorrect.
	DriftPolicy string
	// AutoRollback, for a configuration aimed at one runtime only (see Configuration.AutoRollback).
	AutoRollback bool
}

// BindingInput is one binding as written.
type BindingInput struct {
	Name           string
	Type           string
	Metadata       []NameValue
	SecretMetadata []SecretInput
	Scopes         []string
}

// SecretInput is a secret metadata item as written. A nil Value on update keeps the value stored under
// the same binding and item name, because callers cannot read secret values back.
type SecretInput struct {
	Name  string
	Value *string
}

// Status is the last report of a runtime's agent about applying its effective configuration.
type Status struct {
	RuntimeID  string    `json:"runtimeID"`
	Revision   int       `json:"revision"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason,omitempty"`
	ReportedAt time.Time `json:"reportedAt"`
	ReportedBy string    `json:"reportedBy,omitempty"`
	// Sources are the configuration revisions the reported effective revision was made of, as far as
	// the Governor knew at the report; a rollout reads from them which revision a runtime applied.
	Sources []Source `json:"sources,omitempty"`
	// Drift is what the agent found different from what it applied: with DRIFTED, what differs now; with
	// APPLIED and DriftCorrected, what it just restored.
	Drift []DriftItem `json:"drift,omitempty"`
	// DriftCorrected, on an APPLIED report, says the agent restored the drift in Drift.
	DriftCorrected bool `json:"driftCorrected,omitempty"`

	// Kept across reports (the rest is the last report only):
	// LastApplied is the last report APPLIED for the runtime, nil before the first.
	LastApplied *AppliedRevision `json:"lastApplied,omitempty"`
	// LastDrift is the last drift the agent reported and what became of it, nil before the first.
	LastDrift *Drift `json:"lastDrift,omitempty"`
	// LastAutoRollback is the last automatic rollback a FAILED report of this runtime caused.
	LastAutoRollback *AutoRollback `json:"lastAutoRollback,omitempty"`
}

// Values of Status.Status.
const (
	StatusApplied = "APPLIED"
	StatusFailed  = "FAILED"
	StatusDrifted = "DRIFTED"
)

// Page is one page of configurations (or of one configuration's revisions).
type Page struct {
	Items       []*Configuration
	StartCursor string
	EndCursor   string
	HasNextPage bool
	TotalCount  int
}
