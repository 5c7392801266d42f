package runtimes

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// countingStore counts the state operations that reach the store, as the Director's sidecar would.
type countingStore struct {
	*memstate.Store
	mu  sync.Mutex
	ops map[string]int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops[op]++
}

func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.ops {
		out[k] = v
	}
	return out
}

func (c *countingStore) GetState(ctx context.Context, store, key string, meta map[string]string) (*dapr.StateItem, error) {
	c.count("get")
	return c.Store.GetState(ctx, store, key, meta)
}

func (c *countingStore) GetBulkState(ctx context.Context, store string, keys []string, meta map[string]string, p int32) ([]*dapr.BulkStateItem, error) {
	c.count("bulk")
	return c.Store.GetBulkState(ctx, store, keys, meta, p)
}

func (c *countingStore) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	c.count("transaction")
	return c.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

func (c *countingStore) SaveState(ctx context.Context, store, key string, data []byte, meta map[string]string, so ...dapr.StateOption) error {
	c.count("save")
	return c.Store.SaveState(ctx, store, key, data, meta, so...)
}

func (c *countingStore) DeleteState(ctx context.Context, store, key string, meta map[string]string) error {
	c.count("delete")
	return c.Store.DeleteState(ctx, store, key, meta)
}

// clock is a settable time for the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type beatFixture struct {
	st  *countingStore
	reg *registry.Registry
	rts *Service
	clk *clock
}

