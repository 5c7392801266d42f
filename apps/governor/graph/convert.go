package graph

import (
	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/governor/graph/model"
)

// The GraphQL types differ from the domain's where secrets are concerned: a secret value is a nullable
// field here, filled only from an effective configuration that says it includes secrets. Everything else
// maps one to one.

func fromInput(in model.ConfigurationInput) configuration.Input {
	out := configuration.Input{RuntimeID: deref(in.RuntimeID)}
	for _, m := range in.LabelSelector {
		out.LabelSelector = append(out.LabelSelector, configuration.LabelMatch{Key: m.Key, Value: m.Value})
	}
	for _, b := range in.Bindings {
		bi := configuration.BindingInput{Name: b.Name, Type: b.Type, Scopes: b.Scopes}
		for _, m := range b.Metadata {
			bi.Metadata = append(bi.Metadata, configuration.NameValue{Name: m.Name, Value: m.Value})
		}
		for _, s := range b.SecretMetadata {
			bi.SecretMetadata = append(bi.SecretMetadata, configuration.SecretInput{Name: s.Name, Value: s.Value})
		}
		out.Bindings = append(out.Bindings, bi)
	}
	if in.DriftPolicy != nil {
		out.DriftPolicy = string(*in.DriftPolicy)
	}
	out.AutoRollback = in.AutoRollback != nil && *in.AutoRollback
	if st := in.Rollout; st != nil {
		out.Rollout = &configuration.Strategy{
			CanaryCount: intOr(st.CanaryCount, 0), CanaryPercent: intOr(st.CanaryPercent, 0),
			BatchSize: intOr(st.BatchSize, 0), BatchPercent: intOr(st.BatchPercent, 0),
			SoakSeconds: intOr(st.SoakSeconds, 60), FailureBudget: intOr(st.FailureBudget, 0),
			StepTimeoutSeconds: intOr(st.StepTimeoutSeconds, 0),
		}
		if l := st.CanaryLabel; l != nil {
			out.Rollout.CanaryLabel = &configuration.LabelMatch{Key: l.Key, Value: l.Value}
		}
	}
	return out
}

func toStrategy(st *configuration.Strategy) *model.RolloutStrategy {
	if st == nil {
		return nil
	}
	out := &model.RolloutStrategy{
		CanaryCount: positive(st.CanaryCount), CanaryPercent: positive(st.CanaryPercent),
		BatchSize: positive(st.BatchSize), BatchPercent: positive(st.BatchPercent),
		SoakSeconds: st.SoakSeconds, FailureBudget: st.FailureBudget, StepTimeoutSeconds: st.StepTimeoutSeconds,
	}
	if l := st.CanaryLabel; l != nil {
		out.CanaryLabel = &model.LabelMatch{Key: l.Key, Value: l.Value}
	}
	return out
}

func toRollout(r *configuration.RolloutStatus) *model.Rollout {
	if r == nil {
		return nil
	}
	out := &model.Rollout{
		ConfigurationID: r.ConfigurationID, FromRevision: r.FromRevision, ToRevision: r.ToRevision,
		Phase: model.RolloutPhase(r.Phase), Reason: optional(r.Reason), Step: r.Step + 1, Steps: len(r.Steps),
		Strategy: toStrategy(&r.Strategy), StartedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
		Done: r.Done, Failed: r.FailedCount, Pending: r.Pending, Runtimes: []*model.RolloutRuntime{},
	}
	if !r.SoakingSince.IsZero() {
		out.SoakingSince = &r.SoakingSince
	}
	for _, rt := range r.Runtimes {
		out.Runtimes = append(out.Runtimes, &model.RolloutRuntime{
			RuntimeID: rt.RuntimeID, Step: rt.Step + 1, DesiredRevision: rt.DesiredRevision,
			AppliedRevision: positive(rt.AppliedRevision), State: model.RolloutRuntimeState(rt.State), Reason: optional(rt.Reason),
		})
	}
	return out
}

