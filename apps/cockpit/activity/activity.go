// Package activity keeps what happened lately in each tenant, for the overview's "Recent activity": the
// audit records the plane's apps publish (package audit), the newest per tenant, in memory. A record is
// shown only in its own tenant. Each Cockpit replica hears every record (its own consumer group), and a
// restarted one starts empty: the audit trail itself is the apps' and the log's, this is a window on it.
package activity

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/mgmtplane/mgmtplane/apps/internal/audit"
)

// Feed is the recent activity of every tenant.
type Feed struct {
	mu      sync.Mutex
	size    int
	tenants map[string][]audit.Record // newest last
}

// NewFeed keeps the last size records of each tenant.
func NewFeed(size int) *Feed { return &Feed{size: size, tenants: map[string][]audit.Record{}} }

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
	list := f.tenants[r.Tenant]
	// A record may come twice (redelivery), or a second time with the outcome of a request that failed
	// after changing something: keep the latest of each ID.
	list = slices.DeleteFunc(list, func(x audit.Record) bool { return x.ID == r.ID && x.Outcome == r.Outcome })
	list = append(list, r)
	slices.SortStableFunc(list, func(a, b audit.Record) int { return a.Time.Compare(b.Time) })
	if len(list) > f.size {
		list = list[len(list)-f.size:]
	}
	f.tenants[r.Tenant] = list
	return true
}

// Recent returns the tenant's records, newest first, at most n.
func (f *Feed) Recent(tenant string, n int) []audit.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.tenants[tenant]
	out := make([]audit.Record, 0, min(n, len(list)))
	for i := len(list) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, list[i])
	}
	return out
}
