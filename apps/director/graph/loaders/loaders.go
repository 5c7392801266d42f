// Package loaders batches the Director's storage reads within one GraphQL request. Resolvers of a field
// that appears once per parent (an application's bundles, a bundle's API definitions, ...) ask a loader
// here instead of the domain service; the loader collects the keys of all parents resolved at the same
// time and reads them together, so a nested query costs one bulk read per level, not one per parent.
//
// Loaders are made per request by Middleware, so their caches never outlive a request or cross tenants.
package loaders

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/mgmtplane/mgmtplane/apps/director/bundle"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/pairing"
)

// wait is how long a loader collects keys before it reads. gqlgen resolves the fields of a list's
// elements in parallel goroutines, which all ask within microseconds; a few milliseconds is plenty.
const wait = 10 * time.Millisecond

// Loaders are the loaders of one request. Each is made when the request first asks it: most requests
// (application(id), heartbeats, mutations) use none of them, and making all eleven for every request cost
// about fifty allocations and a few percent of the Director's CPU on application(id).
type Loaders struct {
	src   *bundle.Service
	auths SystemAuthSource

	mu            sync.Mutex // held while a loader is made
	bundlePages   lazy[bundle.ListKey, *model.BundlePage]
	bundles       lazy[bundle.ChildKey, *model.Bundle]
	apiPages      lazy[bundle.ListKey, *model.APIDefinitionPage]
	apis          lazy[bundle.ChildKey, *model.APIDefinition]
	eventPages    lazy[bundle.ListKey, *model.EventDefinitionPage]
	events        lazy[bundle.ChildKey, *model.EventDefinition]
	documentPages lazy[bundle.ListKey, *model.DocumentPage]
	documents     lazy[bundle.ChildKey, *model.Document]
	authLists     lazy[string, []*model.BundleInstanceAuth]
	instanceAuths lazy[bundle.ChildKey, *model.BundleInstanceAuth]
	systemAuths   lazy[Consumer, []pairing.SystemAuth]
}

// lazy is a loader made on first use. Resolvers of one request run in parallel, so the first of them
// makes it under Loaders.mu and the others find it made.
type lazy[K comparable, V any] struct {
	p atomic.Pointer[dataloadgen.Loader[K, V]]
}

// get returns the loader over the bundle service's method m (a method expression, so that asking costs
// no allocation once the loader is made).
func (z *lazy[K, V]) get(l *Loaders, m func(*bundle.Service, context.Context, []K) ([]V, []error)) *dataloadgen.Loader[K, V] {
	if ld := z.p.Load(); ld != nil {
		return ld
	}
	src := l.src
	return z.make(&l.mu, func(ctx context.Context, keys []K) ([]V, []error) { return m(src, ctx, keys) })
}

// make makes the loader over fetch unless another resolver just did.
func (z *lazy[K, V]) make(mu *sync.Mutex, fetch func(context.Context, []K) ([]V, []error)) *dataloadgen.Loader[K, V] {
	mu.Lock()
	defer mu.Unlock()
	if ld := z.p.Load(); ld != nil {
		return ld
	}
	ld := dataloadgen.NewLoader(fetch, dataloadgen.WithWait(wait))
	z.p.Store(ld)
	return ld
}

// Consumer names an application, runtime or integration system.
type Consumer struct{ Type, ID string }

// SystemAuthSource lists the system auths (client credentials, one-time token records) of many consumers of
// one type at once (*pairing.Service, which asks the Connector for the credentials).
type SystemAuthSource interface {
	SystemAuths(ctx context.Context, consumerType string, consumerIDs []string) (map[string][]pairing.SystemAuth, error)
}

// systemAuthsOf asks src once per consumer type among keys.
func systemAuthsOf(src SystemAuthSource) func(ctx context.Context, keys []Consumer) ([][]pairing.SystemAuth, []error) {
	return func(ctx context.Context, keys []Consumer) ([][]pairing.SystemAuth, []error) {
		byType := map[string][]string{}
		for _, k := range keys {
			byType[k.Type] = append(byType[k.Type], k.ID)
		}
		found := map[Consumer][]pairing.SystemAuth{}
		for ct, ids := range byType {
			m, err := src.SystemAuths(ctx, ct, ids)
			if err != nil {
				return nil, []error{err}
			}
			for id, as := range m {
				found[Consumer{ct, id}] = as
			}
		}
		out := make([][]pairing.SystemAuth, len(keys))
		for i, k := range keys {
			out[i] = found[k]
		}
		return out, nil
	}
}

// New returns fresh loaders reading through bundles and auths (each made on first use). The fetch
// functions receive the context of the request that asked first, which carries the tenant.
func New(bundles *bundle.Service, auths SystemAuthSource) *Loaders {
	return &Loaders{src: bundles, auths: auths}
}

