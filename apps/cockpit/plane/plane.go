// Package plane is how the Cockpit reaches the management plane: the public GraphQL APIs, through the
// gateway, with the signed-in user's token. It never goes around the gateway, so a page can do exactly
// what its user may do and no more; the documents it sends are checked against the apps' schemas by its
// tests, so the Cockpit cannot drift from the APIs it shows.
package plane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Client calls the gateway.
type Client struct {
	// Gateway is the gateway's base URL as the Cockpit reaches it (no trailing slash).
	Gateway string
	HTTP    *http.Client
}

// New returns a client for the gateway at base.
func New(base string, timeout time.Duration) *Client {
	return &Client{Gateway: strings.TrimRight(base, "/"), HTTP: &http.Client{Timeout: timeout}}
}

// Error is a refusal or failure the user should see: the API's code and message, and the request ID the
// gateway gave the call, which is the one in its logs.
type Error struct {
	Code, Message, RequestID string
}

func (e *Error) Error() string { return e.Message }

type requestIDKey struct{}

// WithRequestID makes the calls made with ctx carry the page request's ID, so that one ID follows a click
// from the browser through the gateway to every app.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// API names the apps' GraphQL endpoints under the gateway.
type API string

const (
	Director    API = "director"
	Provisioner API = "provisioner"
	Governor    API = "governor"
)

// Do sends one GraphQL operation to api as the holder of token and decodes its data into out.
func (c *Client) Do(ctx context.Context, token string, api API, query string, vars map[string]any, out any) error {
	body, err := gqlclient.Encode(query, vars)
	if err != nil {
		return err
	}
	resp, rid, err := c.send(ctx, token, http.MethodPost, "/"+string(api)+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = gqlclient.Decode(resp.StatusCode, resp.Body, 0, out)
	var gerr *gqlclient.Error
	var serr *gqlclient.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gerr):
		return &Error{Code: gerr.Code, Message: gerr.Message, RequestID: rid}
	case errors.As(err, &serr):
		return fmt.Errorf("%w: %w", &Error{Code: "UNAVAILABLE", Message: fmt.Sprintf("the %s API answered %d", api, serr.Status), RequestID: rid}, err)
	}
	return fmt.Errorf("%w: %w", &Error{Code: "INTERNAL", Message: "the answer could not be read", RequestID: rid}, err)
}

// send makes one call to the gateway as the holder of token, carrying the page's request ID. It answers
// the gateway's request ID for the call, which is the one its logs and the apps' know.
func (c *Client) send(ctx context.Context, token, method, path string, body io.Reader) (*http.Response, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Gateway+path, body)
	if err != nil {
		return nil, "", fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	rid, _ := ctx.Value(requestIDKey{}).(string)
	if rid != "" {
		req.Header.Set("X-Request-Id", rid)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		// The address stays in the log, not on the page.
		return nil, rid, fmt.Errorf("%w: %w", &Error{Code: "UNAVAILABLE", Message: "the gateway cannot be reached now; try again shortly", RequestID: rid}, err)
	}
	if id := resp.Header.Get("X-Request-Id"); id != "" {
		rid = id
	}
	return resp, rid, nil
}

// PageInfo is a page's place in a list.
type PageInfo struct {
	EndCursor   string `json:"endCursor"`
	HasNextPage bool   `json:"hasNextPage"`
}

// pageVars are the variables of a paged list query: first, and after and filter when given.
func pageVars(first int, after string, filters []LabelFilter) map[string]any {
	vars := map[string]any{"first": first}
	if after != "" {
		vars["after"] = after
	}
	if len(filters) > 0 {
		vars["filter"] = filters
	}
	return vars
}