func newBeatFixture() beatFixture {
	st := &countingStore{Store: memstate.New(), ops: map[string]int{}}
	reg := registry.New(st, "registry")
	rts := NewService(reg, label.NewDefinitions(reg))
	clk := &clock{t: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	rts.now = clk.now
	return beatFixture{st: st, reg: reg, rts: rts, clk: clk}
}

func (f beatFixture) register(t *testing.T, ctx context.Context, name string, cond *model.RuntimeStatusCondition) *model.Runtime {
	t.Helper()
	rt, err := f.rts.Register(ctx, model.RuntimeInput{Name: name, StatusCondition: cond})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return rt
}

func (f beatFixture) beat(t *testing.T, tenant, id string) *model.Runtime {
	t.Helper()
	rt, err := f.rts.Heartbeat(directortest.Runtime(tenant, id), id)
	if err != nil {
		t.Fatalf("heartbeat of %s: %v", id, err)
	}
	return rt
}

func (f beatFixture) condition(t *testing.T, ctx context.Context, id string) model.RuntimeStatusCondition {
	t.Helper()
	rt, err := f.rts.objs.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rt.Status.Condition
}

// outboxTopics lists the topics of the events waiting in the store's outboxes (no relay runs in these
// tests, so every event written is still there).
func (f beatFixture) outboxTopics(t *testing.T) []string {
	t.Helper()
	var topics []string
	for _, k := range f.st.Keys() {
		if !strings.Contains(k, "/outbox/e/") {
			continue
		}
		it, _ := f.st.GetState(context.Background(), "registry", k, nil)
		var env struct {
			Data struct {
				Events []struct {
					Topic string `json:"topic"`
				} `json:"events"`
			} `json:"data"`
		}
		if err := json.Unmarshal(it.Value, &env); err != nil {
			t.Fatal(err)
		}
		for _, e := range env.Data.Events {
			topics = append(topics, e.Topic)
		}
	}
	slices.Sort(topics)
	return topics
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// A steady heartbeat is one read of the runtime and one plain write: no transaction, no tenant queue, and
// nothing in the outbox, not even the audit record of the mutation it came in (that rides only on a
// registry write). The heartbeat that changes the condition still writes the runtime with its
// runtime.updated event, and carries the audit record.
func TestHeartbeatIsOneReadAndOneWrite(t *testing.T) {
	f := newBeatFixture()
	admin := directortest.Tenant("t1")
	rt := f.register(t, admin, "beating", nil)
	f.beat(t, "t1", rt.ID) // records the tenant's outbox once, as any first write of a process does

	// A runtime that is not CONNECTED: the heartbeat turns it CONNECTED through setStatus, audited.
	failed := "test"
	if _, err := f.rts.setStatus(admin, rt.ID, model.RuntimeStatusConditionFailed, &failed); err != nil {
		t.Fatal(err)
	}
	topicsBefore := f.outboxTopics(t)
	ctx, audited := registry.WithFirstWrite(directortest.Runtime("t1", rt.ID), registry.Event{Topic: "audit", Data: "heartbeat"})
	got, err := f.rts.Heartbeat(ctx, rt.ID)
	if err != nil || got.Status.Condition != model.RuntimeStatusConditionConnected {
		t.Fatalf("heartbeat of a FAILED runtime: %+v %v", got, err)
	}
	if !audited.Written() {
		t.Fatal("the heartbeat that changed the condition wrote no audit record")
	}
	if added := delta(f.outboxTopics(t), topicsBefore); !slices.Equal(added, []string{"audit", "runtime.updated"}) {
		t.Fatalf("a condition change put %v into the outbox, want its audit record and runtime.updated", added)
	}

	// A CONNECTED runtime: one get, one save; nothing in the outbox.
	topicsBefore = f.outboxTopics(t)
	before := f.st.snapshot()
	ctx, audited = registry.WithFirstWrite(directortest.Runtime("t1", rt.ID), registry.Event{Topic: "audit", Data: "heartbeat"})
	f.clk.advance(10 * time.Second)
	if _, err := f.rts.Heartbeat(ctx, rt.ID); err != nil {
		t.Fatal(err)
	}
	if ops := diff(f.st.snapshot(), before); fmt.Sprint(ops) != fmt.Sprint(map[string]int{"get": 1, "save": 1}) {
		t.Fatalf("a steady heartbeat cost %v, want one get and one save", ops)
	}
	if audited.Written() {
		t.Fatal("a steady heartbeat took the audit record into the registry")
	}
	if added := delta(f.outboxTopics(t), topicsBefore); len(added) != 0 {
		t.Fatalf("a steady heartbeat put %v into the outbox", added)
	}
	if last, err := f.rts.LastHeartbeat(admin, rt.ID); err != nil || last == nil || !last.Equal(f.clk.now()) {
		t.Fatalf("last heartbeat %v %v, want %v", last, err, f.clk.now())
	}
}

// delta returns what after has beyond before (both sorted).
func delta(after, before []string) []string {
	var out []string
	for _, s := range after {
		if i := slices.Index(before, s); i >= 0 {
			before = slices.Delete(slices.Clone(before), i, i+1)
			continue
		}
		out = append(out, s)
	}
	return out
}

// The health round pages the runtimes (more than one page here) and fails exactly the CONNECTED ones
// whose heartbeat is too old; a runtime that never beat is left alone, as are runtimes of other tenants.
func TestCheckHeartbeatsFindsEveryStaleConnectedRuntime(t *testing.T) {
	f := newBeatFixture()
	admin := directortest.Tenant("t1")
	connectedCond := model.RuntimeStatusConditionConnected
	var fresh, stale, never []string
	for i := range checkPage + 30 {
		switch i % 3 {
		case 0:
			stale = append(stale, f.beat(t, "t1", f.register(t, admin, fmt.Sprintf("stale-%d", i), nil).ID).ID)
		case 1:
			fresh = append(fresh, f.register(t, admin, fmt.Sprintf("fresh-%d", i), nil).ID)
		case 2:
			never = append(never, f.register(t, admin, fmt.Sprintf("never-%d", i), &connectedCond).ID)
		}
	}
	// Another tenant's runtime, as stale as the stale ones.
	other := f.beat(t, "t2", f.register(t, directortest.Tenant("t2"), "elsewhere", nil).ID)

	f.clk.advance(time.Minute)
	for _, id := range fresh {
		f.beat(t, "t1", id)
	}
	f.clk.advance(20 * time.Second)
	if err := f.rts.CheckHeartbeats(admin, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, id := range stale {
		rt, _ := f.rts.objs.Get(admin, id)
		if rt.Status.Condition != model.RuntimeStatusConditionFailed || rt.Status.Reason == nil ||
			*rt.Status.Reason != "no heartbeat since 2026-12-02T10:00:00Z" {
			t.Fatalf("stale runtime %s: %+v", rt.Name, rt.Status)
		}
	}
	for _, id := range append(slices.Clone(fresh), never...) {
		if c := f.condition(t, admin, id); c != model.RuntimeStatusConditionConnected {
			t.Fatalf("runtime %s is %s, want CONNECTED", id, c)
		}
	}
	if c := f.condition(t, directortest.Tenant("t2"), other.ID); c != model.RuntimeStatusConditionConnected {
		t.Fatalf("t1's health round touched t2's runtime: %s", c)
	}
	// A FAILED runtime is not failed again (no new event), and the next heartbeat brings it back.
	topics := f.outboxTopics(t)
	if err := f.rts.CheckHeartbeats(admin, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if added := delta(f.outboxTopics(t), topics); len(added) != 0 {
		t.Fatalf("a second round announced %v", added)
	}
	if got := f.beat(t, "t1", stale[0]); got.Status.Condition != model.RuntimeStatusConditionConnected {
		t.Fatalf("heartbeat after failure: %+v", got.Status)
	}
}

// A runtime that beat, or changed condition, after the round read its page is not failed for what the
// page said.
func TestFailSilentLooksAgain(t *testing.T) {
	f := newBeatFixture()
	admin := directortest.Tenant("t1")
	hsc := registry.Scope{Tenant: "t1", Kind: HeartbeatKind}
	rt := f.beat(t, "t1", f.register(t, admin, "late", nil).ID)
	f.clk.advance(time.Minute)
	f.beat(t, "t1", rt.ID) // arrives between the page and the write
	if err := f.rts.failSilent(admin, hsc, rt.ID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := f.condition(t, admin, rt.ID); c != model.RuntimeStatusConditionConnected {
		t.Fatalf("failed despite a fresh heartbeat: %s", c)
	}
	f.clk.advance(time.Minute)
	unknown := model.RuntimeStatusConditionProvisioning
	if _, err := f.rts.setStatus(admin, rt.ID, unknown, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.rts.failSilent(admin, hsc, rt.ID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := f.condition(t, admin, rt.ID); c != unknown {
		t.Fatalf("a runtime that left CONNECTED was failed: %s", c)
	}
}

// Heartbeats stored before heartbeats became plain values (entities of HeartbeatKind, with an index) are
// still read: by lastHeartbeat and by the health round, until the runtime's next heartbeat replaces them.
func TestHeartbeatsStoredTheOldWayStillCount(t *testing.T) {
	f := newBeatFixture()
	admin := directortest.Tenant("t1")
	connectedCond := model.RuntimeStatusConditionConnected
	oldSilent := f.register(t, admin, "old-silent", &connectedCond)
	oldBeating := f.register(t, admin, "old-beating", &connectedCond)
	sc := registry.Scope{Tenant: "t1", Kind: HeartbeatKind}
	start := f.clk.now()
	for _, id := range []string{oldSilent.ID, oldBeating.ID} {
		// What Heartbeat wrote before.
		err := f.reg.Mutate(admin, sc, id, "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: heartbeat{RuntimeID: id, Last: start}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if last, err := f.rts.LastHeartbeat(admin, oldSilent.ID); err != nil || last == nil || !last.Equal(start) {
		t.Fatalf("an old heartbeat reads as %v %v", last, err)
	}
	if last, _ := f.rts.LastHeartbeat(directortest.Tenant("t2"), oldSilent.ID); last != nil {
		t.Fatal("another tenant reads the old heartbeat")
	}
	f.clk.advance(time.Minute)
	f.beat(t, "t1", oldBeating.ID) // the new value wins over the old entity
	if last, _ := f.rts.LastHeartbeat(admin, oldBeating.ID); last == nil || !last.Equal(f.clk.now()) {
		t.Fatalf("after a new heartbeat: %v, want %v", last, f.clk.now())
	}
	if err := f.rts.CheckHeartbeats(admin, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if c := f.condition(t, admin, oldSilent.ID); c != model.RuntimeStatusConditionFailed {
		t.Fatalf("a runtime silent since its old heartbeat is %s, want FAILED", c)
	}
	if c := f.condition(t, admin, oldBeating.ID); c != model.RuntimeStatusConditionConnected {
		t.Fatalf("a runtime beating since is %s, want CONNECTED", c)
	}
}

// Heartbeats handed over together: the CONNECTED runtimes of the tenant among them cost one bulk read and
// one transaction whatever their number, and show as each runtime's lastHeartbeat; a runtime that is not
// CONNECTED, one of another tenant and one that does not exist are left for the single path, untouched.
func TestHeartbeatManyWritesTheSteadyOnesTogether(t *testing.T) {
	f := newBeatFixture()
	admin := directortest.Tenant("t1")
	connected := model.RuntimeStatusConditionConnected
	var ids []string
	for i := range 3 {
		ids = append(ids, f.register(t, admin, fmt.Sprintf("steady-%d", i), &connected).ID)
	}
	initial := f.register(t, admin, "initial", nil)
	foreign := f.register(t, directortest.Tenant("t2"), "foreign", &connected)

	before := f.st.snapshot()
	f.clk.advance(time.Minute)
	recorded, err := f.rts.HeartbeatMany(context.Background(), "t1", append(slices.Clone(ids), initial.ID, foreign.ID, "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if ops := diff(f.st.snapshot(), before); fmt.Sprint(ops) != fmt.Sprint(map[string]int{"bulk": 1, "transaction": 1}) {
		t.Fatalf("three heartbeats together cost %v, want one bulk read and one transaction", ops)
	}
	if len(recorded) != 3 {
		t.Fatalf("recorded %v, want the three CONNECTED runtimes of t1", recorded)
	}
	for _, id := range ids {
		if last, err := f.rts.LastHeartbeat(admin, id); err != nil || last == nil || !last.Equal(f.clk.now()) {
			t.Errorf("%s: last heartbeat %v %v, want %v", id, last, err, f.clk.now())
		}
	}
	if last, err := f.rts.LastHeartbeat(admin, initial.ID); err != nil || last != nil {
		t.Errorf("the INITIAL runtime got a heartbeat (%v %v); its first one must go through Heartbeat", last, err)
	}
	if last, err := f.rts.LastHeartbeat(directortest.Tenant("t2"), foreign.ID); err != nil || last != nil {
		t.Errorf("another tenant's runtime got a heartbeat: %v %v", last, err)
	}
	if f.condition(t, admin, initial.ID) != model.RuntimeStatusConditionInitial {
		t.Error("the INITIAL runtime's condition changed")
	}
}
