package fleetsim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/gqlclient"
)

// Admin is a tenant administrator talking to the plane through the gateway with a bearer token: it
// registers the fleet's runtimes, asks for their one-time tokens, changes the Governor configuration
// they follow, and reads what the Director says about them.
type Admin struct {
	// GatewayURL is the base of the gateway's plain listener.
	GatewayURL string
	// Token is a bearer token of the tenant with every scope.
	Token string
	// HTTP sends the requests; nil means a client with a 30 s timeout.
	HTTP *http.Client
}

func (a *Admin) do(ctx context.Context, app, query string, vars map[string]any, out any) error {
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	url := strings.TrimRight(a.GatewayURL, "/") + "/" + app + "/graphql"
	h := http.Header{"Authorization": {"Bearer " + a.Token}}
	return gqlclient.Post(ctx, hc, url, h, 0, query, vars, out)
}

// RegisterRuntime registers a runtime with labels and returns its id.
func (a *Admin) RegisterRuntime(ctx context.Context, name string, labels map[string]any) (string, error) {
	var out struct{ RegisterRuntime struct{ ID string } }
	err := a.do(ctx, "director", `mutation($n: String!, $l: Labels) { registerRuntime(in: {name: $n, labels: $l}) { id } }`,
		map[string]any{"n": name, "l": labels}, &out)
	if err != nil {
		return "", fmt.Errorf("register runtime %s: %w", name, err)
	}
	return out.RegisterRuntime.ID, nil
}

// OneTimeToken asks the Director (which asks the Connector) for a pairing token of runtime id.
func (a *Admin) OneTimeToken(ctx context.Context, id string) (string, error) {
	var out struct{ RequestOneTimeTokenForRuntime struct{ Token string } }
	err := a.do(ctx, "director", `mutation($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token } }`,
		map[string]any{"id": id}, &out)
	if err != nil {
		return "", fmt.Errorf("one-time token for runtime %s: %w", id, err)
	}
	return out.RequestOneTimeTokenForRuntime.Token, nil
}

// UnregisterRuntime removes runtime id (which also revokes its certificates).
func (a *Admin) UnregisterRuntime(ctx context.Context, id string) error {
	if err := a.do(ctx, "director", `mutation($id: ID!) { unregisterRuntime(id: $id) { id } }`, map[string]any{"id": id}, nil); err != nil {
		return fmt.Errorf("unregister runtime %s: %w", id, err)
	}
	return nil
}

// RuntimeState is what the Director shows of a runtime's health.
type RuntimeState struct {
	LastHeartbeat *time.Time
	Condition     string
}

// Runtime reads a runtime's last heartbeat and condition.
func (a *Admin) Runtime(ctx context.Context, id string) (RuntimeState, error) {
	var out struct {
		Runtime *struct {
			LastHeartbeat *time.Time
			Status        *struct{ Condition string }
		}
	}
	if err := a.do(ctx, "director", `query($id: ID!) { runtime(id: $id) { lastHeartbeat status { condition } } }`,
		map[string]any{"id": id}, &out); err != nil {
		return RuntimeState{}, fmt.Errorf("runtime %s: %w", id, err)
	}
	if out.Runtime == nil {
		return RuntimeState{}, fmt.Errorf("runtime %s: not found", id)
	}
	st := RuntimeState{LastHeartbeat: out.Runtime.LastHeartbeat}
	if out.Runtime.Status != nil {
		st.Condition = out.Runtime.Status.Condition
	}
	return st, nil
}

// Conditions counts the conditions of the runtimes labelled key=value, page by page.
func (a *Admin) Conditions(ctx context.Context, key, value string) (map[string]int, error) {
	out := map[string]int{}
	filter := []map[string]any{{"key": key, "query": fmt.Sprintf(`$ ? (@ == "%s")`, value)}}
	after := ""
	for {
		var page struct {
			Runtimes struct {
				Data []struct {
					Status *struct{ Condition string }
				}
				PageInfo struct {
					EndCursor   string
					HasNextPage bool
				}
			}
		}
		vars := map[string]any{"f": filter, "after": nil}
		if after != "" {
			vars["after"] = after
		}
		err := a.do(ctx, "director", `query($f: [LabelFilter!], $after: PageCursor) {
  runtimes(filter: $f, first: 200, after: $after) { data { status { condition } } pageInfo { endCursor hasNextPage } } }`, vars, &page)
		if err != nil {
			return nil, fmt.Errorf("list runtimes %s=%s: %w", key, value, err)
		}
		for _, r := range page.Runtimes.Data {
			c := "NONE"
			if r.Status != nil {
				c = r.Status.Condition
			}
			out[c]++
		}
		if !page.Runtimes.PageInfo.HasNextPage || page.Runtimes.PageInfo.EndCursor == after {
			return out, nil
		}
		after = page.Runtimes.PageInfo.EndCursor
	}
}

// FleetBinding is the one binding of the fleet's configuration; each change gives its url a new marker,
// by which an agent's answer tells that it carries the change.
const FleetBinding = "fleet"

func fleetConfiguration(key, value, marker string) map[string]any {
	return map[string]any{
		"labelSelector": []map[string]any{{"key": key, "value": value}},
		"bindings": []map[string]any{{
			"name": FleetBinding, "type": "bindings.http",
			"metadata": []map[string]any{{"name": "url", "value": marker}},
		}},
	}
}

// CreateConfiguration creates the label-selector configuration for runtimes labelled key=value, its
// binding's url set to marker, and returns its id.
func (a *Admin) CreateConfiguration(ctx context.Context, key, value, marker string) (string, error) {
	var out struct{ CreateConfiguration struct{ ID string } }
	err := a.do(ctx, "governor", `mutation($in: ConfigurationInput!) { createConfiguration(in: $in) { id } }`,
		map[string]any{"in": fleetConfiguration(key, value, marker)}, &out)
	if err != nil {
		return "", fmt.Errorf("create configuration: %w", err)
	}
	return out.CreateConfiguration.ID, nil
}

// UpdateConfiguration sets the binding's url of configuration id to marker.
func (a *Admin) UpdateConfiguration(ctx context.Context, id, key, value, marker string) error {
	err := a.do(ctx, "governor", `mutation($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { revision } }`,
		map[string]any{"id": id, "in": fleetConfiguration(key, value, marker)}, nil)
	if err != nil {
		return fmt.Errorf("update configuration %s: %w", id, err)
	}
	return nil
}

// DeleteConfiguration deletes configuration id.
func (a *Admin) DeleteConfiguration(ctx context.Context, id string) error {
	if err := a.do(ctx, "governor", `mutation($id: ID!) { deleteConfiguration(id: $id) { revision } }`, map[string]any{"id": id}, nil); err != nil {
		return fmt.Errorf("delete configuration %s: %w", id, err)
	}
	return nil
}
