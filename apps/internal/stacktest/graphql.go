package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// GraphQLError is one entry of a GraphQL response's errors.
type GraphQLError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code returns extensions.code.
func (e GraphQLError) Code() string {
	c, _ := e.Extensions["code"].(string)
	return c
}

// Response is a GraphQL response with its HTTP status.
type Response struct {
	Status int
	Data   json.RawMessage `json:"data"`
	Errors []GraphQLError  `json:"errors"`
	Raw    []byte
}

// Decode unmarshals data into out.
func (r *Response) Decode(out any) error {
	if err := json.Unmarshal(r.Data, out); err != nil {
		return fmt.Errorf("decode %s: %w", r.Data, err)
	}
	return nil
}

// MutationsAnswered counts the mutations GraphQL sent that an app executed (HTTP 200 and no parse or
// validation error): each of them must leave an audit record.
var MutationsAnswered atomic.Int64

// isMutation reports whether query's first operation is a mutation (comment lines skipped).
func isMutation(query string) bool {
	for _, line := range strings.Split(query, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return strings.HasPrefix(line, "mutation")
	}
	return false
}

// GraphQL posts query with variables to url with the given headers.
func GraphQL(ctx context.Context, url string, header http.Header, query string, vars map[string]any) (*Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := &Response{Status: resp.StatusCode, Raw: raw}
	if resp.Header.Get("Content-Type") != "" && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		_ = json.Unmarshal(raw, out)
	}
	if out.Status == http.StatusOK && isMutation(query) && !(len(out.Errors) > 0 && strings.HasPrefix(out.Errors[0].Code(), "GRAPHQL_")) {
		MutationsAnswered.Add(1)
	}
	return out, nil
}
