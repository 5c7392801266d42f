package configuration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

const maxReasonBytes = 4096

// ReportStatus records the agent's report about applying revision rev of the runtime's effective
// configuration, replacing the previous report. A runtime may report only for itself.
func (s *Service) ReportStatus(ctx context.Context, runtimeID string, rev int, status, reason string) (*Status, error) {
	return s.Report(ctx, Report{RuntimeID: runtimeID, Revision: rev, Status: status, Reason: reason})
}

// Report is what an agent reports about its runtime.
type Report struct {
	RuntimeID string
	Revision  int
	Status    string
	Reason    string
	// Drift, with DRIFTED, is what differs; with APPLIED and DriftCorrected, what the agent restored.
	Drift          []DriftItem
	DriftCorrected bool
}

// Report records an agent's report, replacing the previous one (what is kept across reports aside: the
// last APPLIED revision, the last drift, the last automatic rollback). A drift, and its correction, is
// published on configuration.drift with the report; a FAILED report may roll the runtime's own
// configuration back (see autoRollback).
func (s *Service) Report(ctx context.Context, r Report) (*Status, error) {
	if err := mayActFor(ctx, r.RuntimeID); err != nil {
		return nil, err
	}
	var p problems
	if !validID(r.RuntimeID) {
		p.add("runtimeID %q: use up to 128 letters, digits, '.', '_' or '-'", r.RuntimeID)
	}
	if r.Revision < 0 {
		p.add("revision: must not be negative")
	}
	if r.Status != StatusApplied && r.Status != StatusFailed && r.Status != StatusDrifted {
		p.add("status: %s, %s or %s", StatusApplied, StatusFailed, StatusDrifted)
	}
	if len(r.Reason) > maxReasonBytes || !utf8.ValidString(r.Reason) {
		p.add("reason: at most %d bytes of UTF-8", maxReasonBytes)
	}
	checkDrift(r.Status, r.Drift, r.DriftCorrected, &p)
	if err := p.err(); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, kindStatus)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var sources []Source
	// What the revision was made of, while the Governor still knows: a rollout reads it.
	if vsc, err := registry.TenantScope(ctx, kindRuntimeView); err == nil {
		var view runtimeView
		switch err := s.store.Get(ctx, vsc, r.RuntimeID, &view); {
		case err == nil && view.Revision == r.Revision:
			sources = view.Sources
		case err != nil && !errors.Is(err, registry.ErrNotFound):
			return nil, fmt.Errorf("read runtime view %s: %w", r.RuntimeID, err)
		}
	}
	var st *Status
	err = s.store.Mutate(ctx, sc, r.RuntimeID, "", func(raw []byte) (registry.Change, error) {
		st = &Status{RuntimeID: r.RuntimeID, Revision: r.Revision, Status: r.Status, Reason: r.Reason,
			ReportedAt: now, ReportedBy: callerSubject(ctx), Sources: sources,
			Drift: slices.Clone(r.Drift), DriftCorrected: r.DriftCorrected}
		var prev *Status
		if raw != nil {
			prev = new(Status)
			if err := json.Unmarshal(raw, prev); err != nil {
				return registry.Change{}, fmt.Errorf("decode status of runtime %s: %w", r.RuntimeID, err)
			}
		}
		events := []registry.Event{{Topic: TopicStatus, Data: st}}
		if ev := followDrift(sc.Tenant, prev, st); ev != nil {
			events = append(events, registry.Event{Topic: TopicDrift, Data: ev})
		}
		return registry.Change{Data: st, Events: events, Indexes: statusIndexes(st)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store status of runtime %s: %w", r.RuntimeID, err)
	}
	if auto, err := s.autoRollback(ctx, st); err != nil {
		// The report is stored; the rollback is the Governor's own business and is tried on the next
		// FAILED report. The reporting agent cannot help it.
		s.log.ErrorContext(ctx, "automatic rollback", "runtime", r.RuntimeID, "err", err)
	} else if auto != nil {
		st.LastAutoRollback = auto
		s.recordAutoRollback(ctx, sc, r.RuntimeID, auto)
	}
	if s.reported != nil {
		s.reported()
	}
	return st, nil
}

// recordAutoRollback keeps the automatic rollback with the runtime's status, for its view. A failure is
// logged: the rollback revision itself says why it was made.
func (s *Service) recordAutoRollback(ctx context.Context, sc registry.Scope, runtimeID string, auto *AutoRollback) {
	err := s.store.Mutate(ctx, sc, runtimeID, "", func(raw []byte) (registry.Change, error) {
		var st Status
		if raw != nil {
			if err := json.Unmarshal(raw, &st); err != nil {
				return registry.Change{}, fmt.Errorf("decode status of runtime %s: %w", runtimeID, err)
			}
		}
		st.LastAutoRollback = auto
		return registry.Change{Data: &st, Indexes: statusIndexes(&st)}, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "record automatic rollback with the runtime's status", "runtime", runtimeID, "err", err)
	}
}

// Status returns the last report for the runtime, or nil when there is none.
func (s *Service) Status(ctx context.Context, runtimeID string) (*Status, error) {
	if err := mayActFor(ctx, runtimeID); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, kindStatus)
	if err != nil {
		return nil, err
	}
	if !validID(runtimeID) {
		return nil, nil
	}
	var st Status
	if err := s.store.Get(ctx, sc, runtimeID, &st); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("read status of runtime %s: %w", runtimeID, err)
	}
	return &st, nil
}

// statusIndex lists the runtimes whose last report has one status, so that what needs attention (FAILED,
// DRIFTED) is found without reading every runtime's report. Every write of a report names it: a write
// without it would take the runtime out of the list.
func statusIndex(status string) string { return "status/" + status }

func statusIndexes(st *Status) []string { return []string{statusIndex(st.Status)} }

// StatusPage is one page of runtimes' last reports.
type StatusPage struct {
	Items       []*Status
	StartCursor string
	EndCursor   string
	HasNextPage bool
	TotalCount  int
}

// Statuses pages through the tenant's runtimes whose last report has this status, in the order they came
// to have it. Runtimes have no business here: each sees only its own report (Status).
func (s *Service) Statuses(ctx context.Context, status string, first int, after string) (*StatusPage, error) {
	if id, _ := identity.FromContext(ctx); id.ConsumerType == identity.ConsumerRuntime {
		return nil, apperr.New(apperr.CodeForbidden, "a runtime may only read its own status")
	}
	if status != StatusApplied && status != StatusFailed && status != StatusDrifted {
		return nil, apperr.Invalid("status: %s, %s or %s", StatusApplied, StatusFailed, StatusDrifted)
	}
	if err := checkPage(first, after); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, kindStatus)
	if err != nil {
		return nil, err
	}
	items, p, err := registry.ListAs[Status](ctx, s.store, sc, statusIndex(status), first, after)
	if err != nil {
		return nil, fmt.Errorf("list %s statuses: %w", status, err)
	}
	out := &StatusPage{Items: items, StartCursor: after, EndCursor: p.EndCursor, HasNextPage: p.HasNextPage, TotalCount: int(p.TotalCount)}
	if out.EndCursor == "" {
		out.EndCursor = after
	}
	return out, nil
}
