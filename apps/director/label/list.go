package label

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// Page is one page of filtered objects.
type Page[T any] struct {
	Data     []*T
	PageInfo *model.PageInfo
	Total    int
}

// List pages through the objects of scope that match every filter. The first filter's index drives the
// walk, so a page costs about as much as the objects it reads; the others are checked on those objects.
// labelsOf returns an object's normalised labels.
func List[T any](ctx context.Context, r registry.Lister, sc registry.Scope, filters []Filter, first int, after string, labelsOf func(*T) map[string]any) (*Page[T], error) {
	p, err := list(ctx, r, sc, filters, first, after, labelsOf)
	if p != nil {
		// As in Compass, the last page has no end cursor: there is nothing to continue to.
		p.PageInfo = model.NewPageInfo(p.PageInfo.StartCursor, p.PageInfo.EndCursor, p.PageInfo.HasNextPage)
	}
	return p, err
}

func list[T any](ctx context.Context, r registry.Lister, sc registry.Scope, filters []Filter, first int, after string, labelsOf func(*T) map[string]any) (*Page[T], error) {
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	index := registry.IndexAll
	if len(filters) > 0 {
		index = filters[0].Index()
	}
	out := &Page[T]{Data: []*T{}, PageInfo: &model.PageInfo{StartCursor: after, EndCursor: after}}
	if first == 0 {
		p, err := r.List(ctx, sc, index, 0, after)
		if err != nil {
			return nil, listErr(sc, err)
		}
		out.Total, out.PageInfo.HasNextPage = int(p.TotalCount), p.TotalCount > 0
		return out, out.countIfFiltered(ctx, r, sc, filters, index, labelsOf)
	}
	cursor := after
	for {
		batch := first - len(out.Data)
		if len(filters) > 1 {
			batch = MaxPageSize // most objects may be filtered out; read ahead
		}
		p, err := r.List(ctx, sc, index, batch, cursor)
		if err != nil {
			return nil, listErr(sc, err)
		}
		if cursor == after {
			out.Total = int(p.TotalCount)
		}
		objs := make(map[string]*T, len(p.IDs))
		err = r.GetMany(ctx, sc, p.IDs, func(id string, data []byte) error {
			v := new(T)
			if err := json.Unmarshal(data, v); err != nil {
				return fmt.Errorf("decode %s %s: %w", sc.Kind, id, err)
			}
			objs[id] = v
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i, id := range p.IDs {
			if len(out.Data) == first {
				// The page is full and this object is still to come.
				out.PageInfo.HasNextPage = true
				return out, out.countIfFiltered(ctx, r, sc, filters, index, labelsOf)
			}
			cursor = p.Cursors[i]
			out.PageInfo.EndCursor = cursor
			if o := objs[id]; o != nil && matchesAll(filters, labelsOf(o)) {
				out.Data = append(out.Data, o)
			}
		}
		if !p.HasNextPage {
			return out, out.countIfFiltered(ctx, r, sc, filters, index, labelsOf)
		}
		if len(out.Data) == first {
			out.PageInfo.HasNextPage = true
			return out, out.countIfFiltered(ctx, r, sc, filters, index, labelsOf)
		}
	}
}

func listErr(sc registry.Scope, err error) error {
	if errors.Is(err, registry.ErrInvalidCursor) {
		return apperr.Invalid("after: not a cursor this API handed out")
	}
	return fmt.Errorf("list %s: %w", sc.Kind, err)
}

func matchesAll(filters []Filter, labels map[string]any) bool {
	for _, f := range filters {
		if !f.Matches(labels) {
			return false
		}
	}
	return true
}

// countIfFiltered replaces the index count by an exact count when more than one filter applies, which
// needs a walk over the driving index.
func (p *Page[T]) countIfFiltered(ctx context.Context, r registry.Lister, sc registry.Scope, filters []Filter, index string, labelsOf func(*T) map[string]any) error {
	if len(filters) < 2 {
		return nil
	}
	total, cursor := 0, ""
	for {
		page, err := r.List(ctx, sc, index, MaxPageSize, cursor)
		if err != nil {
			return err
		}
		err = r.GetMany(ctx, sc, page.IDs, func(_ string, data []byte) error {
			v := new(T)
			if err := json.Unmarshal(data, v); err != nil {
				return err
			}
			if matchesAll(filters, labelsOf(v)) {
				total++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !page.HasNextPage {
			p.Total = total
			return nil
		}
		cursor = page.EndCursor
	}
}
