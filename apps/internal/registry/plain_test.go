package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

func TestPlainValueIsOneWriteAndReadsBack(t *testing.T) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t1", Kind: "beat"}

	var got item
	if err := r.GetValue(ctx, s, "a", &got); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a value never written: %v", err)
	}
	before := st.total()
	if err := r.PutValue(ctx, s, "a", item{Name: "a", Count: 1}); err != nil {
		t.Fatal(err)
	}
	// One SaveState and nothing else: no read, no transaction, no outbox, no record of the tenant.
	if st.saves.Load() != 1 || st.total()-before != 1 {
		t.Fatalf("a plain write cost %d operations (%d saves), want one save", st.total()-before, st.saves.Load())
	}
	if keys := st.Keys(); len(keys) != 1 || keys[0] != "t/t1/beat/v/a" {
		t.Fatalf("stored keys %v, want only the value's", keys)
	}
	// Last writer wins.
	if err := r.PutValue(ctx, s, "a", item{Name: "a", Count: 2}); err != nil {
		t.Fatal(err)
	}
	if err := r.GetValue(ctx, s, "a", &got); err != nil || got.Count != 2 {
		t.Fatalf("read back %+v %v, want the second write", got, err)
	}
	// Other tenants and kinds do not see it.
	for _, other := range []registry.Scope{{Tenant: "t2", Kind: "beat"}, {Tenant: "t1", Kind: "other"}} {
		if err := r.GetValue(ctx, other, "a", &got); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("%+v sees t1's value: %v", other, err)
		}
	}
}

func TestPlainValuesLiveApartFromEntities(t *testing.T) {
	r := registry.New(memstate.New(), "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t1", Kind: "thing"}
	put(t, r, s, "x", item{Name: "entity"}, "red")
	if err := r.PutValue(ctx, s, "x", item{Name: "value"}); err != nil {
		t.Fatal(err)
	}
	var ent, val item
	if err := r.Get(ctx, s, "x", &ent); err != nil || ent.Name != "entity" {
		t.Fatalf("the entity after a value of the same id: %+v %v", ent, err)
	}
	if err := r.GetValue(ctx, s, "x", &val); err != nil || val.Name != "value" {
		t.Fatalf("the value: %+v %v", val, err)
	}
	if ids := listAll(t, r, s, "red", 10); !slices.Equal(ids, []string{"x"}) {
		t.Fatalf("index after a value write: %v", ids)
	}
	// Deleting the entity still finds its index membership (the envelope was not overwritten).
	if err := r.Mutate(ctx, s, "x", "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if ids := listAll(t, r, s, "red", 10); len(ids) != 0 {
		t.Fatalf("index after deleting the entity: %v", ids)
	}
}

func TestGetValuesReadsInOneBulkAndSkipsMissing(t *testing.T) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t1", Kind: "beat"}
	for i, id := range []string{"a", "c"} {
		if err := r.PutValue(ctx, s, id, item{Name: id, Count: i}); err != nil {
			t.Fatal(err)
		}
	}
	// The same ids in another tenant must not be read.
	if err := r.PutValue(ctx, registry.Scope{Tenant: "t2", Kind: "beat"}, "b", item{Name: "foreign"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := r.GetValues(ctx, s, []string{"c", "b", "a"}, func(id string, data []byte) error {
		var v item
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		if v.Name != id {
			t.Errorf("value of %s is %+v", id, v)
		}
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"c", "a"}) {
		t.Fatalf("read %v, want c and a in the order asked", got)
	}
	if st.bulks.Load() != 1 || st.gets.Load() != 0 {
		t.Fatalf("%d bulk reads and %d gets, want one bulk read", st.bulks.Load(), st.gets.Load())
	}
}

// A plain write does not queue behind the tenant's entity writes: that queue is what a fleet's heartbeats
// used to wait in.
func TestPlainValueDoesNotWaitForTheTenantsWrites(t *testing.T) {
	st := &counting{Store: memstate.New()}
	r := registry.New(st, "registry")
	ctx := context.Background()
	s := registry.Scope{Tenant: "t1", Kind: "thing"}
	put(t, r, s, "warm", item{}) // records the tenant, so the next write goes straight to its queue
	inside, release := make(chan struct{}), make(chan struct{})
	st.inTxn = func() {
		close(inside)
		<-release
	}
	done := make(chan error, 1)
	go func() {
		done <- r.Mutate(ctx, s, "slow", "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: item{Name: "slow"}}, nil
		})
	}()
	<-inside // the entity write holds the tenant's queue now
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.PutValue(wctx, s, "beat", item{Name: "beat"}); err != nil {
		t.Fatalf("a plain write while the tenant's queue is held: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
