package provisioning_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// fakeDirector registers runtimes in memory.
type fakeDirector struct {
	mu           sync.Mutex
	n            int
	unregistered []string
}

func (d *fakeDirector) RegisterRuntime(context.Context, string, string, map[string]any) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.n++
	return "rt-" + string(rune('0'+d.n)), nil
}

func (d *fakeDirector) RequestOneTimeToken(context.Context, string) (string, error) {
	return "tok", nil
}

func (d *fakeDirector) UnregisterRuntime(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unregistered = append(d.unregistered, id)
	return nil
}

// fakeBackend has two stages per operation; each counts its runs, and block makes the second wait.
type fakeBackend struct {
	first, second atomic.Int32
	block         chan struct{} // the second stage waits for it when not nil
	fail          error         // the second stage's error, when set
	timeout       time.Duration
}

func (b *fakeBackend) Name() string { return "fake" }

func (b *fakeBackend) Stages(t provisioning.OperationType) ([]provisioning.Stage, error) {
	if t == provisioning.OperationUpgradeShoot {
		return nil, provisioning.Fail(apperr.CodeInvalidInput, provisioning.ReasonInvalidInput, "fake", "no shoot here")
	}
	return []provisioning.Stage{
		{Name: "one", Message: "first", Run: func(ctx context.Context, job *provisioning.Job) error {
			b.first.Add(1)
			return job.Set(ctx, "one", "done")
		}},
		{Name: "two", Message: "second", Timeout: b.timeout, Run: func(ctx context.Context, job *provisioning.Job) error {
			b.second.Add(1)
			if job.Get("one") != "done" {
				return errors.New("progress of stage one lost")
			}
			if b.block != nil {
				select {
				case <-b.block:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return b.fail
		}},
	}, nil
}

type fixture struct {
	store    *registry.Registry
	director *fakeDirector
	backend  *fakeBackend
	svc      *provisioning.Service
	engine   *provisioning.Engine
	ctx      context.Context
}

var quiet = slog.New(slog.DiscardHandler)

func engineConfig(replica string) provisioning.EngineConfig {
	return provisioning.EngineConfig{Replica: replica, Lease: 300 * time.Millisecond, Poll: 10 * time.Millisecond,
		StageTimeout: 2 * time.Second, MaxBackoff: 50 * time.Millisecond}
}

func newFixture(t *testing.T, b *fakeBackend) *fixture {
	t.Helper()
	store := registry.New(memstate.New(), "provisionerstore")
	d := &fakeDirector{}
	e := provisioning.NewEngine(store, quiet, engineConfig("r1"), b)
	return &fixture{store: store, director: d, backend: b, engine: e, svc: provisioning.NewService(store, e, d, quiet),
		ctx: identity.NewContext(context.Background(), identity.Identity{Tenant: "t1", Subject: "ann", ConsumerType: identity.ConsumerUser})}
}

func (f *fixture) run(t *testing.T, e *provisioning.Engine) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func (f *fixture) waitState(t *testing.T, opID string, want provisioning.OperationState) provisioning.Operation {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		op, err := f.svc.OperationStatus(f.ctx, opID)
		if err != nil {
			t.Fatal(err)
		}
		if op.State == want {
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s is %s at %s (%+v), want %s", opID, op.State, op.Stage, op.LastError, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func provision(t *testing.T, f *fixture) provisioning.Operation {
	t.Helper()
	op, err := f.svc.Provision(f.ctx, provisioning.ProvisionInput{Name: "edge-1", Backend: "fake", ClusterConfig: []byte(`{"localConfig":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return op
}

func TestProvisionRunsTheStagesAndWaitsForTheAgent(t *testing.T) {
	f := newFixture(t, &fakeBackend{})
	f.run(t, f.engine)
	op := provision(t, f)
	if op.State != provisioning.StatePending || op.Type != provisioning.OperationProvision {
		t.Fatalf("new operation: %+v", op)
	}
	// The backend's stages are done, but the agent has not connected: still in progress.
	deadline := time.Now().Add(2 * time.Second)
	for f.backend.second.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if cur, _ := f.svc.OperationStatus(f.ctx, op.ID); cur.State != provisioning.StateInProgress || cur.Stage != "wait-connected" {
		t.Fatalf("before the agent connects: %+v", cur)
	}
	if err := f.svc.RuntimeChanged(context.Background(), op.RuntimeID, "CONNECTED"); err != nil {
		t.Fatal(err)
	}
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	st, err := f.svc.RuntimeStatus(f.ctx, op.RuntimeID)
	if err != nil || st.Connection != provisioning.ConnectionConnected || st.LastOperation.ID != op.ID {
		t.Fatalf("status %+v, %v", st, err)
	}
	if f.backend.first.Load() != 1 || f.backend.second.Load() != 1 {
		t.Fatalf("stages ran %d and %d times", f.backend.first.Load(), f.backend.second.Load())
	}
}

func TestOneOperationPerRuntime(t *testing.T) {
	b := &fakeBackend{block: make(chan struct{})}
	f := newFixture(t, b)
	f.run(t, f.engine)
	op := provision(t, f)
	_, err := f.svc.Deprovision(f.ctx, op.RuntimeID)
	var re *provisioning.ReasonError
	if !errors.As(err, &re) || re.Reason != provisioning.ReasonOperationRunning || provisioning.ErrorCode(err) != 400 {
		t.Fatalf("second operation: %v", err)
	}
	// Concurrent attempts: exactly one wins, the store decides.
	close(b.block)
	_ = f.svc.RuntimeChanged(context.Background(), op.RuntimeID, "CONNECTED")
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.Hibernate(f.ctx, op.RuntimeID); err == nil {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent operations started, want 1", wins.Load())
	}
}

func TestStageTimeoutFailsTheOperation(t *testing.T) {
	f := newFixture(t, &fakeBackend{block: make(chan struct{}), timeout: 100 * time.Millisecond})
	f.run(t, f.engine)
	op := f.waitState(t, provision(t, f).ID, provisioning.StateFailed)
	if op.LastError == nil || op.LastError.Reason != provisioning.ReasonTimeout || op.Stage != "two" {
		t.Fatalf("failed operation: %+v %+v", op, op.LastError)
	}
}

func TestPermanentErrorFailsAtOnce(t *testing.T) {
	f := newFixture(t, &fakeBackend{fail: provisioning.Permanent("err_quota", "fake-cloud", errors.New("quota exceeded"))})
	f.run(t, f.engine)
	op := f.waitState(t, provision(t, f).ID, provisioning.StateFailed)
	if op.LastError.Reason != "err_quota" || op.LastError.Component != "fake-cloud" || op.LastError.Message != "quota exceeded" {
		t.Fatalf("last error %+v", op.LastError)
	}
	if f.backend.second.Load() != 1 {
		t.Fatalf("a permanent error was retried: %d runs", f.backend.second.Load())
	}
}

// A replica that dies mid-operation leaves it to another, which resumes at the stage it was at.
func TestAnotherReplicaResumesAfterACrash(t *testing.T) {
	b := &fakeBackend{block: make(chan struct{})}
	f := newFixture(t, b)
	stop := f.run(t, f.engine)
	op := provision(t, f)
	deadline := time.Now().Add(2 * time.Second)
	for b.second.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop() // the first replica is gone, in the middle of stage two
	close(b.block)
	other := provisioning.NewEngine(f.store, quiet, engineConfig("r2"), b)
	f.run(t, other)
	_ = f.svc.RuntimeChanged(context.Background(), op.RuntimeID, "CONNECTED")
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	if b.first.Load() != 1 || b.second.Load() != 2 {
		t.Fatalf("stage one ran %d times (want 1), stage two %d (want 2: interrupted, resumed)", b.first.Load(), b.second.Load())
	}
}

func TestOtherTenantsSeeNothing(t *testing.T) {
	f := newFixture(t, &fakeBackend{})
	op := provision(t, f)
	other := identity.NewContext(context.Background(), identity.Identity{Tenant: "t2", ConsumerType: identity.ConsumerUser})
	if _, err := f.svc.RuntimeStatus(other, op.RuntimeID); provisioning.ErrorCode(err) != 404 {
		t.Fatalf("status across tenants: %v", err)
	}
	if _, err := f.svc.OperationStatus(other, op.ID); provisioning.ErrorCode(err) != 404 {
		t.Fatalf("operation across tenants: %v", err)
	}
	if _, err := f.svc.Deprovision(other, op.RuntimeID); provisioning.ErrorCode(err) != 404 {
		t.Fatalf("deprovision across tenants: %v", err)
	}
}

func TestDeprovisionUnregistersAndEnds(t *testing.T) {
	f := newFixture(t, &fakeBackend{})
	f.run(t, f.engine)
	op := provision(t, f)
	_ = f.svc.RuntimeChanged(context.Background(), op.RuntimeID, "CONNECTED")
	f.waitState(t, op.ID, provisioning.StateSucceeded)
	dep, err := f.svc.Deprovision(f.ctx, op.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}
	f.waitState(t, dep.ID, provisioning.StateSucceeded)
	if len(f.director.unregistered) != 1 || f.director.unregistered[0] != op.RuntimeID {
		t.Fatalf("unregistered %v", f.director.unregistered)
	}
	ops, err := f.svc.Operations(f.ctx, op.RuntimeID)
	if err != nil || len(ops) != 2 || ops[0].ID != dep.ID || ops[1].ID != op.ID {
		t.Fatalf("operations %+v, %v", ops, err)
	}
	// A deprovisioned runtime takes no more operations.
	if _, err := f.svc.Deprovision(f.ctx, op.RuntimeID); provisioning.ErrorCode(err) != 404 {
		t.Fatalf("second deprovision: %v", err)
	}
	// A backend that cannot do something says so before anything starts.
	if _, err := f.svc.UpgradeShoot(f.ctx, op.RuntimeID, provisioning.UpgradeShootInput{ClusterConfig: []byte(`{}`)}); err == nil {
		t.Fatal("upgrade accepted")
	}
}
