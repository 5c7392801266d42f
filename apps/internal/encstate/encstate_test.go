package encstate_test

import (
	"context"
	"fmt"
	"testing"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/encstate"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"object in %v form", fmt.Sprintf("%v", []byte(`{"a":1}`)), `{"a":1}`},
		{"string in %v form", fmt.Sprintf("%v", []byte(`"id-1"`)), `"id-1"`},
		{"plain object", `{"a":1}`, `{"a":1}`},
		{"json array of objects", `[{"s":1,"id":"x"}]`, `[{"s":1,"id":"x"}]`},
		{"json array of numbers has commas", `[1,2,3]`, `[1,2,3]`},
		{"single number stays json", `[5]`, `[5]`},
		{"number above a byte", `[1 256]`, `[1 256]`},
		{"double space", `[1  2]`, `[1  2]`},
		{"bracket inside", `[1]2]`, `[1]2]`},
		{"empty", ``, ``},
		{"empty list", `[]`, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encstate.Decode([]byte(tt.in))); got != tt.want {
				t.Errorf("Decode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// mangling behaves like daprd (1.16.5, 1.18.1) on an encrypted store: transaction values come back in %v form.
type mangling struct{ *memstate.Store }

func (m mangling) ExecuteStateTransaction(ctx context.Context, store string, meta map[string]string, ops []*dapr.StateOperation) error {
	for _, op := range ops {
		if op.Type == dapr.StateOperationTypeUpsert {
			op.Item.Value = []byte(fmt.Sprintf("%v", op.Item.Value))
		}
	}
	return m.Store.ExecuteStateTransaction(ctx, store, meta, ops)
}

// The registry works on such a store through the adapter: writes, reads, pages and unique keys.
func TestRegistryOverMangledStore(t *testing.T) {
	ctx := context.Background()
	reg := registry.New(encstate.Wrap(mangling{memstate.New()}), "governorstore")
	sc := registry.Scope{Tenant: "t1", Kind: "thing"}
	for _, id := range []string{"a", "b", "c"} {
		err := reg.Mutate(ctx, sc, id, "", func(cur []byte) (registry.Change, error) {
			return registry.Change{Data: map[string]string{"id": id}, Unique: []string{"name:" + id}}, nil
		})
		if err != nil {
			t.Fatalf("mutate %s: %v", id, err)
		}
	}
	var got map[string]string
	if err := reg.Get(ctx, sc, "b", &got); err != nil || got["id"] != "b" {
		t.Fatalf("get b = %v, %v", got, err)
	}
	p, err := reg.List(ctx, sc, registry.IndexAll, 10, "")
	if err != nil || len(p.IDs) != 3 {
		t.Fatalf("list = %+v, %v", p, err)
	}
	if owner, err := reg.Owner(ctx, sc, "name:c"); err != nil || owner != "c" {
		t.Fatalf("owner = %q, %v", owner, err)
	}
	// A second write reads the first back through the adapter, or it would fail to decode.
	err = reg.Mutate(ctx, sc, "a", "", func(cur []byte) (registry.Change, error) {
		return registry.Change{Data: map[string]string{"id": "a", "prev": string(cur)}}, nil
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
}
