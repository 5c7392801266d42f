// Package gqlclient posts GraphQL operations over HTTP and turns what comes back into Go values and
// errors. The apps that call the plane's GraphQL APIs (the Runtime Agent, the Connector client, the
// Governor asking the Director) share it; how a request travels — through the gateway with a client
// certificate, or through a Dapr sidecar — stays with each caller.
package gqlclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is the first error of a GraphQL answer, with its extensions.code when there is one. The gateway's
// own refusals ({"error": {"code", "message"}}, authentication for example) arrive as an Error too.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Message + " (" + e.Code + ")"
	}
	return e.Message
}

// StatusError is an answer that carries no GraphQL error but is not a 200: a proxy or a sidecar speaking,
// not the GraphQL server.
type StatusError struct {
	Status int
	Body   string // the start of the body, for the log
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Status, e.Body)
}

// DefaultMaxResponse caps what Decode reads when the caller gives no limit.
const DefaultMaxResponse = 4 << 20

// Encode returns the JSON body of a GraphQL request.
func Encode(query string, vars map[string]any) ([]byte, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, fmt.Errorf("encode graphql request: %w", err)
	}
	return body, nil
}

// Decode reads a GraphQL answer with the given HTTP status from body (at most limit bytes, or
// DefaultMaxResponse when limit is 0) and decodes its data into out, which may be nil. An answer with
// errors returns an *Error for the first one, whatever its status; a non-200 without errors returns a
// *StatusError.
func Decode(status int, body io.Reader, limit int64, out any) error {
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	raw, err := io.ReadAll(io.LimitReader(body, limit))
	if err != nil {
		return fmt.Errorf("read graphql answer: %w", err)
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return &StatusError{Status: status, Body: snippet(raw)}
	}
	switch {
	case len(env.Errors) > 0:
		code, _ := env.Errors[0].Extensions["code"].(string)
		return &Error{Code: code, Message: env.Errors[0].Message}
	case env.Error != nil:
		return &Error{Code: env.Error.Code, Message: env.Error.Message}
	case status != http.StatusOK:
		return &StatusError{Status: status, Body: snippet(raw)}
	case out == nil:
		return nil
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode graphql data: %w", err)
	}
	return nil
}

// Doer sends HTTP requests; *http.Client implements it.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Post sends one operation to url with the given extra headers and decodes the answer into out (see
// Decode; limit 0 means DefaultMaxResponse).
func Post(ctx context.Context, hc Doer, url string, header http.Header, limit int64, query string, vars map[string]any, out any) error {
	body, err := Encode(query, vars)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request to %s: %w", url, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", url, err)
	}
	defer resp.Body.Close()
	return Decode(resp.StatusCode, resp.Body, limit, out)
}

func snippet(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
