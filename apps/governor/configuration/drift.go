package configuration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Drift is what a runtime's agent finds when the runtime no longer runs what it applied: a component
// file or resource edited or removed, a secret changed, a component with the agent's marks that the
// revision does not have. The agent reports it (DRIFTED) and, unless the effective configuration's drift
// policy is DriftReport, restores what it applied and reports APPLIED with the drift marked corrected.

// TopicDrift announces every drift a runtime's agent reports, and its end (corrected by the agent, or
// gone by itself).
const TopicDrift = "configuration.drift"

// TopicAutoRollback announces every automatic rollback of a configuration for one runtime.
const TopicAutoRollback = "configuration.autorollback"

// Kinds of difference in a DriftItem.
const (
	DriftMissing    = "MISSING"    // applied, and gone now
	DriftModified   = "MODIFIED"   // there, with other content than applied
	DriftUnexpected = "UNEXPECTED" // carries the agent's marks, and the revision does not have it
)

// What a DriftItem is about.
const (
	DriftComponent = "COMPONENT" // the component file or resource
	DriftSecret    = "SECRET"    // the secret values the agent wrote for it
)

// DriftItem is one difference: which component (or the secret of which component) and how it differs.
// It never carries values.
type DriftItem struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	// Resource is what differs: DriftComponent or DriftSecret.
	Resource string `json:"resource"`
}

// Drift is the last drift reported for a runtime and what became of it.
type Drift struct {
	// Revision is the effective revision the runtime had applied when it drifted.
	Revision   int         `json:"revision"`
	Items      []DriftItem `json:"items"`
	DetectedAt time.Time   `json:"detectedAt"`
	// ResolvedAt is when the runtime reported APPLIED again; Corrected says whether the agent restored
	// it (else someone did, or the drift went away by itself).
	ResolvedAt *time.Time `json:"resolvedAt,omitempty"`
	Corrected  bool       `json:"corrected,omitempty"`
}

// AppliedRevision is a revision a runtime reported APPLIED and what it was made of.
type AppliedRevision struct {
	Revision int       `json:"revision"`
	Sources  []Source  `json:"sources,omitempty"`
	At       time.Time `json:"at"`
}

// AutoRollback records an automatic rollback of a configuration for one runtime.
type AutoRollback struct {
	ConfigurationID string `json:"configurationID"`
	RuntimeID       string `json:"runtimeID"`
	// FailedRevision is the configuration's revision the runtime reported FAILED; RestoredRevision the
	// one it last applied, which NewRevision copies.
	FailedRevision   int       `json:"failedRevision"`
	RestoredRevision int       `json:"restoredRevision"`
	NewRevision      int       `json:"newRevision"`
	Reason           string    `json:"reason"`
	At               time.Time `json:"at"`
}

// DriftEvent is the data of a configuration.drift event.
type DriftEvent struct {
	Tenant    string `json:"tenant"`
	RuntimeID string `json:"runtimeID"`
	Revision  int    `json:"revision"`
	// What happened: detected, corrected (restored by the agent) or resolved (gone otherwise).
	What  string      `json:"what"`
	Items []DriftItem `json:"items"`
	At    time.Time   `json:"at"`
}

// AutoRollbackEvent is the data of a configuration.autorollback event.
type AutoRollbackEvent struct {
	Tenant string `json:"tenant"`
	AutoRollback
}

// Limits of a drift report: what differs is a list of names, never values.
const (
	maxDriftItems     = 200
	maxComponentBytes = 253
)

func checkDrift(status string, items []DriftItem, corrected bool, p *problems) {
	switch {
	case status == StatusDrifted && len(items) == 0:
		p.add("drift: a DRIFTED report says what differs")
	case status == StatusFailed && len(items) > 0:
		p.add("drift: only with DRIFTED, or with APPLIED after a correction")
	case corrected && status != StatusApplied:
		p.add("driftCorrected: only with APPLIED")
	case corrected && len(items) == 0:
		p.add("driftCorrected: say what was corrected in drift")
	}
	if len(items) > maxDriftItems {
		p.add("drift: at most %d items", maxDriftItems)
	}
	for _, it := range items[:min(len(items), maxDriftItems)] {
		if it.Component == "" || len(it.Component) > maxComponentBytes || !validComponentName(it.Component) {
			p.add("drift: component %q: 1 to %d letters, digits, '.', '_' or '-'", it.Component, maxComponentBytes)
		}
		if !slices.Contains([]string{DriftMissing, DriftModified, DriftUnexpected}, it.Kind) {
			p.add("drift: kind %q: %s, %s or %s", it.Kind, DriftMissing, DriftModified, DriftUnexpected)
		}
		if it.Resource != DriftComponent && it.Resource != DriftSecret {
			p.add("drift: resource %q: %s or %s", it.Resource, DriftComponent, DriftSecret)
		}
	}
}

