// Package activity keeps what happened lately in each tenant, for the overview's "Recent activity": the
// audit records the plane's apps publish (package audit), the newest per tenant. A record is shown only in
// its own tenant. Each Cockpit replica hears every record (its own consumer group) and keeps the window in
// memory; with a Store, it also writes each tenant's window there now and then and reads it back the first
// time the tenant is shown, so a restarted or new replica does not start empty. The audit trail itself is
// the apps' and the log's: this is a window on it, and two replicas writing the same window over each other
// lose nothing either would show.
package activity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

// Store keeps each tenant's window between runs (the Cockpit's encrypted state store).
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Save(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// keep is how long a tenant's stored window outlives its last change.
const keep = 30 * 24 * time.Hour

func storeKey(tenant string) string { return "activity/" + tenant }

// Feed is the recent activity of every tenant.
type Feed struct {
	mu      sync.Mutex
	size    int
	tenants map[string][]audit.Record // newest last
	// Store, when set, keeps the windows; Log hears when it fails.
	Store Store
	Log   *slog.Logger
	// loaded are the tenants whose stored window was read; dirty those changed since the last Flush.
	loaded, dirty map[string]bool
}

// NewFeed keeps the last size records of each tenant.
func NewFeed(size int) *Feed {
	return &Feed{size: size, tenants: map[string][]audit.Record{}, loaded: map[string]bool{}, dirty: map[string]bool{}}
}

// routine are the requests too frequent to be news: runtimes' heartbeats and agents' long-polls and
// reports. Their effects (a runtime turning CONNECTED, a configuration APPLIED) show on the pages.
var routine = []string{"heartbeat", "reportConfigurationStatus"}

// Add records an audit record (JSON); it reports false for data that is not one.
func (f *Feed) Add(data []byte) bool {
	var r audit.Record
	if err := json.Unmarshal(data, &r); err != nil || r.Tenant == "" || r.ID == "" {
		return false
	}
	if len(r.Fields) > 0 && !slices.ContainsFunc(r.Fields, func(s string) bool { return !slices.Contains(routine, s) }) {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.merge(r.Tenant, r)
	f.dirty[r.Tenant] = true
	return true
}

// merge adds records to a tenant's window; f.mu is held.
func (f *Feed) merge(tenant string, rs ...audit.Record) {
	list := f.tenants[tenant]
	for _, r := range rs {
		// A record may come twice (redelivery, or read back from the store), or a second time with the
		// outcome of a request that failed after changing something: keep one of each ID and outcome.
		list = slices.DeleteFunc(list, func(x audit.Record) bool { return x.ID == r.ID && x.Outcome == r.Outcome })
		list = append(list, r)
	}
	slices.SortStableFunc(list, func(a, b audit.Record) int { return a.Time.Compare(b.Time) })
	if len(list) > f.size {
		list = list[len(list)-f.size:]
	}
	f.tenants[tenant] = list
}

// Recent returns the tenant's records, newest first, at most n. The first time a tenant is shown, its
// stored window is read and joined to what this replica heard; if the store cannot be read, the page
// shows what is in memory and the next one tries again.
func (f *Feed) Recent(ctx context.Context, tenant string, n int) []audit.Record {
	f.load(ctx, tenant)
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.tenants[tenant]
	out := make([]audit.Record, 0, min(n, len(list)))
	for i := len(list) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, list[i])
	}
	return out
}

func (f *Feed) load(ctx context.Context, tenant string) {
	if f.Store == nil {
		return
	}
	f.mu.Lock()
	done := f.loaded[tenant]
	f.mu.Unlock()
	if done {
		return
	}
	raw, err := f.Store.Get(ctx, storeKey(tenant))
	var stored []audit.Record
	if err == nil && len(raw) > 0 {
		err = json.Unmarshal(raw, &stored)
	}
	if err != nil {
		f.logError("read recent activity", tenant, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded[tenant] {
		f.merge(tenant, stored...)
		f.loaded[tenant] = true
		if len(stored) < len(f.tenants[tenant]) {
			f.dirty[tenant] = true // what was heard before the read is not stored yet
		}
	}
}

// Flush writes the windows that changed since the last Flush. A window is written whole; one whose
// stored part was never read is read first, so that writing it loses nothing stored before this run.
func (f *Feed) Flush(ctx context.Context) error {
	if f.Store == nil {
		return nil
	}
	f.mu.Lock()
	tenants := make([]string, 0, len(f.dirty))
	for t := range f.dirty {
		tenants = append(tenants, t)
	}
	f.mu.Unlock()
	var errs []error
	for _, t := range tenants {
		f.load(ctx, t)
		f.mu.Lock()
		if !f.loaded[t] {
			f.mu.Unlock()
			errs = append(errs, fmt.Errorf("tenant %s: its stored activity could not be read", t))
			continue
		}
		raw, err := json.Marshal(f.tenants[t])
		delete(f.dirty, t)
		f.mu.Unlock()
		if err == nil {
			err = f.Store.Save(ctx, storeKey(t), raw, keep)
		}
		if err != nil {
			f.mu.Lock()
			f.dirty[t] = true
			f.mu.Unlock()
			errs = append(errs, fmt.Errorf("tenant %s: %w", t, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("store recent activity: %w", errors.Join(errs...))
	}
	return nil
}

// Run flushes every interval until ctx ends, and once more then, with a short deadline of its own.
func (f *Feed) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			end, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := f.Flush(end); err != nil {
				f.logError("flush on shutdown", "", err)
			}
			cancel()
			return
		case <-t.C:
			if err := f.Flush(ctx); err != nil {
				f.logError("flush", "", err)
			}
		}
	}
}

func (f *Feed) logError(msg, tenant string, err error) {
	if f.Log != nil {
		f.Log.Warn(msg, "tenant", tenant, "err", err)
	}
}
