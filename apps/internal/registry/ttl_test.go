package registry_test

import (
	"context"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// txnRecorder keeps the operations of every transaction that reaches the store.
type txnRecorder struct {
	*memstate.Store
	ops []*dapr.StateOperation
}

func (r *txnRecorder) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	r.ops = append(r.ops, ops...)
	return r.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

func TestTTLIsPassedToTheStoreAndKeepsTheEntityOutOfIndexes(t *testing.T) {
	ctx := context.Background()
	rec := &txnRecorder{Store: memstate.New()}
	r := registry.New(rec, "store")
	s := registry.Scope{Tenant: "t1", Kind: "token"}

	err := r.Mutate(ctx, s, "tok", "", func([]byte) (registry.Change, error) {
		return registry.Change{Data: item{Name: "x"}, TTL: 1500 * time.Millisecond}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var ttl string
	for _, op := range rec.ops {
		if op.Item.Key == "t/t1/token/e/tok" {
			ttl = op.Item.Metadata["ttlInSeconds"]
		} else if op.Item.Metadata["ttlInSeconds"] != "" {
			t.Errorf("%s got a TTL too", op.Item.Key)
		}
	}
	if ttl != "2" {
		t.Fatalf("ttlInSeconds = %q, want 2 (rounded up)", ttl)
	}
	var got item
	if err := r.Get(ctx, s, "tok", &got); err != nil || got.Name != "x" {
		t.Fatalf("get: %v %+v", err, got)
	}
	if p, err := r.List(ctx, s, registry.IndexAll, 10, ""); err != nil || len(p.IDs) != 0 || p.TotalCount != 0 {
		t.Fatalf("an entity with a TTL is listed: %+v %v", p, err)
	}

	// Deleting it touches no index either.
	if err := r.Mutate(ctx, s, "tok", "", func([]byte) (registry.Change, error) { return registry.Change{}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.Get(ctx, s, "tok", &got); err == nil {
		t.Fatal("deleted entity still there")
	}
}

func TestTTLRefusesIndexesAndUniqueKeys(t *testing.T) {
	r := registry.New(memstate.New(), "store")
	s := registry.Scope{Tenant: "t1", Kind: "token"}
	for name, ch := range map[string]registry.Change{
		"index":  {Data: item{}, TTL: time.Minute, Indexes: []string{"by-x"}},
		"unique": {Data: item{}, TTL: time.Minute, Unique: []string{"x"}},
	} {
		err := r.Mutate(context.Background(), s, name, "", func([]byte) (registry.Change, error) { return ch, nil })
		if err == nil {
			t.Errorf("%s: a TTL entity was allowed to join an index or hold a unique key", name)
		}
	}
}
