// Package nrcache keeps a name resolver's answers for a few seconds per app ID, so that a sidecar invoking
// the same app over and over asks its resolver once per TTL instead of once per call.
//
// It exists for components-contrib's sqlite resolver (the plane's local runs, dapr/config.yaml): dapr's
// service invocation calls ResolveID for every request, and that resolver answers each with a query on a
// shared sqlite file through an unbounded database/sql pool. On the gateway's sidecar that was 31% of its CPU,
// and under fleet load thousands of open descriptors on the file and lookups failing on their 1 s timeout.
//
// Every replica of an app must keep getting calls: the sqlite resolver answers one address picked at random
// per query, so a refresh asks it lookupSamples times, keeps every address it heard, and each call picks one
// of those at random, as the uncached resolver would have.
//
// The wrapper does not implement nameresolution.ResolverMulti on purpose: dapr caches the answers of such a
// resolver itself, for a fixed 20 s, and a restarted app on a new port would stay unreachable that long.
package nrcache

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	nr "github.com/dapr/components-contrib/nameresolution"
	"github.com/dapr/kit/logger"
)

const (
	// TTLKey is the key in the resolver's configuration (spec.nameResolution.configuration) that sets how
	// long an answer is kept: a Go duration ("3s", "500ms") or whole seconds; 0 turns the cache off. It is
	// taken out before the configuration reaches the wrapped resolver.
	TTLKey = "cacheTTL"
	// DefaultTTL bounds how long a sidecar keeps calling an app at its old address after the app restarts on
	// another port: every call in that window fails (dapr retries a few times, then returns the error).
	DefaultTTL = 3 * time.Second
	// lookupTimeout bounds a lookup the callers no longer bound (see ResolveID); the sqlite resolver bounds
	// its own queries well below it (its timeout, 1 s by default).
	lookupTimeout = 10 * time.Second
	// lookupSamples is how many times a refresh asks the wrapped resolver: with two replicas of an app, the
	// chance that eight random answers all name the same one is 1 in 128, and it lasts one TTL.
	lookupSamples = 8
)

// Resolver is a nameresolution.Resolver that answers ResolveID from a per-request cache in front of another
// resolver. Only addresses are cached, never errors (an app that is not registered yet is found as soon as it
// is), and concurrent misses for one app share one lookup.
type Resolver struct {
	inner nr.Resolver
	log   logger.Logger
	ttl   time.Duration
	now   func() time.Time // the clock; tests replace it

	mu      sync.Mutex
	entries map[string]entry
	flights map[string]*flight
	swept   time.Time // when expired entries were last dropped
}

type entry struct {
	addrs   []string
	expires time.Time
}

// pick answers one of the addresses at random, spreading calls over an app's replicas.
func pick(addrs []string) string { return addrs[rand.IntN(len(addrs))] }

// flight is one lookup in progress; its result is set before done is closed.
type flight struct {
	done  chan struct{}
	addrs []string
	err   error
}

var _ nr.Resolver = (*Resolver)(nil)

// New wraps inner; the TTL comes from the configuration Init receives.
func New(inner nr.Resolver, log logger.Logger) *Resolver {
	return &Resolver{
		inner:   inner,
		log:     log,
		ttl:     DefaultTTL,
		now:     time.Now,
		entries: map[string]entry{},
		flights: map[string]*flight{},
	}
}

// Init reads the cache's TTL from md's configuration and initializes the wrapped resolver with the rest.
func (r *Resolver) Init(ctx context.Context, md nr.Metadata) error {
	ttl, cfg, err := splitConfig(md.Configuration)
	if err != nil {
		return fmt.Errorf("name resolution cache: %w", err)
	}
	r.ttl = ttl
	md.Configuration = cfg
	if err := r.inner.Init(ctx, md); err != nil {
		return err
	}
	if ttl > 0 {
		r.log.Infof("Name resolution answers are cached for %v per app ID", ttl)
	} else {
		r.log.Info("Name resolution cache is off (cacheTTL 0)")
	}
	return nil
}

