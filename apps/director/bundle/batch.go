package bundle

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// The methods in this file answer many lookups at once, for the per-request dataloaders of the GraphQL
// layer: a query over many applications or bundles costs one bulk read of entities per level instead of one
// read per parent. Each takes the keys of one batch and returns one result (or error) per key, in order.

// ListKey names one page of the children of a parent: an application's bundles, or a bundle's definitions.
type ListKey struct {
	Parent string
	// Group keeps only the definitions of one group; empty keeps all. Bundles and documents ignore it.
	Group string
	First int
	After string
}

// ChildKey names an entity by id that must belong to Parent; it is looked up as null otherwise.
type ChildKey struct {
	Parent string
	ID     string
}

type page[T any] struct {
	items []*T
	info  *model.PageInfo
	total int
}

// listPages reads one page per key. The registry reads one index per call, so the index pages are read
// side by side; every entity on every page then comes in one bulk read.
func listPages[T any](ctx context.Context, st Store, kind string, keys []ListKey, index func(ListKey) string) ([]page[T], []error) {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, []error{err}
	}
	errs := make([]error, len(keys))
	var reqs []registry.ListRequest
	var at []int // position in keys of each request
	for i, k := range keys {
		if errs[i] = checkPage(k.First); errs[i] != nil {
			continue
		}
		if errs[i] = registry.CheckCursor(k.After); errs[i] != nil {
			errs[i] = listErr(kind, errs[i])
			continue
		}
		reqs = append(reqs, registry.ListRequest{Index: index(k), First: k.First, After: k.After})
		at = append(at, i)
	}
	// All parents' index pages in one batched read.
	listed, err := st.ListMany(ctx, sc, reqs)
	if err != nil {
		err = listErr(kind, err)
		for _, i := range at {
			errs[i] = err
		}
	}
	pages := make([]registry.Page, len(keys))
	for n, i := range at {
		if err == nil {
			pages[i] = listed[n]
		}
	}

	var ids []string
	for i := range pages {
		ids = append(ids, pages[i].IDs...)
	}
	byID, err := getMany[T](ctx, st, sc, ids)
	if err != nil {
		return nil, []error{err}
	}
	out := make([]page[T], len(keys))
	for i, p := range pages {
		items := make([]*T, 0, len(p.IDs))
		for _, id := range p.IDs {
			// An entity deleted between the two reads is left out.
			if v, ok := byID[id]; ok {
				items = append(items, v)
			}
		}
		out[i] = page[T]{
			items: items,
			info:  model.NewPageInfo(keys[i].After, p.EndCursor, p.HasNextPage),
			total: int(p.TotalCount),
		}
	}
	return out, errs
}

