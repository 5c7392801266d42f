package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Store is the part of the Registry (a Dapr state store) the provisioner keeps its records in.
type Store interface {
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
	Get(ctx context.Context, s registry.Scope, id string, out any) error
	List(ctx context.Context, s registry.Scope, index string, first int, after string) (registry.Page, error)
	GetMany(ctx context.Context, s registry.Scope, ids []string, decode func(id string, data []byte) error) error
}

// Runtimes of every tenant live in one global scope, so that a replica finds every operation in progress
// through one index ("active") when it starts; each record names its tenant, and every read on behalf of
// a caller checks it.
var (
	runtimeScope   = registry.GlobalScope("provisioner-runtime")
	operationScope = registry.GlobalScope("provisioner-operation")
)

const (
	indexActive = "active" // runtimes with an operation in progress
	// TopicOperation carries every stage change of an operation (CloudEvents through the outbox).
	TopicOperation = "provisioning.operation"
)

// runtimeRecord is a provisioned runtime and the operation in progress on it, if any. The operation lives
// inside the record so that claiming it (one per runtime) and every stage change are one ETag-guarded
// write: two callers racing for the same runtime cannot both start one.
type runtimeRecord struct {
	ID            string          `json:"id"`
	Tenant        string          `json:"tenant"`
	Name          string          `json:"name"`
	Backend       string          `json:"backend"`
	ClusterConfig json.RawMessage `json:"clusterConfig,omitempty"`
	Hibernated    bool            `json:"hibernated,omitempty"`
	Deprovisioned bool            `json:"deprovisioned,omitempty"`
	// Connection is the runtime's status condition as the Director last announced it.
	Connection string `json:"connection,omitempty"`

	Active *Operation `json:"active,omitempty"`
	Last   *Operation `json:"last,omitempty"`
	// StageStartedAt is when Active entered its stage: the stage's time limit counts from here, across
	// restarts.
	StageStartedAt time.Time `json:"stageStartedAt,omitzero"`
	// Holder is the replica running Active, until LeaseUntil; another replica takes over after that.
	Holder     string    `json:"holder,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	// Progress is what the backend keeps between stages (process ids, folders, one-time token).
	Progress map[string]string `json:"progress,omitempty"`
}

func (r *runtimeRecord) indexes() []string {
	if r.Active != nil {
		return []string{indexActive}
	}
	return nil
}

func operationEvent(rec *runtimeRecord, op *Operation) registry.Event {
	// The labels the Director sets on the runtime for the Provisioner (apps/director/provisioned): stages
	// run without a caller, so this topic is how what they learn reaches the runtime's labels.
	var labels map[string]string
	if c := rec.Progress[ProgressCluster]; c != "" {
		labels = map[string]string{LabelCluster: c}
	}
	return registry.Event{Topic: TopicOperation, Data: struct {
		*Operation
		Backend       string            `json:"backend"`
		RuntimeLabels map[string]string `json:"runtimeLabels,omitempty"`
	}{op, rec.Backend, labels}}
}

// errOperationRunning refuses a second mutating operation on a runtime (a 400 for the upstream client).
func errOperationRunning(rec *runtimeRecord) error {
	return Fail(apperr.CodeConflict, ReasonOperationRunning, ComponentProvisioner,
		"runtime %s has operation %s (%s) in progress; wait until it ends", rec.ID, rec.Active.ID, rec.Active.Type)
}

func errRuntimeNotFound(id string) error {
	return Fail(apperr.CodeNotFound, ReasonNotFound, ComponentProvisioner, "runtime %q not found", id)
}

// records reads and writes runtime records and the operations' history.
type records struct{ store Store }

// get returns the runtime of tenant; another tenant's runtime is reported as not found.
func (r records) get(ctx context.Context, tenant, id string) (*runtimeRecord, error) {
	var rec runtimeRecord
	err := r.store.Get(ctx, runtimeScope, id, &rec)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && rec.Tenant != tenant) {
		return nil, errRuntimeNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read runtime %s: %w", id, err)
	}
	return &rec, nil
}

// update changes the record of runtime id with fn, in one ETag-guarded write; fn may run more than once.
// Events fn returns go out with the write.
func (r records) update(ctx context.Context, id string, fn func(rec *runtimeRecord) ([]registry.Event, error)) (*runtimeRecord, error) {
	var out *runtimeRecord
	err := r.store.Mutate(ctx, runtimeScope, id, "", func(cur []byte) (registry.Change, error) {
		if cur == nil {
			return registry.Change{}, registry.ErrNotFound
		}
		var rec runtimeRecord
		if err := json.Unmarshal(cur, &rec); err != nil {
			return registry.Change{}, fmt.Errorf("decode runtime %s: %w", id, err)
		}
		events, err := fn(&rec)
		if err != nil {
			return registry.Change{}, err
		}
		out = &rec
		return registry.Change{Data: &rec, Indexes: rec.indexes(), Events: events}, nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, errRuntimeNotFound(id)
	}
	return out, err
}

// create stores a new runtime record with its first operation in progress.
func (r records) create(ctx context.Context, rec *runtimeRecord) error {
	return r.store.Mutate(ctx, runtimeScope, rec.ID, "", func(cur []byte) (registry.Change, error) {
		if cur != nil {
			return registry.Change{}, fmt.Errorf("runtime %s: %w", rec.ID, registry.ErrAlreadyExists)
		}
		return registry.Change{Data: rec, Indexes: rec.indexes(), Events: []registry.Event{operationEvent(rec, rec.Active)}}, nil
	})
}

// saveOperation keeps op in the history (index per runtime), for runtimeOperationStatus and the list.
func (r records) saveOperation(ctx context.Context, op *Operation) error {
	return r.store.Mutate(ctx, operationScope, op.ID, "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: op, Indexes: []string{"rt:" + op.RuntimeID}}, nil
	})
}

// operation returns operation id of tenant as it stands now.
func (r records) operation(ctx context.Context, tenant, id string) (*Operation, error) {
	var op Operation
	err := r.store.Get(ctx, operationScope, id, &op)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && op.Tenant != tenant) {
		return nil, Fail(apperr.CodeNotFound, ReasonNotFound, ComponentProvisioner, "operation %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read operation %s: %w", id, err)
	}
	if op.EndedAt == nil { // the history has its start; the runtime record has where it is now
		if rec, err := r.get(ctx, tenant, op.RuntimeID); err == nil {
			for _, cur := range []*Operation{rec.Active, rec.Last} {
				if cur != nil && cur.ID == id {
					return cur, nil
				}
			}
		}
	}
	return &op, nil
}

// operations lists the operations of a runtime, newest first.
func (r records) operations(ctx context.Context, runtimeID string) ([]Operation, error) {
	var out []Operation
	after := ""
	for {
		ops, p, err := registry.ListAs[Operation](ctx, r.store, operationScope, "rt:"+runtimeID, 100, after)
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			out = append(out, *op)
		}
		if !p.HasNextPage {
			break
		}
		after = p.EndCursor
	}
	// Index order is insertion order: oldest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// active lists the ids of runtimes with an operation in progress.
func (r records) active(ctx context.Context) ([]string, error) {
	var ids []string
	after := ""
	for {
		p, err := r.store.List(ctx, runtimeScope, indexActive, 200, after)
		if err != nil {
			return nil, fmt.Errorf("list operations in progress: %w", err)
		}
		ids = append(ids, p.IDs...)
		if !p.HasNextPage {
			return ids, nil
		}
		after = p.EndCursor
	}
}
