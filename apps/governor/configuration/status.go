package configuration

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

const maxReasonBytes = 4096

// ReportStatus records the agent's report about applying revision rev of the runtime's effective
// configuration, replacing the previous report. A runtime may report only for itself.
func (s *Service) ReportStatus(ctx context.Context, runtimeID string, rev int, status, reason string) (*Status, error) {
	if err := mayActFor(ctx, runtimeID); err != nil {
		return nil, err
	}
	var p problems
	if !validID(runtimeID) {
		p.add("runtimeID %q: use up to 128 letters, digits, '.', '_' or '-'", runtimeID)
	}
	if rev < 0 {
		p.add("revision: must not be negative")
	}
	if status != StatusApplied && status != StatusFailed {
		p.add("status: %s or %s", StatusApplied, StatusFailed)
	}
	if len(reason) > maxReasonBytes || !utf8.ValidString(reason) {
		p.add("reason: at most %d bytes of UTF-8", maxReasonBytes)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, kindStatus)
	if err != nil {
		return nil, err
	}
	st := &Status{RuntimeID: runtimeID, Revision: rev, Status: status, Reason: reason,
		ReportedAt: s.now().UTC(), ReportedBy: callerSubject(ctx)}
	// What the revision was made of, while the Governor still knows: a rollout reads it.
	if vsc, err := registry.TenantScope(ctx, kindRuntimeView); err == nil {
		var view runtimeView
		switch err := s.store.Get(ctx, vsc, runtimeID, &view); {
		case err == nil && view.Revision == rev:
			st.Sources = view.Sources
		case err != nil && !errors.Is(err, registry.ErrNotFound):
			return nil, fmt.Errorf("read runtime view %s: %w", runtimeID, err)
		}
	}
	err = s.store.Mutate(ctx, sc, runtimeID, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: st, Events: []registry.Event{{Topic: TopicStatus, Data: st}}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store status of runtime %s: %w", runtimeID, err)
	}
	if s.reported != nil {
		s.reported()
	}
	return st, nil
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
