// Package model holds the Director's GraphQL input and output types. gqlgen generates most of them
// (models_gen.go); the rest are the custom scalars below.
package model

import (
	"encoding/json"
	"fmt"
	"io"
)

// HTTPHeaders maps a header name to its values (the HttpHeaders scalar).
type HTTPHeaders map[string][]string

// QueryParams maps a query parameter to its values (the QueryParams scalar).
type QueryParams map[string][]string

// UnmarshalGQL implements graphql.Unmarshaler.
func (h *HTTPHeaders) UnmarshalGQL(v any) error { return decodeMultiMap(v, (*map[string][]string)(h)) }

// MarshalGQL implements graphql.Marshaler.
func (h HTTPHeaders) MarshalGQL(w io.Writer) { encodeJSON(w, map[string][]string(h)) }

// UnmarshalGQL implements graphql.Unmarshaler.
func (q *QueryParams) UnmarshalGQL(v any) error { return decodeMultiMap(v, (*map[string][]string)(q)) }

// MarshalGQL implements graphql.Marshaler.
func (q QueryParams) MarshalGQL(w io.Writer) { encodeJSON(w, map[string][]string(q)) }

func decodeMultiMap(v any, out *map[string][]string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("want an object of string lists, got %T", v)
	}
	res := make(map[string][]string, len(m))
	for k, raw := range m {
		list, ok := raw.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list of strings, got %T", k, raw)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("%s: want strings, got %T", k, e)
			}
			res[k] = append(res[k], s)
		}
	}
	*out = res
	return nil
}

func encodeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("null")
	}
	_, _ = w.Write(b)
}
