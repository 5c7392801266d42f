package registry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	dapr "github.com/dapr/go-sdk/client"
)

// Some state stores run a transaction's ETag checks one operation at a time and do not roll back the rest
// when one fails (state.redis runs them as separate scripts inside MULTI). On those, the registry first takes
// a per-tenant lock, so no other writer can make a check fail half-way; the transaction then applies whole.

// Option configures a Registry.
type Option func(*Registry)

// WithTenantLocks makes every write take its tenant's lock first. Use it for stores whose transactions are
// not atomic under ETag failures.
func WithTenantLocks() Option { return func(r *Registry) { r.locks = true } }

// lockTTL bounds how long a crashed writer can hold a lock.
const lockTTL = 10 * time.Second

func lockKey(tenant string) string { return "t/" + tenant + "/_lock" }

// lock takes the tenant's lock, waiting for it at most until ctx ends or lockTTL passes.
func (r *Registry) lock(ctx context.Context, tenant string) (func(), error) {
	if !r.locks {
		return func() {}, nil
	}
	key := lockKey(tenant)
	meta := map[string]string{"ttlInSeconds": fmt.Sprint(int(lockTTL.Seconds()))}
	deadline := time.Now().Add(lockTTL)
	for attempt := 0; ; attempt++ {
		// First-write without an ETag succeeds only when the key does not exist.
		err := r.api.SaveState(ctx, r.store, key, []byte(`1`), meta, dapr.WithConcurrency(dapr.StateConcurrencyFirstWrite))
		if err == nil {
			return func() {
				// Released with a fresh context: the caller's may be done, and a kept lock stalls the tenant.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = r.api.DeleteState(ctx, r.store, key, nil)
			}, nil
		}
		if !isETagMismatch(err) {
			return nil, fmt.Errorf("lock tenant %s: %w", tenant, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("lock tenant %s: %w", tenant, ErrContention)
		}
		d := time.Duration(1+rand.IntN(2<<min(attempt, 5))) * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// atomicStores are the state store types whose transactions are all-or-nothing, ETag checks included.
// Any other type gets tenant locks: slower, but correct.
var atomicStores = map[string]bool{
	"state.sqlite": true, "state.postgresql": true, "state.postgres": true, "state.mysql": true,
	"state.cockroachdb": true, "state.sqlserver": true, "state.oracledatabase": true, "state.in-memory": true,
}

// OptionsFor returns the options suited to a state store of componentType (for example "state.redis"), as
// reported by the sidecar's metadata API.
func OptionsFor(componentType string) []Option {
	var opts []Option
	if !atomicStores[componentType] {
		opts = append(opts, WithTenantLocks())
	}
	if componentType == "state.sqlite" {
		opts = append(opts, WithBoundedState(sqliteWriters, sqliteReaders))
	}
	return opts
}

// MetadataAPI is the sidecar's metadata API; *dapr.GRPCClient implements it.
type MetadataAPI interface {
	GetMetadata(ctx context.Context) (*dapr.GetMetadataResponse, error)
}

// ComponentType asks the sidecar which type the component name has (state.sqlite, state.redis, ...), to
// choose OptionsFor it.
func ComponentType(ctx context.Context, md MetadataAPI, name string) (string, error) {
	resp, err := md.GetMetadata(ctx)
	if err != nil {
		return "", fmt.Errorf("sidecar metadata: %w", err)
	}
	for _, c := range resp.RegisteredComponents {
		if c.Name == name {
			return c.Type, nil
		}
	}
	return "", fmt.Errorf("the sidecar has no component %q: check components/ and the component's scopes", name)
}