// splitConfig takes TTLKey out of a resolver configuration (the map dapr decoded from the Configuration
// resource; its keys are case-insensitive, as dapr's metadata decoding treats them). The map the runtime
// holds is left as it is: the result is a copy.
func splitConfig(cfg any) (time.Duration, any, error) {
	ttl := DefaultTTL
	var raw any
	found := false
	switch m := cfg.(type) {
	case map[string]any:
		cfg, raw, found = without(m, TTLKey)
	case map[string]string:
		cfg, raw, found = without(m, TTLKey)
	}
	if !found {
		return ttl, cfg, nil
	}
	s := strings.TrimSpace(fmt.Sprint(raw))
	if secs, err := strconv.ParseInt(s, 10, 32); err == nil {
		ttl = time.Duration(secs) * time.Second
	} else if ttl, err = time.ParseDuration(s); err != nil {
		return 0, nil, fmt.Errorf("%s %q: not a duration (e.g. 3s) or whole seconds", TTLKey, s)
	}
	if ttl < 0 {
		return 0, nil, fmt.Errorf("%s %q: negative", TTLKey, s)
	}
	return ttl, cfg, nil
}

// without returns a copy of m without key (compared as dapr compares metadata keys, ignoring case), and
// the value it had.
func without[V any](m map[string]V, key string) (map[string]V, any, bool) {
	c := maps.Clone(m)
	var raw any
	found := false
	for k, v := range m {
		if strings.EqualFold(k, key) {
			raw, found = v, true
			delete(c, k)
		}
	}
	return c, raw, found
}

// ResolveID answers from the cache while the app's entry is fresh, and otherwise joins the lookup in
// progress for it or starts one.
//
// The lookup runs apart from the caller that started it: if that caller gives up (its request was
// cancelled), the others waiting for the same app still get the answer. Each caller stops waiting when its
// own context ends.
func (r *Resolver) ResolveID(ctx context.Context, req nr.ResolveRequest) (string, error) {
	if r.ttl <= 0 {
		return r.inner.ResolveID(ctx, req)
	}
	key := req.CacheKey()
	r.mu.Lock()
	if e, ok := r.entries[key]; ok && r.now().Before(e.expires) {
		r.mu.Unlock()
		return pick(e.addrs), nil
	}
	f, ok := r.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		r.flights[key] = f
		go r.lookup(context.WithoutCancel(ctx), key, req, f)
	}
	r.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return "", f.err
		}
		return pick(f.addrs), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// lookup asks the wrapped resolver lookupSamples times and caches the distinct non-empty addresses it
// answered. An error or an empty answer on the first query is the caller's answer, and nothing is cached;
// one on a later query only ends the sampling. The entry's age counts from before the first query, so no
// answer is kept longer than the TTL after the resolver's data was read.
func (r *Resolver) lookup(ctx context.Context, key string, req nr.ResolveRequest, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	started := r.now()
	for i := range lookupSamples {
		addr, err := r.inner.ResolveID(ctx, req)
		if err != nil || addr == "" {
			if i == 0 {
				f.err = err
				if err == nil {
					// What the wrapped resolver said, for dapr to report; never cached.
					f.addrs = []string{""}
				}
			}
			break
		}
		if !slices.Contains(f.addrs, addr) {
			f.addrs = append(f.addrs, addr)
		}
	}

	r.mu.Lock()
	delete(r.flights, key)
	if f.err == nil && len(f.addrs) > 0 && f.addrs[0] != "" {
		r.entries[key] = entry{addrs: f.addrs, expires: started.Add(r.ttl)}
	}
	r.sweep(r.now())
	r.mu.Unlock()
	close(f.done)
}

// sweep drops expired entries, at most once per TTL, so that app IDs no longer called do not pile up.
// The caller holds r.mu.
func (r *Resolver) sweep(now time.Time) {
	if now.Sub(r.swept) < r.ttl {
		return
	}
	r.swept = now
	for k, e := range r.entries {
		if !now.Before(e.expires) {
			delete(r.entries, k)
		}
	}
}

// Close closes the wrapped resolver (the sqlite one removes this sidecar's registration) and forgets every
// answer.
func (r *Resolver) Close() error {
	r.mu.Lock()
	clear(r.entries)
	r.mu.Unlock()
	return r.inner.Close()
}
