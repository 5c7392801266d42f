package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Stage is one step of an operation. Run must be idempotent: after a crash the stage runs again from the
// start, so it checks what is already done (a process already running, a folder already there) first.
type Stage struct {
	Name    string
	Message string // what the operation says while at this stage
	// Timeout is how long the stage may take in all, across retries and restarts; zero means the
	// engine's default.
	Timeout time.Duration
	// Component is who is at fault when the stage runs out of time: a stage waiting for the runtime agent
	// names the agent. Empty means the provisioner.
	Component string
	Run       func(ctx context.Context, job *Job) error
}

// ErrWait means a stage's condition is not met yet (a cluster still being created, an agent not connected
// yet): the engine runs the stage again shortly, until its time limit.
var ErrWait = errors.New("not yet")

// PermanentError ends the operation at once as Failed; any other error is retried with backoff until the
// stage's time limit.
type PermanentError struct {
	Reason, Component string
	Err               error
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(reason, component string, err error) error {
	return &PermanentError{Reason: reason, Component: component, Err: err}
}

// Job is what a stage sees of its operation: the runtime, and the progress the backend keeps between
// stages and across restarts.
type Job struct {
	RuntimeID     string
	Tenant        string
	Name          string
	ClusterConfig []byte
	Operation     Operation
	// Connection is the runtime's status condition as the Director last announced it.
	Connection string

	progress map[string]string
	save     func(ctx context.Context, progress map[string]string) error
}

// Get returns a progress value kept by an earlier stage.
func (j *Job) Get(key string) string { return j.progress[key] }

// Set keeps progress values for later stages and for a resumed operation, written at once.
func (j *Job) Set(ctx context.Context, kv ...string) error {
	p := make(map[string]string, len(j.progress)+len(kv)/2)
	for k, v := range j.progress {
		p[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	if err := j.save(ctx, p); err != nil {
		return err
	}
	j.progress = p
	return nil
}

// Backend carries out operations on one kind of infrastructure. The engine does not know which backend
// runs: it runs the stages a backend gives, with their limits, retries and bookkeeping.
type Backend interface {
	Name() string
	// Stages returns the stages of an operation of type t, or a ReasonError when the backend cannot do it.
	Stages(t OperationType) ([]Stage, error)
}

// EngineConfig are the engine's limits.
type EngineConfig struct {
	Replica      string        // this replica's name, unique among replicas
	Lease        time.Duration // how long a replica holds an operation without renewing
	Poll         time.Duration // how often a waiting stage is tried again, and operations looked for
	StageTimeout time.Duration // default time limit of a stage
	MaxBackoff   time.Duration // longest pause between retries of a failing stage
}

// Engine runs the operations in progress, each on one replica at a time.
type Engine struct {
	rec      records
	backends map[string]Backend
	cfg      EngineConfig
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex
	running map[string]bool // runtime ids whose operation runs in this replica
	wake    chan struct{}
}

// NewEngine returns an engine over store with the given backends.
func NewEngine(store Store, log *slog.Logger, cfg EngineConfig, backends ...Backend) *Engine {
	e := &Engine{rec: records{store}, backends: map[string]Backend{}, cfg: cfg, log: log, now: time.Now,
		running: map[string]bool{}, wake: make(chan struct{}, 1)}
	for _, b := range backends {
		e.backends[b.Name()] = b
	}
	return e
}

// Backend returns the backend called name.
func (e *Engine) Backend(name string) (Backend, bool) {
	b, ok := e.backends[name]
	return b, ok
}

// Wake makes the engine look for new operations now rather than at its next poll.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Reviver is implemented by backends whose runtimes can stop without an operation (local runtimes stop
// with the machine or the run that started them): Revive starts again what a provisioned runtime should be
// running, and does nothing when it runs.
type Reviver interface {
	Revive(ctx context.Context, job *Job) error
}

// Revive starts again the provisioned runtimes whose backend can tell they stopped: runtimes with no
// operation in progress whose last operation provisioned them (or reconnected them) successfully.
func (e *Engine) Revive(ctx context.Context) {
	after := ""
	for {
		p, err := e.rec.store.List(ctx, runtimeScope, registry.IndexAll, 100, after)
		if err != nil {
			e.log.WarnContext(ctx, "cannot list runtimes to revive", "err", err)
			return
		}
		for _, id := range p.IDs {
			e.reviveOne(ctx, id)
		}
		if !p.HasNextPage {
			return
		}
		after = p.EndCursor
	}
}

func (e *Engine) reviveOne(ctx context.Context, id string) {
	var rec runtimeRecord
	if err := e.rec.store.Get(ctx, runtimeScope, id, &rec); err != nil {
		return
	}
	if rec.Active != nil || rec.Deprovisioned || rec.Hibernated || rec.Last == nil || rec.Last.State != StateSucceeded {
		return
	}
	rv, ok := e.backends[rec.Backend].(Reviver)
	if !ok {
		return
	}
	job := &Job{RuntimeID: rec.ID, Tenant: rec.Tenant, Name: rec.Name, ClusterConfig: rec.ClusterConfig,
		Operation: *rec.Last, Connection: rec.Connection, progress: rec.Progress,
		save: func(ctx context.Context, p map[string]string) error {
			_, err := e.rec.update(ctx, id, func(r *runtimeRecord) ([]registry.Event, error) {
				r.Progress = p
				return nil, nil
			})
			return err
		}}
	if err := rv.Revive(ctx, job); err != nil {
		e.log.WarnContext(ctx, "runtime not revived", "runtime", id, "err", err)
		return
	}
}

// Run looks for operations in progress until ctx ends and runs those no live replica holds: new ones, and
// after a crash the ones the crashed replica held, from the stage they were at.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(e.cfg.Poll)
	defer t.Stop()
	for {
		ids, err := e.rec.active(ctx)
		if err != nil && ctx.Err() == nil {
			e.log.WarnContext(ctx, "cannot list operations in progress", "err", err)
		}
		for _, id := range ids {
			e.mu.Lock()
			busy := e.running[id]
			if !busy {
				e.running[id] = true
			}
			e.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { e.mu.Lock(); delete(e.running, id); e.mu.Unlock() }()
				e.runOne(ctx, id)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.wake:
		}
	}
}

var errLeaseHeld = errors.New("operation held by another replica")

// claim takes or renews this replica's lease on the runtime's operation.
func (e *Engine) claim(ctx context.Context, id string) (*runtimeRecord, error) {
	return e.rec.update(ctx, id, func(rec *runtimeRecord) ([]registry.Event, error) {
		now := e.now().UTC()
		if rec.Active == nil {
			return nil, errNoOperation
		}
		if rec.Holder != "" && rec.Holder != e.cfg.Replica && now.Before(rec.LeaseUntil) {
			return nil, errLeaseHeld
		}
		rec.Holder, rec.LeaseUntil = e.cfg.Replica, now.Add(e.cfg.Lease)
		return nil, nil
	})
}

var errNoOperation = errors.New("no operation in progress")

// runOne runs the operation in progress on runtime id from its current stage to its end, unless another
// replica holds it.
func (e *Engine) runOne(ctx context.Context, id string) {
	rec, err := e.claim(ctx, id)
	switch {
	case errors.Is(err, errLeaseHeld), errors.Is(err, errNoOperation):
		return
	case err != nil:
		if ctx.Err() == nil {
			e.log.WarnContext(ctx, "cannot claim operation", "runtime", id, "err", err)
		}
		return
	}
	op := *rec.Active
	log := e.log.With("runtime", id, "operation", op.ID, "type", op.Type)
	backend, ok := e.backends[rec.Backend]
	if !ok {
		e.finish(ctx, log, id, Permanent(ReasonInternal, ComponentProvisioner, fmt.Errorf("no backend %q in this provisioner", rec.Backend)))
		return
	}
	stages, err := e.plan(backend, op.Type)
	if err != nil {
		e.finish(ctx, log, id, err)
		return
	}
	// Resume at the stage the operation was at; a new operation starts at the first.
	start := 0
	for i, s := range stages {
		if s.Name == op.Stage {
			start = i
		}
	}
	for i := start; i < len(stages); i++ {
		if err := e.runStage(ctx, log, id, stages[i], i == start && op.Stage == stages[i].Name); err != nil {
			if ctx.Err() != nil {
				return // shutting down: the lease runs out and this or another replica resumes
			}
			if errors.Is(err, errLeaseHeld) {
				log.WarnContext(ctx, "lost the operation to another replica")
				return
			}
			e.finish(ctx, log, id, err)
			return
		}
	}
	e.finish(ctx, log, id, nil)
}

// plan adds the engine's own last stage to the backend's: a provisioned runtime is done when its agent
// has connected.
func (e *Engine) plan(b Backend, t OperationType) ([]Stage, error) {
	stages, err := b.Stages(t)
	if err != nil {
		return nil, err
	}
	if t == OperationProvision || t == OperationReconnectRuntime {
		stages = append(stages, Stage{Name: "wait-connected", Message: "waiting for the runtime agent to connect", Component: ComponentAgent,
			Run: func(_ context.Context, job *Job) error {
				// FAILED is no verdict either: a runtime can fail a health round and recover; only the time
				// limit decides.
				if job.Connection == "CONNECTED" {
					return nil
				}
				return ErrWait
			}})
	}
	return stages, nil
}

// runStage enters the stage (unless resuming in it) and runs it until it succeeds, fails for good or runs
// out of time, renewing the lease meanwhile.
func (e *Engine) runStage(ctx context.Context, log *slog.Logger, id string, s Stage, resuming bool) error {
	rec, err := e.rec.update(ctx, id, func(rec *runtimeRecord) ([]registry.Event, error) {
		if rec.Active == nil || rec.Holder != e.cfg.Replica {
			return nil, errLeaseHeld
		}
		now := e.now().UTC()
		rec.LeaseUntil = now.Add(e.cfg.Lease)
		if resuming && !rec.StageStartedAt.IsZero() {
			return nil, nil
		}
		rec.Active.Stage, rec.Active.Message, rec.Active.State, rec.Active.UpdatedAt = s.Name, s.Message, StateInProgress, now
		rec.StageStartedAt = now
		return []registry.Event{operationEvent(rec, rec.Active)}, nil
	})
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "stage", "stage", s.Name, "resumed", resuming)
	limit := s.Timeout
	if limit == 0 {
		limit = e.cfg.StageTimeout
	}
	deadline := rec.StageStartedAt.Add(limit)
	backoff := e.cfg.Poll
	var last error
	for attempt := 0; ; attempt++ {
		job := &Job{RuntimeID: rec.ID, Tenant: rec.Tenant, Name: rec.Name, ClusterConfig: rec.ClusterConfig,
			Operation: *rec.Active, Connection: rec.Connection, progress: rec.Progress,
			save: func(ctx context.Context, p map[string]string) error {
				_, err := e.rec.update(ctx, id, func(r *runtimeRecord) ([]registry.Event, error) {
					if r.Holder != e.cfg.Replica {
						return nil, errLeaseHeld
					}
					r.Progress = p
					return nil, nil
				})
				return err
			}}
		sctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.Run(sctx, job)
		cutShort := sctx.Err() != nil
		cancel()
		var perm *PermanentError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm), errors.Is(err, errLeaseHeld), ctx.Err() != nil:
			return err
		}
		// An attempt cut short by the time limit fails with "deadline exceeded", which says less about why
		// the stage did not finish than the attempt before it.
		if cutShort && last != nil {
			err = last
		}
		last = err
		if !e.now().Before(deadline) {
			msg := fmt.Sprintf("stage %s did not finish within %s", s.Name, limit)
			if !errors.Is(err, ErrWait) {
				msg += ": " + err.Error()
			}
			component := s.Component
			if component == "" {
				component = ComponentProvisioner
			}
			return Permanent(ReasonTimeout, component, errors.New(msg))
		}
		pause := e.cfg.Poll
		if !errors.Is(err, ErrWait) {
			log.WarnContext(ctx, "stage failed; retrying", "stage", s.Name, "attempt", attempt+1, "err", err)
			pause = backoff + time.Duration(rand.Int64N(int64(backoff)/2+1))
			backoff = min(backoff*2, e.cfg.MaxBackoff)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(pause, time.Until(deadline)+time.Millisecond)):
		}
		// Renew the lease and see what changed meanwhile (the Director's view of the runtime, say).
		if rec, err = e.claim(ctx, id); err != nil {
			return err
		}
	}
}

