package label

import (
	"encoding/json"
	"reflect"
	"regexp"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// Filter is a parsed LabelFilter. The grammar is documented on LabelFilter in the schema.
type Filter struct {
	Key string
	// HasValue is false for a key-only filter.
	HasValue bool
	// Element is true for `$[*] ? (@ == V)` (an element of a list equals V), false for `$ ? (@ == V)`.
	Element bool
	Value   any
}

var (
	elementQuery = regexp.MustCompile(`^\s*\$\s*\[\s*\*\s*\]\s*\?\s*\(\s*@\s*==\s*(.+?)\s*\)\s*$`)
	scalarQuery  = regexp.MustCompile(`^\s*\$\s*\?\s*\(\s*@\s*==\s*(.+?)\s*\)\s*$`)
)

// ParseFilters checks filters against the supported grammar.
func ParseFilters(in []*model.LabelFilter) ([]Filter, error) {
	out := make([]Filter, 0, len(in))
	for _, f := range in {
		if f == nil {
			continue
		}
		if !ValidKey(f.Key) {
			return nil, apperr.New(apperr.CodeInvalidLabelQuery, "label filter key %q: use letters, digits, '_', '-' and '.'", f.Key)
		}
		p := Filter{Key: f.Key}
		if f.Query != nil && *f.Query != "" {
			q := *f.Query
			var lit string
			if m := elementQuery.FindStringSubmatch(q); m != nil {
				p.Element, lit = true, m[1]
			} else if m := scalarQuery.FindStringSubmatch(q); m != nil {
				lit = m[1]
			} else {
				return nil, apperr.New(apperr.CodeInvalidLabelQuery,
					`label filter query %q: supported forms are $[*] ? (@ == V) and $ ? (@ == V), V a JSON string, number or boolean`, q)
			}
			if err := json.Unmarshal([]byte(lit), &p.Value); err != nil || !isScalar(p.Value) {
				return nil, apperr.New(apperr.CodeInvalidLabelQuery,
					"label filter query %q: %s is not a JSON string, number or boolean", q, lit)
			}
			p.HasValue = true
		}
		out = append(out, p)
	}
	return out, nil
}

// Index is the registry index holding exactly the objects that match f.
func (f Filter) Index() string {
	switch {
	case !f.HasValue:
		return keyIndex(f.Key)
	case f.Element:
		return elementIndex(f.Key, f.Value)
	default:
		return valueIndex(f.Key, f.Value)
	}
}

// Matches reports whether normalised labels satisfy f.
func (f Filter) Matches(labels map[string]any) bool {
	v, ok := labels[f.Key]
	if !ok {
		return false
	}
	if !f.HasValue {
		return true
	}
	if !f.Element {
		return reflect.DeepEqual(v, f.Value)
	}
	list, _ := v.([]any)
	for _, e := range list {
		if reflect.DeepEqual(e, f.Value) {
			return true
		}
	}
	return false
}
