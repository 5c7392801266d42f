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
//
// A heartbeat is a plain registry value (registry.PutValue): one state write, last writer wins. A fleet
// beats every few seconds, and as an entity write each heartbeat took the tenant's write queue, read the
// outbox head and committed a transaction (≈ 5 state operations, plus the relay pass it kicked), which
// made a fleet's heartbeats most of the Director's work and queued every other write of the tenant behind
// them. A timestamp that the next heartbeat overwrites needs none of that: nothing lists heartbeats (the
// health round reads them by the ids of the runtimes) and nothing is announced unless the runtime's
// condition changes, which still goes through setStatus.
//
// Heartbeats written before were entities of this kind (the same JSON inside an envelope, under the
// entity key); they are read where no plain value exists yet, until the runtime's next heartbeat.
const HeartbeatKind = "heartbeat"

type heartbeat struct {
	RuntimeID string    `json:"runtimeID"`
	Last      time.Time `json:"last"`
}

// Liveness is the storage heartbeats need besides the entities: plain per-tenant values.
// *registry.Registry implements it.
type Liveness interface {
	PutValue(ctx context.Context, s registry.Scope, id string, v any) error
	PutValues(ctx context.Context, s registry.Scope, values map[string]any) error
	GetValues(ctx context.Context, s registry.Scope, ids []string, decode func(id string, data []byte) error) error
}

// Heartbeat records that runtime id is alive. Only the runtime itself may send it; a runtime that was not
// CONNECTED becomes CONNECTED.
func (s *Service) Heartbeat(ctx context.Context, id string) (*model.Runtime, error) {
	caller, _ := identity.FromContext(ctx)
	if caller.ConsumerType != identity.ConsumerRuntime || caller.Subject != id {
		return nil, apperr.New(apperr.CodeForbidden, "only runtime %s itself may send its heartbeat", id)
	}
	// Read first: a runtime of another tenant, or one unregistered, leaves no heartbeat behind.
	rt, err := s.objs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	sc, err := registry.TenantScope(ctx, HeartbeatKind)
	if err != nil {
		return nil, err
	}
	if err := s.store.PutValue(ctx, sc, id, heartbeat{RuntimeID: id, Last: s.now().UTC()}); err != nil {
		return nil, fmt.Errorf("heartbeat of %s: %w", id, err)
	}
	if connected(rt) {
		return rt, nil
	}
	return s.setStatus(ctx, id, model.RuntimeStatusConditionConnected, nil)
}