func positive(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

func toConfiguration(c *configuration.Configuration) *model.Configuration {
	if c == nil {
		return nil
	}
	out := &model.Configuration{
		ID: c.ID, Revision: c.Revision, Deleted: c.Deleted, Bindings: []*model.Binding{},
		CreatedAt: c.CreatedAt, RevisedAt: c.RevisedAt, RevisedBy: optional(c.RevisedBy),
		RolloutStrategy: toStrategy(c.Strategy),
		DriftPolicy:     model.DriftPolicy(c.Policy()), AutoRollback: c.AutoRollback, RollbackReason: optional(c.RollbackReason),
	}
	if c.RolledBackFrom > 0 {
		out.RolledBackFrom = &c.RolledBackFrom
	}
	if c.Target.RuntimeID != "" {
		out.RuntimeID = &c.Target.RuntimeID
	} else {
		out.LabelSelector = []*model.LabelMatch{}
		for _, m := range c.Target.LabelSelector {
			out.LabelSelector = append(out.LabelSelector, &model.LabelMatch{Key: m.Key, Value: m.Value})
		}
	}
	for _, b := range c.Bindings {
		out.Bindings = append(out.Bindings, toBinding(b, "", false))
	}
	return out
}

// toBinding converts b; secret values are copied only when withSecrets.
func toBinding(b configuration.Binding, from string, withSecrets bool) *model.Binding {
	out := &model.Binding{
		Name: b.Name, Type: b.Type, Version: b.Version, Scopes: append([]string{}, b.Scopes...),
		Metadata: []*model.MetadataItem{}, SecretMetadata: []*model.SecretMetadataItem{},
		ConfigurationID: optional(from),
	}
	for _, m := range b.Metadata {
		out.Metadata = append(out.Metadata, &model.MetadataItem{Name: m.Name, Value: m.Value})
	}
	for _, s := range b.SecretMetadata {
		item := &model.SecretMetadataItem{Name: s.Name}
		if withSecrets {
			item.Value = &s.Value
		}
		out.SecretMetadata = append(out.SecretMetadata, item)
	}
	return out
}

func toPage(p *configuration.Page) *model.ConfigurationPage {
	out := &model.ConfigurationPage{
		Data:       make([]*model.Configuration, 0, len(p.Items)),
		PageInfo:   &model.PageInfo{StartCursor: p.StartCursor, EndCursor: p.EndCursor, HasNextPage: p.HasNextPage},
		TotalCount: p.TotalCount,
	}
	for _, c := range p.Items {
		out.Data = append(out.Data, toConfiguration(c))
	}
	return out
}

func toRuntimeConfiguration(e *configuration.Effective) *model.RuntimeConfiguration {
	out := &model.RuntimeConfiguration{
		RuntimeID: e.RuntimeID, Revision: e.Revision, SecretsIncluded: e.SecretsIncluded,
		Bindings: []*model.Binding{}, Sources: []*model.ConfigurationSource{},
		DriftPolicy: model.DriftPolicyCorrect,
	}
	if e.DriftPolicy == configuration.DriftReport {
		out.DriftPolicy = model.DriftPolicyReport
	}
	for _, b := range e.Bindings {
		out.Bindings = append(out.Bindings, toBinding(b.Binding, b.ConfigurationID, e.SecretsIncluded))
	}
	for _, s := range e.Sources {
		out.Sources = append(out.Sources, &model.ConfigurationSource{ConfigurationID: s.ConfigurationID, Revision: s.Revision})
	}
	return out
}

func toStatus(s *configuration.Status) *model.RuntimeConfigurationStatus {
	if s == nil {
		return nil
	}
	return &model.RuntimeConfigurationStatus{
		RuntimeID: s.RuntimeID, Revision: s.Revision, Status: model.ConfigurationApplyStatus(s.Status),
		Reason: optional(s.Reason), ReportedAt: s.ReportedAt, Drift: toDriftItems(s.Drift), DriftCorrected: s.DriftCorrected,
	}
}

func fromDriftItems(in []*model.DriftItemInput) []configuration.DriftItem {
	var out []configuration.DriftItem
	for _, it := range in {
		out = append(out, configuration.DriftItem{Component: it.Component, Kind: string(it.Kind), Resource: string(it.Resource)})
	}
	return out
}

func toDriftItems(in []configuration.DriftItem) []*model.DriftItem {
	out := make([]*model.DriftItem, 0, len(in))
	for _, it := range in {
		out = append(out, &model.DriftItem{Component: it.Component, Kind: model.DriftKind(it.Kind), Resource: model.DriftResource(it.Resource)})
	}
	return out
}

func toState(st *configuration.RuntimeState) *model.RuntimeConfigurationState {
	out := &model.RuntimeConfigurationState{RuntimeID: st.RuntimeID, DesiredRevision: st.Desired}
	s := st.Status
	if s == nil {
		return out
	}
	out.LastStatus = toStatus(s)
	if a := s.LastApplied; a != nil {
		out.AppliedRevision, out.AppliedAt = &a.Revision, &a.At
	}
	open := false
	if d := s.LastDrift; d != nil {
		out.Drift = &model.RuntimeDrift{Revision: d.Revision, Items: toDriftItems(d.Items), DetectedAt: d.DetectedAt,
			ResolvedAt: d.ResolvedAt, Corrected: d.Corrected}
		open = d.ResolvedAt == nil
	}
	out.InSync = s.Status == configuration.StatusApplied && s.Revision == st.Desired && !open
	if a := s.LastAutoRollback; a != nil {
		out.LastAutoRollback = &model.AutoRollback{ConfigurationID: a.ConfigurationID, RuntimeID: a.RuntimeID,
			FailedRevision: a.FailedRevision, RestoredRevision: a.RestoredRevision, NewRevision: a.NewRevision, Reason: a.Reason, At: a.At}
	}
	return out
}

func toBindingTypes(ts []configuration.BindingType) []*model.BindingType {
	out := make([]*model.BindingType, 0, len(ts))
	for _, t := range ts {
		out = append(out, &model.BindingType{
			Type: t.Type, Version: t.Version, RequiredMetadata: append([]string{}, t.Required...),
			Input: t.Input, Output: t.Output,
		})
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func intOr(v *int, def int) int {
	if v == nil {
		return def
	}
	return *v
}
