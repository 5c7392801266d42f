// Package director is the Provisioner's client of the Director: registering the runtimes it provisions,
// one-time tokens for their agents, and unregistering them. Every call goes through Dapr service
// invocation with the caller's own assertion (the gateway addresses assertions for the Provisioner to the
// Director too), so the Director decides with the caller's tenant and rights.
package director

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/assertion"
	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Invoker reaches an app through the sidecar (*invoke.Client).
type Invoker interface {
	Do(ctx context.Context, appID, httpMethod, method string, header http.Header, body io.Reader) (*http.Response, error)
}

// Client calls the Director app.
type Client struct {
	inv   Invoker
	appID string
}

// New returns a client for the Director running as Dapr app appID.
func New(inv Invoker, appID string) *Client { return &Client{inv: inv, appID: appID} }

const maxResponse = 1 << 20

func (c *Client) do(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := gqlclient.Encode(query, vars)
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if !assertion.Propagate(ctx, h) {
		return apperr.New(apperr.CodeUnauthenticated, "no caller to act for in the Director")
	}
	resp, err := c.inv.Do(ctx, c.appID, http.MethodPost, "graphql", h, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("director: %w", err)
	}
	defer resp.Body.Close()
	err = gqlclient.Decode(resp.StatusCode, resp.Body, maxResponse, out)
	var gqlErr *gqlclient.Error
	if errors.As(err, &gqlErr) {
		switch code := apperr.Code(gqlErr.Code); code {
		case apperr.CodeForbidden, apperr.CodeUnauthenticated, apperr.CodeNotFound, apperr.CodeInvalidInput,
			apperr.CodeAlreadyExists, apperr.CodeUnavailable:
			// The caller's own standing with the Director, or its input: tell them as the Director put it.
			return apperr.New(code, "%s", gqlErr.Message)
		}
	}
	if err != nil {
		return fmt.Errorf("director: %w", err)
	}
	return nil
}

// RegisterRuntime registers a runtime in the PROVISIONING condition and returns its id.
func (c *Client) RegisterRuntime(ctx context.Context, name, description string, labels map[string]any) (string, error) {
	var out struct{ RegisterRuntime struct{ ID string } }
	in := map[string]any{"name": name, "labels": labels, "statusCondition": "PROVISIONING"}
	if description != "" {
		in["description"] = description
	}
	err := c.do(ctx, `mutation($in: RuntimeInput!) { registerRuntime(in: $in) { id } }`, map[string]any{"in": in}, &out)
	if err != nil {
		return "", err
	}
	if out.RegisterRuntime.ID == "" {
		return "", errors.New("director: registerRuntime answered no id")
	}
	return out.RegisterRuntime.ID, nil
}

// RequestOneTimeToken returns a one-time token with which the runtime's agent pairs.
func (c *Client) RequestOneTimeToken(ctx context.Context, runtimeID string) (string, error) {
	var out struct{ RequestOneTimeTokenForRuntime struct{ Token string } }
	err := c.do(ctx, `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`, map[string]any{"id": runtimeID}, &out)
	if err != nil {
		return "", err
	}
	if out.RequestOneTimeTokenForRuntime.Token == "" {
		return "", errors.New("director: no one-time token in the answer")
	}
	return out.RequestOneTimeTokenForRuntime.Token, nil
}

// UnregisterRuntime unregisters a runtime; the Director revokes its certificates first.
func (c *Client) UnregisterRuntime(ctx context.Context, runtimeID string) error {
	return c.do(ctx, `mutation($id: ID!) { unregisterRuntime(id: $id) { id } }`, map[string]any{"id": runtimeID}, nil)
}