// finish ends the operation in progress: Succeeded when err is nil, Failed with a LastError otherwise.
func (e *Engine) finish(ctx context.Context, log *slog.Logger, id string, err error) {
	var done *Operation
	_, uerr := e.rec.update(ctx, id, func(rec *runtimeRecord) ([]registry.Event, error) {
		if rec.Active == nil {
			return nil, errNoOperation
		}
		now := e.now().UTC()
		op := *rec.Active
		op.UpdatedAt, op.EndedAt = now, &now
		if err == nil {
			op.State, op.Message = StateSucceeded, "done"
			switch op.Type {
			case OperationDeprovision:
				rec.Deprovisioned = true
			case OperationHibernate:
				rec.Hibernated = true
			case OperationProvision:
				rec.Hibernated = false
			}
		} else {
			reason, component := Reason(err)
			var perm *PermanentError
			if errors.As(err, &perm) {
				reason, component = perm.Reason, perm.Component
			}
			op.State = StateFailed
			op.Message = fmt.Sprintf("failed at stage %s", op.Stage)
			op.LastError = &LastError{Message: err.Error(), Reason: reason, Component: component}
		}
		rec.Active, rec.Last, rec.Holder, rec.LeaseUntil, rec.StageStartedAt = nil, &op, "", time.Time{}, time.Time{}
		done = &op
		return []registry.Event{operationEvent(rec, &op)}, nil
	})
	if uerr != nil {
		if !errors.Is(uerr, errNoOperation) && ctx.Err() == nil {
			log.ErrorContext(ctx, "cannot record the end of the operation; it will be resumed", "err", uerr)
		}
		return
	}
	if herr := e.rec.saveOperation(ctx, done); herr != nil {
		log.WarnContext(ctx, "operation history not updated", "err", herr)
	}
	log.InfoContext(ctx, "operation ended", "state", done.State, "lastError", done.LastError)
}
