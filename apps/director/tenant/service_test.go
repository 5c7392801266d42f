package tenant_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/tenant"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

func as(t string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Tenant: t})
}

func TestEnsure(t *testing.T) {
	tests := []struct {
		name    string
		calls   []string // tenants calling Ensure, in order
		want    []string // tenants listed afterwards
		txns    int      // state transactions the calls may make (besides the registry's own bookkeeping)
		errCode apperr.Code
	}{
		{"none", nil, []string{}, 0, ""},
		{"one tenant", []string{"t1"}, []string{"t1"}, 1, ""},
		{"repeated calls write once", []string{"t1", "t1", "t1"}, []string{"t1"}, 1, ""},
		{"in order first seen", []string{"b", "a", "b", "c"}, []string{"b", "a", "c"}, 3, ""},
		{"no tenant", []string{""}, []string{}, 0, apperr.CodeUnauthenticated},
		{"invalid tenant", []string{"a/b"}, []string{}, 0, apperr.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memstate.New()
			reg := registry.New(st, "registry")
			s := tenant.NewService(reg)
			// The registry records, once, that the global scope holds data; do that write up front so
			// only Ensure's own writes are counted.
			if err := reg.Mutate(context.Background(), registry.GlobalScope("warmup"), "x", "", func([]byte) (registry.Change, error) {
				return registry.Change{Data: 1}, nil
			}); err != nil {
				t.Fatal(err)
			}
			base := st.Txns
			for _, c := range tt.calls {
				err := s.Ensure(as(c))
				if tt.errCode != "" {
					if apperr.CodeOf(err) != tt.errCode {
						t.Fatalf("Ensure(%q) = %v, want %s", c, err, tt.errCode)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if st.Txns-base != tt.txns {
				t.Fatalf("%d transactions, want %d", st.Txns-base, tt.txns)
			}
			got, err := s.List(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("listed %d tenants, want %v", len(got), tt.want)
			}
			for i, tn := range got {
				if tn.ID != tt.want[i] || tn.InternalID != tt.want[i] || *tn.Name != tt.want[i] || !*tn.Initialized {
					t.Fatalf("tenant %d = %+v, want %s", i, tn, tt.want[i])
				}
			}
		})
	}
}

func TestEnsureConcurrentAndAcrossReplicas(t *testing.T) {
	st := memstate.New()
	reg := registry.New(st, "registry")
	replicas := []*tenant.Service{tenant.NewService(reg), tenant.NewService(reg)}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := replicas[i%2].Ensure(as("shared")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := replicas[0].List(context.Background())
	if err != nil || len(got) != 1 || got[0].ID != "shared" {
		t.Fatalf("list = %+v, %v", got, err)
	}
	before := st.Txns
	for _, s := range replicas {
		if err := s.Ensure(as("shared")); err != nil {
			t.Fatal(err)
		}
	}
	if st.Txns != before {
		t.Fatalf("known tenant written again")
	}
}

func TestListManyPages(t *testing.T) {
	s := tenant.NewService(registry.New(memstate.New(), "registry"))
	for i := range 450 {
		if err := s.Ensure(as("t" + string(rune('a'+i%26)) + string(rune('a'+i/26)))); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(context.Background())
	if err != nil || len(got) != 450 {
		t.Fatalf("listed %d, %v", len(got), err)
	}
}
