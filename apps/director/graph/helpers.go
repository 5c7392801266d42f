package graph

import (
	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pageSize applies the schema's default when first is absent.
func pageSize(first *int) int {
	if first == nil {
		return application.MaxPageSize
	}
	return *first
}

// nullIfNotFound turns NOT_FOUND into a null result, which is how the API answers a lookup by id.
func nullIfNotFound[T any](v *T, err error) (*T, error) {
	if err != nil && apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil, nil
	}
	return v, err
}

// labelsOf answers the labels(key) field: all labels, or only the one asked for.
func labelsOf(labels map[string]any, key *string) map[string]any {
	if key == nil {
		return labels
	}
	v, ok := labels[*key]
	if !ok {
		return map[string]any{}
	}
	return map[string]any{*key: v}
}