// HeartbeatMany records the heartbeats of the CONNECTED runtimes among ids, all of tenant, with one bulk
// read of the runtimes and one write of the heartbeats, and reports which it recorded. The others — a
// runtime that is not CONNECTED (its heartbeat changes its condition: an audited write), or not there —
// are left for Heartbeat, one by one, which answers or records them as it always does.
//
// It reads the runtimes of tenant without a caller: whoever calls it must have checked, for each id, what
// Heartbeat checks first, that the heartbeat's caller is that runtime of tenant (package heartbeats does,
// from the runtime's own assertion). Batches of heartbeats come from the gateway (package heartbeatbatch).
func (s *Service) HeartbeatMany(ctx context.Context, tenant string, ids []string) (map[string]bool, error) {
	steady := make(map[string]any, len(ids))
	now := s.now().UTC()
	err := s.store.GetMany(ctx, registry.Scope{Tenant: tenant, Kind: Kind}, ids, func(id string, data []byte) error {
		var rt model.Runtime
		if err := json.Unmarshal(data, &rt); err != nil {
			return fmt.Errorf("decode runtime %s: %w", id, err)
		}
		if connected(&rt) {
			steady[id] = heartbeat{RuntimeID: id, Last: now}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read runtimes: %w", err)
	}
	if err := s.store.PutValues(ctx, registry.Scope{Tenant: tenant, Kind: HeartbeatKind}, steady); err != nil {
		return nil, fmt.Errorf("heartbeats: %w", err)
	}
	recorded := make(map[string]bool, len(steady))
	for id := range steady {
		recorded[id] = true
	}
	return recorded, nil
}

func connected(rt *model.Runtime) bool {
	return rt.Status != nil && rt.Status.Condition == model.RuntimeStatusConditionConnected
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
	last, err := s.lastHeartbeats(ctx, sc, []string{id})
	if err != nil {
		return nil, fmt.Errorf("last heartbeat of %s: %w", id, err)
	}
	if t, ok := last[id]; ok {
		return &t, nil
	}
	return nil, nil
}

// lastHeartbeats reads the last heartbeats of ids in scope sc (the caller's tenant); ids that never beat
// are left out. Plain values come first; heartbeats stored the old way, as entities, are read only for the
// ids without one: one bulk read, and a second only while some runtime has not beaten since the change.
func (s *Service) lastHeartbeats(ctx context.Context, sc registry.Scope, ids []string) (map[string]time.Time, error) {
	last := make(map[string]time.Time, len(ids))
	if len(ids) == 0 {
		return last, nil
	}
	keep := func(id string, data []byte) error {
		var hb heartbeat
		if err := json.Unmarshal(data, &hb); err != nil {
			return fmt.Errorf("decode heartbeat of %s: %w", id, err)
		}
		last[id] = hb.Last
		return nil
	}
	if err := s.store.GetValues(ctx, sc, ids, keep); err != nil {
		return nil, err
	}
	var old []string
	for _, id := range ids {
		if _, ok := last[id]; !ok {
			old = append(old, id)
		}
	}
	if err := s.store.GetMany(ctx, sc, old, keep); err != nil {
		return nil, err
	}
	return last, nil
}

// checkPage is how many runtimes a health round reads at once.
const checkPage = 200

// CheckHeartbeats turns FAILED every CONNECTED runtime of the tenant in ctx whose last heartbeat is older
// than maxAge. It runs on a schedule (a Dapr cron binding). It pages the tenant's runtimes and reads the
// heartbeats of the CONNECTED ones; a runtime that never sent one has nothing to judge it by and is left
// as it is, as it always was (its condition was set by hand or by the Provisioner, not by an agent).
func (s *Service) CheckHeartbeats(ctx context.Context, maxAge time.Duration) error {
	rsc, err := registry.TenantScope(ctx, Kind)
	if err != nil {
		return err
	}
	hsc := registry.Scope{Tenant: rsc.Tenant, Kind: HeartbeatKind}
	after := ""
	for {
		rts, p, err := registry.ListAs[model.Runtime](ctx, s.store, rsc, registry.IndexAll, checkPage, after)
		if err != nil {
			return fmt.Errorf("list runtimes: %w", err)
		}
		var ids []string
		for _, rt := range rts {
			if connected(rt) {
				ids = append(ids, rt.ID)
			}
		}
		last, err := s.lastHeartbeats(ctx, hsc, ids)
		if err != nil {
			return fmt.Errorf("read heartbeats: %w", err)
		}
		now := s.now().UTC()
		for _, id := range ids {
			if t, beat := last[id]; beat && now.Sub(t) > maxAge {
				if err := s.failSilent(ctx, hsc, id, maxAge); err != nil {
					return err
				}
			}
		}
		if !p.HasNextPage {
			return nil
		}
		after = p.EndCursor
	}
}

// errNotConnected stops failSilent's write: the runtime's condition changed since the page was read.
var errNotConnected = errors.New("no longer connected")

// failSilent turns runtime id FAILED for a heartbeat found older than maxAge. Its heartbeat is read once
// more first, and the condition is checked again inside the write: a page of runtimes takes a while to go
// through, and a runtime that beat or changed meanwhile must not be failed for what the page said (a
// FAILED runtime fails its Governor rollout step).
func (s *Service) failSilent(ctx context.Context, hsc registry.Scope, id string, maxAge time.Duration) error {
	last, err := s.lastHeartbeats(ctx, hsc, []string{id})
	if err != nil {
		return fmt.Errorf("read heartbeat of %s: %w", id, err)
	}
	t, ok := last[id]
	now := s.now().UTC()
	if !ok || now.Sub(t) <= maxAge {
		return nil
	}
	reason := fmt.Sprintf("no heartbeat since %s", t.Format(time.RFC3339))
	_, err = s.objs.Update(ctx, id, func(rt *model.Runtime) ([]registry.Event, error) {
		if !connected(rt) {
			return nil, errNotConnected
		}
		rt.Status = &model.RuntimeStatus{Condition: model.RuntimeStatusConditionFailed, Timestamp: now, Reason: &reason}
		return []registry.Event{event("updated", rt)}, nil
	})
	if errors.Is(err, errNotConnected) || apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fail runtime %s: %w", id, err)
	}
	return nil
}