// getMany reads entities in one bulk read, keyed by id; missing ones are absent.
func getMany[T any](ctx context.Context, st Store, sc registry.Scope, ids []string) (map[string]*T, error) {
	seen := make(map[string]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	byID := make(map[string]*T, len(uniq))
	err := st.GetMany(ctx, sc, uniq, func(id string, data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("decode %s %s: %w", sc.Kind, id, err)
		}
		byID[id] = v
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %d %s: %w", len(uniq), sc.Kind, err)
	}
	return byID, nil
}

// getChildren looks entities up by id in one bulk read; those missing or of another parent are nil.
func getChildren[T any, PT interface {
	*T
	parent() string
}](ctx context.Context, st Store, kind string, keys []ChildKey) ([]PT, []error) {
	sc, err := registry.TenantScope(ctx, kind)
	if err != nil {
		return nil, []error{err}
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	byID, err := getMany[T](ctx, st, sc, ids)
	if err != nil {
		return nil, []error{err}
	}
	out := make([]PT, len(keys))
	for i, k := range keys {
		if v, ok := byID[k.ID]; ok && PT(v).parent() == k.Parent {
			out[i] = v
		}
	}
	return out, nil
}

func convert[T, M any](in []*T, f func(*T) *M) []*M {
	out := make([]*M, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func groupedIndex(k ListKey) string {
	if k.Group != "" {
		return groupIndex(k.Parent, k.Group)
	}
	return bundleIndex(k.Parent)
}

// BundlePages returns a page of bundles of each application.
func (s *Service) BundlePages(ctx context.Context, keys []ListKey) ([]*model.BundlePage, []error) {
	pages, errs := listPages[bundleRecord](ctx, s.store, KindBundle, keys, func(k ListKey) string { return appIndex(k.Parent) })
	if pages == nil {
		return nil, errs
	}
	out := make([]*model.BundlePage, len(pages))
	for i, p := range pages {
		out[i] = &model.BundlePage{Data: convert(p.items, (*bundleRecord).model), PageInfo: p.info, TotalCount: p.total}
	}
	return out, errs
}

// APIDefinitionPages returns a page of API definitions of each bundle, of one group if the key names one.
func (s *Service) APIDefinitionPages(ctx context.Context, keys []ListKey) ([]*model.APIDefinitionPage, []error) {
	pages, errs := listPages[apiRecord](ctx, s.store, KindAPIDefinition, keys, groupedIndex)
	if pages == nil {
		return nil, errs
	}
	out := make([]*model.APIDefinitionPage, len(pages))
	for i, p := range pages {
		out[i] = &model.APIDefinitionPage{Data: convert(p.items, (*apiRecord).model), PageInfo: p.info, TotalCount: p.total}
	}
	return out, errs
}

// EventDefinitionPages returns a page of event definitions of each bundle, of one group if the key names one.
func (s *Service) EventDefinitionPages(ctx context.Context, keys []ListKey) ([]*model.EventDefinitionPage, []error) {
	pages, errs := listPages[eventRecord](ctx, s.store, KindEventDefinition, keys, groupedIndex)
	if pages == nil {
		return nil, errs
	}
	out := make([]*model.EventDefinitionPage, len(pages))
	for i, p := range pages {
		out[i] = &model.EventDefinitionPage{Data: convert(p.items, (*eventRecord).model), PageInfo: p.info, TotalCount: p.total}
	}
	return out, errs
}

// DocumentPages returns a page of documents of each bundle.
func (s *Service) DocumentPages(ctx context.Context, keys []ListKey) ([]*model.DocumentPage, []error) {
	pages, errs := listPages[documentRecord](ctx, s.store, KindDocument, keys, func(k ListKey) string { return bundleIndex(k.Parent) })
	if pages == nil {
		return nil, errs
	}
	out := make([]*model.DocumentPage, len(pages))
	for i, p := range pages {
		out[i] = &model.DocumentPage{Data: convert(p.items, (*documentRecord).model), PageInfo: p.info, TotalCount: p.total}
	}
	return out, errs
}

// InstanceAuthLists returns all instance auths of each bundle (the field is not paged); a runtime caller
// gets only those it asked for. The bundles were reached through their application, which the caller may
// see.
func (s *Service) InstanceAuthLists(ctx context.Context, bundleIDs []string) ([][]*model.BundleInstanceAuth, []error) {
	sc, err := registry.TenantScope(ctx, KindInstanceAuth)
	if err != nil {
		return nil, []error{err}
	}
	idLists := make([][]string, len(bundleIDs))
	errs := make([]error, len(bundleIDs))
	reqs := make([]registry.ListRequest, len(bundleIDs))
	for i, b := range bundleIDs {
		reqs[i] = registry.ListRequest{Index: bundleIndex(b), First: MaxPageSize}
	}
	pages, err := s.store.ListMany(ctx, sc, reqs)
	if err != nil {
		return nil, []error{listErr(KindInstanceAuth, err)}
	}
	for i, p := range pages {
		idLists[i] = p.IDs
		if p.HasNextPage {
			// More instance auths than one page: the rare bundle gets a walk of its own.
			idLists[i], errs[i] = listAll(ctx, s.store, sc, bundleIndex(bundleIDs[i]))
		}
	}
	var ids []string
	for _, l := range idLists {
		ids = append(ids, l...)
	}
	byID, err := getMany[authRecord](ctx, s.store, sc, ids)
	if err != nil {
		return nil, []error{err}
	}
	out := make([][]*model.BundleInstanceAuth, len(bundleIDs))
	for i, l := range idLists {
		out[i] = make([]*model.BundleInstanceAuth, 0, len(l))
		for _, id := range l {
			if r, ok := byID[id]; ok && ownedByCaller(ctx, r) {
				out[i] = append(out[i], r.model())
			}
		}
	}
	return out, errs
}

// listAll returns every id of an index, page by page.
func listAll(ctx context.Context, st Store, sc registry.Scope, index string) ([]string, error) {
	var ids []string
	after := ""
	for {
		p, err := st.List(ctx, sc, index, MaxPageSize, after)
		if err != nil {
			return nil, listErr(sc.Kind, err)
		}
		ids = append(ids, p.IDs...)
		if !p.HasNextPage {
			return ids, nil
		}
		after = p.EndCursor
	}
}

// BundlesByID looks bundles up by id within their application.
func (s *Service) BundlesByID(ctx context.Context, keys []ChildKey) ([]*model.Bundle, []error) {
	rs, errs := getChildren[bundleRecord](ctx, s.store, KindBundle, keys)
	return convertNullable(rs, (*bundleRecord).model), errs
}

// APIDefinitionsByID looks API definitions up by id within their bundle.
func (s *Service) APIDefinitionsByID(ctx context.Context, keys []ChildKey) ([]*model.APIDefinition, []error) {
	rs, errs := getChildren[apiRecord](ctx, s.store, KindAPIDefinition, keys)
	return convertNullable(rs, (*apiRecord).model), errs
}

// EventDefinitionsByID looks event definitions up by id within their bundle.
func (s *Service) EventDefinitionsByID(ctx context.Context, keys []ChildKey) ([]*model.EventDefinition, []error) {
	rs, errs := getChildren[eventRecord](ctx, s.store, KindEventDefinition, keys)
	return convertNullable(rs, (*eventRecord).model), errs
}

// DocumentsByID looks documents up by id within their bundle.
func (s *Service) DocumentsByID(ctx context.Context, keys []ChildKey) ([]*model.Document, []error) {
	rs, errs := getChildren[documentRecord](ctx, s.store, KindDocument, keys)
	return convertNullable(rs, (*documentRecord).model), errs
}

// InstanceAuthsByID looks instance auths up by id within their bundle.
// A runtime caller is refused the instance auths it did not ask for.
func (s *Service) InstanceAuthsByID(ctx context.Context, keys []ChildKey) ([]*model.BundleInstanceAuth, []error) {
	rs, errs := getChildren[authRecord](ctx, s.store, KindInstanceAuth, keys)
	for i, r := range rs {
		if r != nil && !ownedByCaller(ctx, r) {
			rs[i] = nil
			if errs == nil {
				errs = make([]error, len(keys))
			}
			errs[i] = access.NotAllowed()
		}
	}
	return convertNullable(rs, (*authRecord).model), errs
}

// convertNullable is convert for results where nil means "none" and stays nil.
func convertNullable[T, M any](in []*T, f func(*T) *M) []*M {
	if in == nil {
		return nil
	}
	out := make([]*M, len(in))
	for i, v := range in {
		if v != nil {
			out[i] = f(v)
		}
	}
	return out
}
