package application

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func decode(raw []byte) (*model.Application, error) {
	var app model.Application
	if err := json.Unmarshal(raw, &app); err != nil {
		return nil, fmt.Errorf("decode application: %w", err)
	}
	return &app, nil
}

// forScenarios lists the applications in any of scenarios, each once, in the order the scenarios'
// indexes give them, leaving out those in skip. It reads the ids of every matching application (not the applications), so its cost
// grows with the applications the scenarios hold; the page itself is read in one round trip. The cursor
// is the offset into that list.
func forScenarios(ctx context.Context, store Store, scenarios []string, first int, after string, skip map[string]bool) (*model.ApplicationPage, error) {
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	offset := 0
	if after != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(after, "o"))
		if !strings.HasPrefix(after, "o") || err != nil || n < 0 {
			return nil, apperr.Invalid("after: not a cursor this API handed out")
		}
		offset = n
	}
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, name := range scenarios {
		index := label.Filter{Key: label.ScenariosKey, HasValue: true, Element: true, Value: name}.Index()
		cursor := ""
		for {
			p, err := store.List(ctx, sc, index, MaxPageSize, cursor)
			if err != nil {
				return nil, fmt.Errorf("applications in scenario %s: %w", name, err)
			}
			for _, id := range p.IDs {
				if !seen[id] && !skip[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			if !p.HasNextPage {
				break
			}
			cursor = p.EndCursor
		}
	}
	start := min(offset, len(ids))
	end := min(start+first, len(ids))
	out := &model.ApplicationPage{
		Data:       make([]*model.Application, 0, end-start),
		TotalCount: len(ids),
		PageInfo:   model.NewPageInfo(after, "o"+strconv.Itoa(end), end < len(ids)),
	}
	err = store.GetMany(ctx, sc, ids[start:end], func(_ string, data []byte) error {
		app, err := decode(data)
		if err == nil {
			out.Data = append(out.Data, app)
		}
		return err
	})
	return out, err
}
