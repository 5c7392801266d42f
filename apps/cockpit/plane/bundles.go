package plane

import (
	"context"
	"fmt"
	"time"
)

// BundleDetail is a bundle with its definitions (specifications' formats, not their text) and instance
// auths.
type BundleDetail struct {
	ID                             string `json:"id"`
	Name                           string `json:"name"`
	Description                    string `json:"description"`
	InstanceAuthRequestInputSchema any    `json:"instanceAuthRequestInputSchema"`
	APIDefinitions                 struct {
		Data       []Definition `json:"data"`
		TotalCount int          `json:"totalCount"`
	} `json:"apiDefinitions"`
	EventDefinitions struct {
		Data       []Definition `json:"data"`
		TotalCount int          `json:"totalCount"`
	} `json:"eventDefinitions"`
	InstanceAuths []InstanceAuth `json:"instanceAuths"`
}

// Definition is an API or event definition; Spec.Data is filled only when one is asked for by itself.
type Definition struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	TargetURL   string `json:"targetURL"`
	Group       string `json:"group"`
	Spec        *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
		Type   string `json:"type"`
	} `json:"spec"`
}

// InstanceAuth is a runtime's request for credentials to a bundle, and where it stands.
type InstanceAuth struct {
	ID          string `json:"id"`
	Context     any    `json:"context"`
	InputParams any    `json:"inputParams"`
	Status      struct {
		Condition string    `json:"condition"`
		Timestamp time.Time `json:"timestamp"`
		Message   string    `json:"message"`
		Reason    string    `json:"reason"`
	} `json:"status"`
}

// Bundle is one bundle of an application, or nil when either is not there.
func (c *Client) Bundle(ctx context.Context, token, appID, bundleID string) (*BundleDetail, error) {
	var out struct {
		App *struct {
			Bundle *BundleDetail `json:"bundle"`
		} `json:"application"`
	}
	err := c.Do(ctx, token, Director, `query Bundle($app: ID!, $id: ID!) {
  application(id: $app) { bundle(id: $id) {
    id name description instanceAuthRequestInputSchema
    apiDefinitions(first: 100) { totalCount data { id name description targetURL group spec { format type } } }
    eventDefinitions(first: 100) { totalCount data { id name description group spec { format type } } }
    instanceAuths { id context inputParams status { condition timestamp message reason } }
  } }
}`, map[string]any{"app": appID, "id": bundleID}, &out)
	if out.App == nil {
		return nil, err
	}
	return out.App.Bundle, err
}

// Spec is one definition with its specification's text; kind is "api" or "event".
func (c *Client) Spec(ctx context.Context, token, appID, bundleID, kind, defID string) (*Definition, error) {
	field := "apiDefinition"
	switch kind {
	case "api":
	case "event":
		field = "eventDefinition"
	default:
		return nil, &Error{Code: "NOT_FOUND", Message: "no such kind of definition: " + kind}
	}
	var out struct {
		App *struct {
			Bundle *struct {
				Def *Definition `json:"def"`
			} `json:"bundle"`
		} `json:"application"`
	}
	err := c.Do(ctx, token, Director, fmt.Sprintf(`query Spec($app: ID!, $bundle: ID!, $id: ID!) {
  application(id: $app) { bundle(id: $bundle) { def: %s(id: $id) { id name description group spec { data format type } } } }
}`, field), map[string]any{"app": appID, "bundle": bundleID, "id": defID}, &out)
	if out.App == nil || out.App.Bundle == nil {
		return nil, err
	}
	return out.App.Bundle.Def, err
}

// Credentials answer an instance auth: Basic (Username, Password) or OAuth client credentials.
type Credentials struct {
	Username, Password               string
	ClientID, ClientSecret, TokenURL string
}

func (cr Credentials) input() map[string]any {
	if cr.ClientID != "" {
		return map[string]any{"oauth": map[string]any{"clientId": cr.ClientID, "clientSecret": cr.ClientSecret, "url": cr.TokenURL}}
	}
	return map[string]any{"basic": map[string]any{"username": cr.Username, "password": cr.Password}}
}

// ApproveInstanceAuth answers a PENDING instance auth with credentials, as its application would.
func (c *Client) ApproveInstanceAuth(ctx context.Context, token, authID string, cr Credentials) error {
	return c.Do(ctx, token, Director, `mutation Approve($id: ID!, $in: BundleInstanceAuthSetInput!) {
  setBundleInstanceAuth(authID: $id, in: $in) { id }
}`, map[string]any{"id": authID, "in": map[string]any{"auth": map[string]any{"credential": cr.input()}}}, nil)
}

// DenyInstanceAuth answers a PENDING instance auth with a failure and why.
func (c *Client) DenyInstanceAuth(ctx context.Context, token, authID, message string) error {
	return c.Do(ctx, token, Director, `mutation Deny($id: ID!, $in: BundleInstanceAuthSetInput!) {
  setBundleInstanceAuth(authID: $id, in: $in) { id }
}`, map[string]any{"id": authID, "in": map[string]any{"status": map[string]any{
		"condition": "FAILED", "message": message, "reason": "DeniedInCockpit"}}}, nil)
}