func validComponentName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// followDrift carries what is kept across reports from prev into st and returns the drift event st
// makes, if any.
func followDrift(tenant string, prev, st *Status) *DriftEvent {
	if prev != nil {
		st.LastApplied, st.LastDrift, st.LastAutoRollback = prev.LastApplied, prev.LastDrift, prev.LastAutoRollback
	}
	ev := &DriftEvent{Tenant: tenant, RuntimeID: st.RuntimeID, Revision: st.Revision, At: st.ReportedAt}
	open := st.LastDrift != nil && st.LastDrift.ResolvedAt == nil
	switch st.Status {
	case StatusApplied:
		st.LastApplied = &AppliedRevision{Revision: st.Revision, Sources: st.Sources, At: st.ReportedAt}
		switch {
		case st.DriftCorrected && !open:
			// The DRIFTED report was lost (or never made): the correction still is news.
			at := st.ReportedAt
			st.LastDrift = &Drift{Revision: st.Revision, Items: st.Drift, DetectedAt: at, ResolvedAt: &at, Corrected: true}
		case open:
			d := *st.LastDrift
			at := st.ReportedAt
			d.ResolvedAt, d.Corrected = &at, st.DriftCorrected
			st.LastDrift = &d
		default:
			return nil
		}
		ev.What, ev.Items = "resolved", st.LastDrift.Items
		if st.DriftCorrected {
			ev.What, ev.Items = "corrected", st.Drift
		}
		return ev
	case StatusDrifted:
		d := &Drift{Revision: st.Revision, Items: st.Drift, DetectedAt: st.ReportedAt}
		if open && st.LastDrift.Revision == st.Revision {
			d.DetectedAt = st.LastDrift.DetectedAt // the same drift, grown or shrunk: it began then
		}
		st.LastDrift = d
		ev.What, ev.Items = "detected", st.Drift
		return ev
	}
	return nil
}

// autoRollbackSubject is who the Governor's automatic rollbacks are recorded as.
const autoRollbackSubject = "governor-autorollback"

var errNotRolledBack = errors.New("no automatic rollback")

// autoRollback returns the runtime's own configuration to the revision the runtime last applied, when
// it asks for that (AutoRollback) and st is a FAILED report about its latest revision. It returns what
// it did, or nil. The rollback itself goes out at once like any rollback; a revision made by an
// automatic rollback is never rolled back automatically again, so a runtime that fails it too does not
// make the Governor loop.
func (s *Service) autoRollback(ctx context.Context, st *Status) (*AutoRollback, error) {
	if st.Status != StatusFailed {
		return nil, nil
	}
	own, err := s.runtimeConfiguration(ctx, st.RuntimeID)
	if err != nil || own == nil || own.Deleted || !own.AutoRollback {
		return nil, err
	}
	failed := sourceRevision(st.Sources, own.ID)
	if failed != own.Revision || (own.RolledBackFrom > 0 && own.RevisedBy == autoRollbackSubject) {
		return nil, nil // about an older revision, or about the automatic rollback itself
	}
	var good int
	if st.LastApplied != nil {
		good = sourceRevision(st.LastApplied.Sources, own.ID)
	}
	if good <= 0 || good >= failed {
		return nil, nil // the runtime never applied an earlier revision of it: nothing to return to
	}
	reason := fmt.Sprintf("runtime %s reported revision %d FAILED", st.RuntimeID, failed)
	if st.Reason != "" {
		reason += ": " + truncate(st.Reason, 500)
	}
	reason += fmt.Sprintf("; back to revision %d, the last it applied", good)
	auto := &AutoRollback{ConfigurationID: own.ID, RuntimeID: st.RuntimeID, FailedRevision: failed, RestoredRevision: good, Reason: reason}
	id, _ := identity.FromContext(ctx)
	sctx := identity.NewContext(ctx, identity.Identity{Tenant: id.Tenant, Subject: autoRollbackSubject, ConsumerType: identity.ConsumerService})
	c, err := s.rollback(sctx, own.ID, good, auto)
	if errors.Is(err, errNotRolledBack) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("automatic rollback of configuration %s: %w", own.ID, err)
	}
	auto.NewRevision, auto.At = c.Revision, c.RevisedAt
	s.log.InfoContext(ctx, "configuration rolled back automatically", "configuration", own.ID, "runtime", st.RuntimeID,
		"failedRevision", failed, "restoredRevision", good, "newRevision", c.Revision)
	return auto, nil
}

// autoRollbackEvents are written with the rollback revision: its event, and an audit record of its own,
// since the Governor made the change, not the caller whose report caused it.
func autoRollbackEvents(tenant string, a AutoRollback) []registry.Event {
	rec := audit.Record{
		ID: uuid.NewString(), Time: a.At, App: "governor", Tenant: tenant, Subject: autoRollbackSubject,
		ConsumerType: identity.ConsumerService, Operation: "autoRollbackConfiguration",
		Fields: []string{"configuration:" + a.ConfigurationID, "runtime:" + a.RuntimeID,
			fmt.Sprintf("revision:%d->%d", a.FailedRevision, a.RestoredRevision)},
		Outcome: "success",
	}
	return []registry.Event{
		{Topic: TopicAutoRollback, Data: AutoRollbackEvent{Tenant: tenant, AutoRollback: a}},
		{Topic: audit.Topic, Data: rec},
	}
}

func sourceRevision(sources []Source, configurationID string) int {
	for _, src := range sources {
		if src.ConfigurationID == configurationID {
			return src.Revision
		}
	}
	return 0
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// RuntimeState is a runtime's desired against applied revision and its drift.
type RuntimeState struct {
	RuntimeID string
	// Desired is the revision of the effective configuration the runtime should run now.
	Desired int
	// Status is the last report with what is kept across reports; nil when the agent reported nothing.
	Status *Status
}

// State returns what runtimeID should run, what it last applied and its drift.
func (s *Service) State(ctx context.Context, runtimeID string) (*RuntimeState, error) {
	eff, err := s.Effective(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	st, err := s.Status(ctx, runtimeID)
	if err != nil {
		return nil, err
	}
	return &RuntimeState{RuntimeID: runtimeID, Desired: eff.Revision, Status: st}, nil
}
