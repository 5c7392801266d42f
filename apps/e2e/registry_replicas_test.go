package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Two replicas of the Director share one Registry store, each a Registry of its own over its own connection
// to the sidecar, as two pods would be. They register entities under names drawn from a small set, each into
// a label index of its name, all at once: so they collide on index heads, buckets and unique keys that do not
// exist yet (first-write inserts) and on those that do (ETag checks). Whatever words the store behind the
// registry component (MP_E2E_REGISTRY) has for a collision, the loser must read again and retry: every name
// ends with exactly one owner, and the indexes list exactly the owners.
func TestRegistryReplicasShareTheStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var replicas [2]*registry.Registry
	for i := range replicas {
		c, err := dapr.NewClientWithAddressContext(ctx, stack.SidecarGRPC("director"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.WithAuthToken(stack.SidecarToken("director"))
		typ, err := registry.ComponentType(ctx, c, "registry")
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = registry.New(c, "registry", registry.OptionsFor(typ)...)
	}
	s := registry.Scope{Tenant: fmt.Sprintf("replicas-%d", time.Now().UnixNano()), Kind: "widget"}
	const names, workers = 12, 4 // workers per replica, each trying every name once, in the same order
	var mu sync.Mutex
	owners := map[string][]string{}
	var wg sync.WaitGroup
	errs := make(chan error, len(replicas)*workers*names)
	for r, reg := range replicas {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range names {
					name, id := fmt.Sprintf("n%02d", i), fmt.Sprintf("r%d-w%d-%02d", r, w, i)
					err := reg.Mutate(ctx, s, id, "", func(cur []byte) (registry.Change, error) {
						return registry.Change{Data: map[string]string{"name": name}, Indexes: []string{"group:" + name}, Unique: []string{"name:" + name}}, nil
					})
					switch {
					case err == nil:
						mu.Lock()
						owners[name] = append(owners[name], id)
						mu.Unlock()
					case !errors.Is(err, registry.ErrAlreadyExists):
						errs <- fmt.Errorf("replica %d registers %s as %s: %w", r, name, id, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	var all []string
	for i := range names {
		name := fmt.Sprintf("n%02d", i)
		if len(owners[name]) != 1 {
			t.Fatalf("name %s was registered by %v, want exactly one", name, owners[name])
		}
		want := owners[name][0]
		all = append(all, want)
		if got, err := replicas[1].Owner(ctx, s, "name:"+name); err != nil || got != want {
			t.Errorf("owner of %s: %q %v, want %s", name, got, err, want)
		}
		if p, err := replicas[0].List(ctx, s, "group:"+name, 10, ""); err != nil || !slices.Equal(p.IDs, []string{want}) || p.TotalCount != 1 {
			t.Errorf("index of %s: %+v %v, want [%s]", name, p, err, want)
		}
	}
	p, err := replicas[1].List(ctx, s, registry.IndexAll, 100, "")
	slices.Sort(all)
	slices.Sort(p.IDs)
	if err != nil || !slices.Equal(p.IDs, all) || p.TotalCount != names {
		t.Fatalf("all widgets: %v total %d (%v), want %v", p.IDs, p.TotalCount, err, all)
	}
}

// An entity written with a TTL is gone for the Registry once the TTL has passed, on every store, and its id
// can be written again at once: stores delete expired rows lazily (state.postgresql keeps them until its
// hourly clean-up), so a first-write over an expired, not yet deleted row must succeed.
func TestRegistryTTLOnTheStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dapr.NewClientWithAddressContext(ctx, stack.SidecarGRPC("director"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WithAuthToken(stack.SidecarToken("director"))
	typ, err := registry.ComponentType(ctx, c, "registry")
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(c, "registry", registry.OptionsFor(typ)...)
	s := registry.Scope{Tenant: fmt.Sprintf("ttl-%d", time.Now().UnixNano()), Kind: "token"}
	write := func(v string) error {
		return reg.Mutate(ctx, s, "tok", "", func(cur []byte) (registry.Change, error) {
			if cur != nil {
				return registry.Change{}, registry.ErrAlreadyExists
			}
			return registry.Change{Data: v, TTL: time.Second}, nil
		})
	}
	if err := write("first"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := reg.Get(ctx, s, "tok", &got); err != nil || got != "first" {
		t.Fatalf("right after the write: %q %v", got, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for reg.Get(ctx, s, "tok", &got) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s: an entity with a TTL of 1 s still reads after 10 s", typ)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := write("second"); err != nil {
		t.Fatalf("%s: writing an expired id again: %v", typ, err)
	}
	if err := reg.Get(ctx, s, "tok", &got); err != nil || got != "second" {
		t.Fatalf("after writing again: %q %v", got, err)
	}
}