type ctxKey struct{}

// Middleware gives every request its own loaders over bundles and auths.
func Middleware(next http.Handler, bundles *bundle.Service, auths SystemAuthSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), New(bundles, auths))))
	})
}

// NewContext returns ctx carrying l.
func NewContext(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the loaders of the request in ctx. A request that did not pass Middleware is a wiring bug,
// and it panics, which gqlgen turns into an internal error.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loaders: no loaders in the request context; wrap the GraphQL handler with loaders.Middleware")
	}
	return l
}

// BundlesOf returns a page of an application's bundles.
func (l *Loaders) BundlesOf(ctx context.Context, appID string, first int, after string) (*model.BundlePage, error) {
	return l.bundlePages.get(l, (*bundle.Service).BundlePages).Load(ctx, bundle.ListKey{Parent: appID, First: first, After: after})
}

// BundleOf returns an application's bundle id, or nil when the application has none with that id.
func (l *Loaders) BundleOf(ctx context.Context, appID, id string) (*model.Bundle, error) {
	return l.bundles.get(l, (*bundle.Service).BundlesByID).Load(ctx, bundle.ChildKey{Parent: appID, ID: id})
}

// APIDefinitionsOf returns a page of a bundle's API definitions, of one group unless group is empty.
func (l *Loaders) APIDefinitionsOf(ctx context.Context, bundleID, group string, first int, after string) (*model.APIDefinitionPage, error) {
	return l.apiPages.get(l, (*bundle.Service).APIDefinitionPages).Load(ctx, bundle.ListKey{Parent: bundleID, Group: group, First: first, After: after})
}

// APIDefinitionOf returns a bundle's API definition id, or nil.
func (l *Loaders) APIDefinitionOf(ctx context.Context, bundleID, id string) (*model.APIDefinition, error) {
	return l.apis.get(l, (*bundle.Service).APIDefinitionsByID).Load(ctx, bundle.ChildKey{Parent: bundleID, ID: id})
}

// EventDefinitionsOf returns a page of a bundle's event definitions, of one group unless group is empty.
func (l *Loaders) EventDefinitionsOf(ctx context.Context, bundleID, group string, first int, after string) (*model.EventDefinitionPage, error) {
	return l.eventPages.get(l, (*bundle.Service).EventDefinitionPages).Load(ctx, bundle.ListKey{Parent: bundleID, Group: group, First: first, After: after})
}

// EventDefinitionOf returns a bundle's event definition id, or nil.
func (l *Loaders) EventDefinitionOf(ctx context.Context, bundleID, id string) (*model.EventDefinition, error) {
	return l.events.get(l, (*bundle.Service).EventDefinitionsByID).Load(ctx, bundle.ChildKey{Parent: bundleID, ID: id})
}

// DocumentsOf returns a page of a bundle's documents.
func (l *Loaders) DocumentsOf(ctx context.Context, bundleID string, first int, after string) (*model.DocumentPage, error) {
	return l.documentPages.get(l, (*bundle.Service).DocumentPages).Load(ctx, bundle.ListKey{Parent: bundleID, First: first, After: after})
}

// DocumentOf returns a bundle's document id, or nil.
func (l *Loaders) DocumentOf(ctx context.Context, bundleID, id string) (*model.Document, error) {
	return l.documents.get(l, (*bundle.Service).DocumentsByID).Load(ctx, bundle.ChildKey{Parent: bundleID, ID: id})
}

// InstanceAuthsOf returns all instance auths of a bundle.
func (l *Loaders) InstanceAuthsOf(ctx context.Context, bundleID string) ([]*model.BundleInstanceAuth, error) {
	return l.authLists.get(l, (*bundle.Service).InstanceAuthLists).Load(ctx, bundleID)
}

// InstanceAuthOf returns a bundle's instance auth id, or nil.
func (l *Loaders) InstanceAuthOf(ctx context.Context, bundleID, id string) (*model.BundleInstanceAuth, error) {
	return l.instanceAuths.get(l, (*bundle.Service).InstanceAuthsByID).Load(ctx, bundle.ChildKey{Parent: bundleID, ID: id})
}

// SystemAuthsOf returns the system auths of an application, runtime or integration system: its client
// credentials (without secrets) and the records of one-time tokens issued for it.
func (l *Loaders) SystemAuthsOf(ctx context.Context, consumerType, id string) ([]pairing.SystemAuth, error) {
	ld := l.systemAuths.p.Load()
	if ld == nil {
		ld = l.systemAuths.make(&l.mu, systemAuthsOf(l.auths))
	}
	return ld.Load(ctx, Consumer{Type: consumerType, ID: id})
}
