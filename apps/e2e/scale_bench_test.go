package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/stacktest"
)

// scaleSizes returns the application counts the scale benchmark loads: 1k and MP_BENCH_APPS (100k).
func scaleSizes() []int {
	big := 100000
	if v, err := strconv.Atoi(os.Getenv("MP_BENCH_APPS")); err == nil && v > 0 {
		big = v
	}
	return []int{1000, big}
}

// registryStore names the state store behind the Registry of the stack the benchmarks run on.
func registryStore() string {
	if r := os.Getenv("MP_E2E_REGISTRY"); r != "" {
		return r
	}
	return "sqlite"
}

// loadApplications registers n applications in tenant through the gateway with c concurrent clients and
// returns the registrations per second. Every tenth application has label group=g<k> (k = 0..9), so a
// group filter selects a tenth of the tenant.
func loadApplications(b *testing.B, tenant string, n, c int) float64 {
	b.Helper()
	url := stack.AppURL("gateway") + "/director/graphql"
	h := http.Header{"Authorization": {"Bearer " + userToken(b, tenant)}}
	start := time.Now()
	err := concurrently(n, c, func(i int) error {
		in := map[string]any{"name": fmt.Sprintf("app-%07d", i), "labels": map[string]any{"group": fmt.Sprintf("g%d", i%10)}}
		if err := answerErr(stacktest.GraphQL(context.Background(), url, h, `mutation($in: ApplicationRegisterInput!) { registerApplication(in: $in) { id } }`, map[string]any{"in": in})); err != nil {
			return fmt.Errorf("registration %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

const pageQuery = `query($first: Int, $after: PageCursor, $filter: [LabelFilter!]) {
  applications(first: $first, after: $after, filter: $filter) { data { id name } totalCount pageInfo { endCursor hasNextPage } }
}`

// measurePages runs the page query b.N times and reports p50/p99.
func measurePages(b *testing.B, tenant string, vars map[string]any, wantTotal int) {
	url := stack.AppURL("gateway") + "/director/graphql"
	h := http.Header{"Authorization": {"Bearer " + userToken(b, tenant)}}
	durations := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		r, err := stacktest.GraphQL(context.Background(), url, h, pageQuery, vars)
		durations = append(durations, time.Since(start))
		if err != nil {
			b.Fatalf("page: %v", err)
		}
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			b.Fatalf("page: status %d %s", r.Status, r.Raw)
		}
		var p appPage
		if err := r.Decode(&p); err != nil || p.Applications.TotalCount != wantTotal || len(p.Applications.Data) == 0 {
			b.Fatalf("page: total %d (want %d), %d items, %v", p.Applications.TotalCount, wantTotal, len(p.Applications.Data), err)
		}
	}
	reportLatency(b, durations)
}

// cursorAt walks the list until position pos and returns the cursor there (for a deep page).
func cursorAt(b *testing.B, tenant string, filter any, pos int) string {
	url := stack.AppURL("gateway") + "/director/graphql"
	h := http.Header{"Authorization": {"Bearer " + userToken(b, tenant)}}
	step := min(100, max(1, pos/10))
	after := ""
	for seen := 0; seen+step <= pos; seen += step {
		r, err := stacktest.GraphQL(context.Background(), url, h, pageQuery, map[string]any{"first": step, "after": after, "filter": filter})
		if err != nil || len(r.Errors) > 0 {
			b.Fatalf("walk: %v %s", err, r.Raw)
		}
		var p appPage
		_ = r.Decode(&p)
		after = p.Applications.PageInfo.EndCursor
	}
	return after
}

// BenchmarkApplicationsAtScale loads 1k and 100k applications into one tenant each (and a few thousand
// into a neighbour) and measures applications(first: 100) for the first page, a deep page (90% in), and a
// label-filtered page, through the gateway. Registration throughput is reported as registrations/s. It runs
// on the Registry store MP_E2E_REGISTRY chooses (sqlite, redis, postgres), like the end-to-end suite.
func BenchmarkApplicationsAtScale(b *testing.B) {
	sizes := scaleSizes()
	// The figures depend on the store behind the Registry above all: say which one they are for. (Printed,
	// because the log of a benchmark with sub-benchmarks is not shown.)
	fmt.Printf("BenchmarkApplicationsAtScale: registry store %s (MP_E2E_REGISTRY), sizes %v\n", registryStore(), sizes)
	others := 3000
	// Loading runs once however often the framework calls a sub-benchmark; each call reports its rate.
	once := func(load func(b *testing.B) float64) func(b *testing.B) {
		var o sync.Once
		var rate float64
		return func(b *testing.B) {
			o.Do(func() { rate = load(b) })
			b.ReportMetric(rate, "registrations/s")
		}
	}
	b.Run("neighbour-load", once(func(b *testing.B) float64 {
		return loadApplications(b, fmt.Sprintf("scale-neighbour-%d", time.Now().UnixNano()), others, 8)
	}))
	for _, n := range sizes {
		tenant := fmt.Sprintf("scale-%d-%d", n, time.Now().UnixNano())
		b.Run(fmt.Sprintf("apps=%d/register", n), once(func(b *testing.B) float64 {
			return loadApplications(b, tenant, n, 8)
		}))
		group := []map[string]any{{"key": "group", "query": `$ ? (@ == "g3")`}}
		b.Run(fmt.Sprintf("apps=%d/first-page", n), func(b *testing.B) {
			measurePages(b, tenant, map[string]any{"first": 100}, n)
		})
		deep := cursorAt(b, tenant, nil, n*9/10)
		b.Run(fmt.Sprintf("apps=%d/deep-page", n), func(b *testing.B) {
			measurePages(b, tenant, map[string]any{"first": 100, "after": deep}, n)
		})
		b.Run(fmt.Sprintf("apps=%d/label-filtered-page", n), func(b *testing.B) {
			measurePages(b, tenant, map[string]any{"first": 100, "filter": group}, n/10)
		})
		deepFiltered := cursorAt(b, tenant, group, n/10*9/10)
		b.Run(fmt.Sprintf("apps=%d/label-filtered-deep-page", n), func(b *testing.B) {
			measurePages(b, tenant, map[string]any{"first": 100, "filter": group, "after": deepFiltered}, n/10)
		})
		// The same pages as the Cockpit shows them (50 a page), through the gateway twice: browser to
		// Cockpit, Cockpit to the Director with the user's token.
		user := cockpitUser(b, tenant, "viewer")
		b.Run(fmt.Sprintf("apps=%d/cockpit-first-page", n), func(b *testing.B) {
			measureCockpitPages(b, user, "", n)
		})
		b.Run(fmt.Sprintf("apps=%d/cockpit-deep-page", n), func(b *testing.B) {
			measureCockpitPages(b, user, "after="+url.QueryEscape(deep), n)
		})
		b.Run(fmt.Sprintf("apps=%d/cockpit-label-filtered-page", n), func(b *testing.B) {
			measureCockpitPages(b, user, "filter=group%3Dg3", n/10)
		})
		b.Run(fmt.Sprintf("apps=%d/cockpit-find-by-name", n), func(b *testing.B) {
			measureCockpitSearch(b, user, fmt.Sprintf("APP %07d", n*9/10))
		})
	}
}
