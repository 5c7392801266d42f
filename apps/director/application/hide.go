package application

import (
	"context"
	"fmt"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/director/appname"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
)

// HideSelectors are labels that keep an application out of applicationsForRuntime: an application whose
// label key has one of the values (a string equal to it, or a list containing it) is hidden. Compass
// configured them as applicationHideSelectors, for applications that runtimes should not set up.
type HideSelectors map[string][]string

// ParseHideSelectors reads selectors written as key=value pairs separated by ';' ("a=x;a=y;b=z" hides what
// has a x or y, or b z). An empty spec hides nothing.
func ParseHideSelectors(spec string) (HideSelectors, error) {
	out := HideSelectors{}
	for _, pair := range strings.Split(spec, ";") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !label.ValidKey(k) || v == "" {
			return nil, fmt.Errorf("application hide selector %q: want label-key=value", pair)
		}
		out[k] = append(out[k], v)
	}
	return out, nil
}

// SetHideSelectors sets the selectors of the applications that applicationsForRuntime leaves out.
func (s *Service) SetHideSelectors(h HideSelectors) { s.hide = h }

// ForRuntime returns a page of the applications that runtime rt is given by applicationsForRuntime, as
// Compass gave them: those sharing a scenario with it, less the hidden ones (SetHideSelectors), named as
// the runtime wants them (normalized unless its isNormalized label says otherwise; see package appname).
func (s *Service) ForRuntime(ctx context.Context, rt *model.Runtime, first int, after string) (*model.ApplicationPage, error) {
	hidden, err := s.hidden(ctx)
	if err != nil {
		return nil, err
	}
	page, err := forScenarios(ctx, s.store, label.Strings(rt.Labels[label.ScenariosKey]), first, after, hidden)
	if err != nil {
		return nil, err
	}
	if appname.Normalizes(rt.Labels) {
		for _, app := range page.Data {
			app.NameAsRegistered, app.Name = app.Name, appname.Normalize(app.Name)
		}
	}
	return page, nil
}

// hidden returns the ids of the tenant's applications that a hide selector matches, read from the label
// indexes: its cost grows with the hidden applications, not with all of them.
func (s *Service) hidden(ctx context.Context) (map[string]bool, error) {
	if len(s.hide) == 0 {
		return nil, nil
	}
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for key, values := range s.hide {
		for _, v := range values {
			for _, element := range []bool{false, true} {
				index := label.Filter{Key: key, HasValue: true, Element: element, Value: v}.Index()
				for cursor := ""; ; {
					p, err := s.store.List(ctx, sc, index, MaxPageSize, cursor)
					if err != nil {
						return nil, fmt.Errorf("applications hidden by %s=%s: %w", key, v, err)
					}
					for _, id := range p.IDs {
						out[id] = true
					}
					if !p.HasNextPage {
						break
					}
					cursor = p.EndCursor
				}
			}
		}
	}
	return out, nil
}
