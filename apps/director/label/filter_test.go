package label

import (
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestParseFilters(t *testing.T) {
	q := func(s string) *string { return &s }
	labels := map[string]any{
		"scenarios": []any{"DEFAULT", "prod"},
		"env":       "prod",
		"replicas":  float64(3),
		"public":    true,
	}
	tests := []struct {
		key   string
		query *string
		match bool
	}{
		{"env", nil, true},
		{"missing", nil, false},
		{"scenarios", q(`$[*] ? (@ == "prod")`), true},
		{"scenarios", q(`$[*]?(@=="DEFAULT")`), true},
		{"scenarios", q(`$[*] ? (@ == "dev")`), false},
		{"env", q(`$ ? (@ == "prod")`), true},
		{"env", q(`$ ? (@ == "dev")`), false},
		{"replicas", q(`$ ? (@ == 3)`), true},
		{"replicas", q(`$ ? (@ == "3")`), false}, // JSON equality: a string is not a number
		{"public", q(`$ ? (@ == true)`), true},
		{"env", q(`$[*] ? (@ == "prod")`), false}, // element form on a scalar label
	}
	for _, tt := range tests {
		fs, err := ParseFilters([]*model.LabelFilter{{Key: tt.key, Query: tt.query}})
		if err != nil {
			t.Fatalf("%s %v: %v", tt.key, tt.query, err)
		}
		if got := fs[0].Matches(labels); got != tt.match {
			t.Errorf("%s %s: match %v, want %v", tt.key, deref(tt.query), got, tt.match)
		}
		// The index an object is in must agree with Matches, or label filters would miss objects.
		inIndex := false
		for _, ix := range Indexes(labels) {
			if ix == fs[0].Index() {
				inIndex = true
			}
		}
		if inIndex != tt.match {
			t.Errorf("%s %s: in index %v, want %v", tt.key, deref(tt.query), inIndex, tt.match)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}

func TestParseFiltersRejects(t *testing.T) {
	for _, query := range []string{
		`$.a ? (@ == "x")`,
		`$[*] ? (@ != "x")`,
		`$[*] ? (@ == "x" && @ == "y")`,
		`$ ? (@ == x)`,
		`$ ? (@ == null)`,
		`$ ? (@ == ["a"])`,
		`like '%x%'`,
	} {
		_, err := ParseFilters([]*model.LabelFilter{{Key: "k", Query: &query}})
		if apperr.CodeOf(err) != apperr.CodeInvalidLabelQuery {
			t.Errorf("%q: %v, want INVALID_LABEL_FILTER", query, err)
		}
	}
	if _, err := ParseFilters([]*model.LabelFilter{{Key: "a b"}}); apperr.CodeOf(err) != apperr.CodeInvalidLabelQuery {
		t.Errorf("bad key accepted: %v", err)
	}
}
