package runtimes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// HeartbeatKind is the registry kind of the last heartbeat of each runtime (id = runtime id). Heartbeats
// are kept apart from the runtime so that one every few seconds does not rewrite (and announce) it.
const HeartbeatKind = "heartbeat"

type heartbeat struct {
	RuntimeID string    `json:"runtimeID"`
	Last      time.Time `json:"last"`
}

// Heartbeat records that runtime id is alive. Only the runtime itself may send it; a runtime that was not
// CONNECTED becomes CONNECTED.
func (s *Service) Heartbeat(ctx context.Context, id string) (*model.Runtime, error) {
	caller, _ := identity.FromContext(ctx)
	if caller.ConsumerType != identity.ConsumerRuntime || caller.Subject != id {
		return nil, apperr.New(apperr.CodeForbidden, "only runtime %s itself may send its heartbeat", id)
	}
	rt, err := s.objs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, HeartbeatKind)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if err := s.store.Mutate(ctx, sc, id, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: heartbeat{RuntimeID: id, Last: now}}, nil
	}); err != nil {
		return nil, fmt.Errorf("heartbeat of %s: %w", id, err)
	}
	if rt.Status != nil && rt.Status.Condition == model.RuntimeStatusConditionConnected {
		return rt, nil
	}
	return s.setStatus(ctx, id, model.RuntimeStatusConditionConnected, nil)
}

// setStatus changes a runtime's condition, announcing it on runtime.updated.
func (s *Service) setStatus(ctx context.Context, id string, cond model.RuntimeStatusCondition, reason *string) (*model.Runtime, error) {
	now := s.now().UTC()
	return s.objs.Update(ctx, id, func(rt *model.Runtime) ([]registry.Event, error) {
		rt.Status = &model.RuntimeStatus{Condition: cond, Timestamp: now, Reason: reason}
		return []registry.Event{event("updated", rt)}, nil
	})
}

// ProvisioningFailed turns the runtime FAILED with reason: the Provisioner could not finish creating or
// reconnecting it (its agent never connected, its infrastructure failed). A runtime that is gone is left
// alone.
func (s *Service) ProvisioningFailed(ctx context.Context, id, reason string) error {
	if _, err := s.setStatus(ctx, id, model.RuntimeStatusConditionFailed, &reason); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
		return fmt.Errorf("mark runtime %s failed: %w", id, err)
	}
	return nil
}

// LastHeartbeat is when runtime id last sent a heartbeat, nil when it never did. It reads the caller's
// tenant only, as every query does.
func (s *Service) LastHeartbeat(ctx context.Context, id string) (*time.Time, error) {
	sc, err := registry.TenantScope(ctx, HeartbeatKind)
	if err != nil {
		return nil, err
	}
	var hb heartbeat
	if err := s.store.Get(ctx, sc, id, &hb); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("last heartbeat of %s: %w", id, err)
	}
	return &hb.Last, nil
}

// CheckHeartbeats turns FAILED every CONNECTED runtime of the tenant in ctx whose last heartbeat is older
// than maxAge. It runs on a schedule (a Dapr cron binding).
func (s *Service) CheckHeartbeats(ctx context.Context, maxAge time.Duration) error {
	sc, err := registry.TenantScope(ctx, HeartbeatKind)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	after := ""
	for {
		p, err := s.store.List(ctx, sc, registry.IndexAll, 200, after)
		if err != nil {
			return fmt.Errorf("list heartbeats: %w", err)
		}
		var stale []heartbeat
		err = s.store.GetMany(ctx, sc, p.IDs, func(_ string, data []byte) error {
			var hb heartbeat
			if err := json.Unmarshal(data, &hb); err != nil {
				return err
			}
			if now.Sub(hb.Last) > maxAge {
				stale = append(stale, hb)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, hb := range stale {
			rt, err := s.objs.Get(ctx, hb.RuntimeID)
			if apperr.CodeOf(err) == apperr.CodeNotFound {
				continue
			}
			if err != nil {
				return err
			}
			if rt.Status == nil || rt.Status.Condition != model.RuntimeStatusConditionConnected {
				continue
			}
			reason := fmt.Sprintf("no heartbeat since %s", hb.Last.Format(time.RFC3339))
			if _, err := s.setStatus(ctx, hb.RuntimeID, model.RuntimeStatusConditionFailed, &reason); err != nil {
				return err
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}
