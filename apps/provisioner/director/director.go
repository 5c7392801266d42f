// Package director is the Provisioner's client of the Director: registering the runtimes it provisions,
// one-time tokens for their agents, and unregistering them. Every call goes through Dapr service
// invocation with the caller's own assertion (the gateway addresses assertions for the Provisioner to the
// Director too), so the Director decides with the caller's tenant and rights.
package director

import (
	"context"
	"errors"

	"github.com/mgmtplane/mgmtplane/apps/internal/directorapi"
)

// Client calls the Director app.
type Client struct{ director *directorapi.Client }

// New returns a client for the Director running as Dapr app appID.
func New(inv directorapi.Invoker, appID string) *Client {
	c := directorapi.New(inv, appID)
	c.MaxResponse = 1 << 20
	return &Client{director: c}
}

func (c *Client) do(ctx context.Context, query string, vars map[string]any, out any) error {
	return c.director.Do(ctx, query, vars, out)
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
