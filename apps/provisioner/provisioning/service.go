package provisioning

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Director is what the provisioner asks of the Director, always on behalf of the caller (with the caller's
// assertion): the runtime is registered, given one-time tokens and unregistered in the caller's tenant,
// with the caller's rights.
type Director interface {
	RegisterRuntime(ctx context.Context, name, description string, labels map[string]any) (string, error)
	RequestOneTimeToken(ctx context.Context, runtimeID string) (string, error)
	UnregisterRuntime(ctx context.Context, runtimeID string) error
}

// Validator is implemented by backends that check a cluster configuration before anything is created.
type Validator interface {
	Validate(clusterConfig json.RawMessage) error
}

// ProgressToken is the progress key under which the runtime agent's one-time token waits for the stage
// that hands it to the agent.
const ProgressToken = "oneTimeToken"

// Labels the provisioner puts on the runtimes it registers in the Director. LabelCluster comes later,
// from a stage that learns the cluster's name (ProgressCluster), through the operation's events.
const (
	LabelBackend     = "provisioner_backend"
	LabelProvisioned = "provisioner_runtime"
	LabelCluster     = "provisioner_cluster"
)

// ProgressCluster is the progress key under which a backend's stage names the runtime's cluster (a
// Shoot's domain, the machine of a local runtime); the next operation event carries it to the Director
// as the LabelCluster label.
const ProgressCluster = "cluster"

// Service implements API.
type Service struct {
	rec      records
	engine   *Engine
	director Director
	log      *slog.Logger
	now      func() time.Time
	// apiHold is how long a mutation holds a new operation back from the engine while it finishes its
	// own calls to the Director; if the mutation dies meanwhile, the engine takes the operation after it.
	apiHold time.Duration
}

// NewService returns the provisioner's service.
func NewService(store Store, engine *Engine, director Director, log *slog.Logger) *Service {
	return &Service{rec: records{store}, engine: engine, director: director, log: log, now: time.Now, apiHold: 30 * time.Second}
}

var _ API = (*Service)(nil)

// Runtime names become folder names and Director names: the Director's own alphabet.
var namePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,34}[a-z0-9])?$`)

func invalid(format string, args ...any) error {
	return Fail(apperr.CodeInvalidInput, ReasonInvalidInput, ComponentProvisioner, format, args...)
}

// directorFailed wraps a failure of a Director call: the Director's own refusals keep their code.
func directorFailed(what string, err error) error {
	if apperr.CodeOf(err) != apperr.CodeInternal {
		msg, _ := apperr.Public(err)
		return Fail(apperr.CodeOf(err), ReasonDirector, ComponentDirector, "%s: %s", what, msg)
	}
	return Fail(apperr.CodeUnavailable, ReasonDirector, ComponentDirector, "%s: the Director did not answer; try again", what)
}

func newOperation(tenant, runtimeID string, t OperationType, now time.Time) *Operation {
	return &Operation{ID: uuid.NewString(), RuntimeID: runtimeID, Tenant: tenant, Type: t, State: StatePending,
		Message: "waiting to start", StartedAt: now, UpdatedAt: now}
}

// Provision implements API.
func (s *Service) Provision(ctx context.Context, in ProvisionInput) (Operation, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return Operation{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	if !namePattern.MatchString(in.Name) {
		return Operation{}, invalid("runtimeInput.name %q: use 1-36 lowercase letters, digits and '-', starting with a letter and not ending with '-'", in.Name)
	}
	backend, ok := s.engine.Backend(in.Backend)
	if !ok {
		return Operation{}, invalid("backend %q is not available in this provisioner", in.Backend)
	}
	if v, ok := backend.(Validator); ok {
		if err := v.Validate(in.ClusterConfig); err != nil {
			return Operation{}, invalid("clusterConfig: %v", err)
		}
	}
	labels := map[string]any{}
	for k, v := range in.Labels {
		labels[k] = v
	}
	labels[LabelBackend] = in.Backend
	labels[LabelProvisioned] = "true"
	id, err := s.director.RegisterRuntime(ctx, in.Name, in.Description, labels)
	if err != nil {
		s.log.WarnContext(ctx, "director refused or failed to register a runtime", "err", err)
		return Operation{}, directorFailed("register the runtime in the Director", err)
	}
	tok, err := s.director.RequestOneTimeToken(ctx, id)
	if err != nil {
		s.undoRegistration(ctx, id)
		return Operation{}, directorFailed("a one-time token for the runtime agent", err)
	}
	now := s.now().UTC()
	op := newOperation(tenant, id, OperationProvision, now)
	rec := &runtimeRecord{ID: id, Tenant: tenant, Name: in.Name, Backend: in.Backend, ClusterConfig: in.ClusterConfig,
		Active: op, Progress: map[string]string{ProgressToken: tok}}
	if err := s.rec.saveOperation(ctx, op); err != nil {
		s.undoRegistration(ctx, id)
		return Operation{}, err
	}
	if err := s.rec.create(ctx, rec); err != nil {
		s.undoRegistration(ctx, id)
		return Operation{}, err
	}
	s.engine.Wake()
	return *op, nil
}

// undoRegistration unregisters a runtime whose provisioning could not be recorded, so that the Director
// is not left with a runtime nothing will ever provision.
func (s *Service) undoRegistration(ctx context.Context, id string) {
	if err := s.director.UnregisterRuntime(context.WithoutCancel(ctx), id); err != nil {
		s.log.ErrorContext(ctx, "runtime registered but not provisioned, and not unregistered either; unregister it by hand",
			"runtime", id, "err", err)
	}
}

// start claims the runtime for a new operation of type t, held back from the engine until release is
// called (or apiHold passes): the caller finishes its Director calls first. prepare may refuse.
func (s *Service) start(ctx context.Context, runtimeID string, t OperationType, prepare func(rec *runtimeRecord) error) (*Operation, func(ctx context.Context, abort bool), error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return nil, nil, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	var op *Operation
	const holder = "api"
	_, err = s.rec.update(ctx, runtimeID, func(rec *runtimeRecord) ([]registry.Event, error) {
		// Another tenant's runtime is not found, as a deprovisioned one is.
		if rec.Tenant != tenant || rec.Deprovisioned {
			return nil, errRuntimeNotFound(runtimeID)
		}
		if rec.Active != nil {
			return nil, errOperationRunning(rec)
		}
		if b, ok := s.engine.Backend(rec.Backend); ok {
			if _, err := b.Stages(t); err != nil {
				return nil, err
			}
		}
		if prepare != nil {
			if err := prepare(rec); err != nil {
				return nil, err
			}
		}
		now := s.now().UTC()
		op = newOperation(tenant, runtimeID, t, now)
		rec.Active, rec.Holder, rec.LeaseUntil = op, holder, now.Add(s.apiHold)
		return []registry.Event{operationEvent(rec, op)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := s.rec.saveOperation(ctx, op); err != nil {
		s.log.WarnContext(ctx, "operation history not updated", "operation", op.ID, "err", err)
	}
	release := func(ctx context.Context, abort bool) {
		_, err := s.rec.update(context.WithoutCancel(ctx), runtimeID, func(rec *runtimeRecord) ([]registry.Event, error) {
			if rec.Active == nil || rec.Active.ID != op.ID {
				return nil, nil
			}
			if abort {
				now := s.now().UTC()
				done := *rec.Active
				done.State, done.Message, done.EndedAt, done.UpdatedAt = StateFailed, "not started", &now, now
				rec.Active, rec.Last = nil, &done
			}
			rec.Holder, rec.LeaseUntil = "", time.Time{}
			return nil, nil
		})
		if err != nil {
			s.log.WarnContext(ctx, "operation not released; the engine takes it when the hold runs out", "operation", op.ID, "err", err)
		}
		s.engine.Wake()
	}
	return op, release, nil
}

// Deprovision implements API. The runtime is unregistered in the Director (which revokes its
// certificates) at once, with the caller's rights; the backend then takes the infrastructure down.
func (s *Service) Deprovision(ctx context.Context, runtimeID string) (Operation, error) {
	op, release, err := s.start(ctx, runtimeID, OperationDeprovision, nil)
	if err != nil {
		return Operation{}, err
	}
	if err := s.director.UnregisterRuntime(ctx, runtimeID); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
		release(ctx, true)
		return Operation{}, directorFailed("unregister the runtime in the Director", err)
	}
	release(ctx, false)
	return *op, nil
}

// ReconnectAgent implements API: a new one-time token, which the backend hands to the agent to pair again.
func (s *Service) ReconnectAgent(ctx context.Context, runtimeID string) (Operation, error) {
	op, release, err := s.start(ctx, runtimeID, OperationReconnectRuntime, func(rec *runtimeRecord) error {
		if rec.Hibernated {
			return invalid("runtime %s is hibernated; provision it again first", rec.ID)
		}
		return nil
	})
	if err != nil {
		return Operation{}, err
	}
	tok, err := s.director.RequestOneTimeToken(ctx, runtimeID)
	if err != nil {
		release(ctx, true)
		return Operation{}, directorFailed("a one-time token for the runtime agent", err)
	}
	if _, err := s.rec.update(ctx, runtimeID, func(rec *runtimeRecord) ([]registry.Event, error) {
		p := map[string]string{}
		for k, v := range rec.Progress {
			p[k] = v
		}
		p[ProgressToken] = tok
		rec.Progress = p
		return nil, nil
	}); err != nil {
		release(ctx, true)
		return Operation{}, err
	}
	release(ctx, false)
	return *op, nil
}

// Hibernate implements API.
func (s *Service) Hibernate(ctx context.Context, runtimeID string) (Operation, error) {
	op, release, err := s.start(ctx, runtimeID, OperationHibernate, func(rec *runtimeRecord) error {
		if rec.Hibernated {
			return invalid("runtime %s is hibernated already", rec.ID)
		}
		return nil
	})
	if err != nil {
		return Operation{}, err
	}
	release(ctx, false)
	return *op, nil
}

// UpgradeShoot implements API: the new values are merged into the runtime's cluster configuration, which
// the backend's stages then apply.
func (s *Service) UpgradeShoot(ctx context.Context, runtimeID string, in UpgradeShootInput) (Operation, error) {
	op, release, err := s.start(ctx, runtimeID, OperationUpgradeShoot, func(rec *runtimeRecord) error {
		merged, err := mergeJSON(rec.ClusterConfig, in.ClusterConfig)
		if err != nil {
			return invalid("config: %v", err)
		}
		rec.ClusterConfig = merged
		return nil
	})
	if err != nil {
		return Operation{}, err
	}
	release(ctx, false)
	return *op, nil
}

// mergeJSON sets every non-null field of patch on base, recursively for objects.
func mergeJSON(base, patch json.RawMessage) (json.RawMessage, error) {
	var b, p map[string]any
	if len(base) > 0 {
		if err := json.Unmarshal(base, &b); err != nil {
			return nil, err
		}
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return nil, err
	}
	if b == nil {
		b = map[string]any{}
	}
	merge(b, p)
	return json.Marshal(b)
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// RuntimeStatus implements API.
func (s *Service) RuntimeStatus(ctx context.Context, runtimeID string) (RuntimeStatus, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return RuntimeStatus{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	rec, err := s.rec.get(ctx, tenant, runtimeID)
	if err != nil {
		return RuntimeStatus{}, err
	}
	st := RuntimeStatus{RuntimeID: rec.ID, Backend: rec.Backend, ClusterConfig: rec.ClusterConfig, Hibernated: rec.Hibernated,
		Connection: ConnectionPending}
	switch rec.Connection {
	case "CONNECTED":
		st.Connection = ConnectionConnected
	case "FAILED", "DISCONNECTED":
		st.Connection = ConnectionDisconnected
	}
	if rec.Deprovisioned || rec.Hibernated {
		st.Connection = ConnectionDisconnected
	}
	last := rec.Last
	if rec.Active != nil {
		last = rec.Active
	}
	st.LastOperation = last
	if b, ok := s.engine.Backend(rec.Backend); ok {
		_, err := b.Stages(OperationHibernate)
		st.HibernationPossible = err == nil && !rec.Hibernated && !rec.Deprovisioned
	}
	return st, nil
}

// OperationStatus implements API.
func (s *Service) OperationStatus(ctx context.Context, operationID string) (Operation, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return Operation{}, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	op, err := s.rec.operation(ctx, tenant, operationID)
	if err != nil {
		return Operation{}, err
	}
	return *op, nil
}

// Operations implements API.
func (s *Service) Operations(ctx context.Context, runtimeID string) ([]Operation, error) {
	tenant, err := identity.TenantFrom(ctx)
	if err != nil {
		return nil, apperr.New(apperr.CodeUnauthenticated, "%v", err)
	}
	if _, err := s.rec.get(ctx, tenant, runtimeID); err != nil {
		return nil, err
	}
	return s.rec.operations(ctx, runtimeID)
}

// RuntimeChanged records the runtime's status condition as the Director announced it (runtime.updated);
// runtimes the provisioner did not provision are ignored.
func (s *Service) RuntimeChanged(ctx context.Context, runtimeID, condition string) error {
	_, err := s.rec.update(ctx, runtimeID, func(rec *runtimeRecord) ([]registry.Event, error) {
		rec.Connection = condition
		return nil, nil
	})
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtime %s changed: %w", runtimeID, err)
	}
	s.engine.Wake()
	return nil
}
