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
	Documents struct {
		Data       []Document `json:"data"`
		TotalCount int        `json:"totalCount"`
	} `json:"documents"`
	InstanceAuths []InstanceAuth `json:"instanceAuths"`
}

// Document is documentation shipped with a bundle; Data is filled only when one is asked for by itself.
type Document struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	DisplayName string `json:"displayName"`
	Description string `json:"description"`
	Format      string `json:"format"`
	Kind        string `json:"kind,omitempty"`
	Data        string `json:"data,omitempty"`
	// FetchRequest is where the Director fetched the document from, when it was registered that way.
	FetchRequest *struct {
		URL    string `json:"url"`
		Status struct {
			Condition string `json:"condition"`
			Message   string `json:"message"`
		} `json:"status"`
	} `json:"fetchRequest,omitempty"`
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
    documents(first: 100) { totalCount data { id title displayName description format kind } }
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

// Document is one document of a bundle with its text, or nil when there is none.
func (c *Client) Document(ctx context.Context, token, appID, bundleID, docID string) (*Document, error) {
	var out struct {
		App *struct {
			Bundle *struct {
				Doc *Document `json:"document"`
			} `json:"bundle"`
		} `json:"application"`
	}
	err := c.Do(ctx, token, Director, `query Document($app: ID!, $bundle: ID!, $id: ID!) {
  application(id: $app) { bundle(id: $bundle) { document(id: $id) {
    id title displayName description format kind data fetchRequest { url status { condition message } }
  } } }
}`, map[string]any{"app": appID, "bundle": bundleID, "id": docID}, &out)
	if out.App == nil || out.App.Bundle == nil {
		return nil, err
	}
	return out.App.Bundle.Doc, err
}

// AddDocument adds a Markdown document to a bundle and returns its ID.
func (c *Client) AddDocument(ctx context.Context, token, bundleID string, d Document) (string, error) {
	in := map[string]any{"title": d.Title, "displayName": d.DisplayName, "description": d.Description,
		"format": "MARKDOWN", "data": d.Data}
	if d.Kind != "" {
		in["kind"] = d.Kind
	}
	var out struct {
		Doc struct {
			ID string `json:"id"`
		} `json:"addDocumentToBundle"`
	}
	err := c.Do(ctx, token, Director, `mutation AddDocument($bundle: ID!, $in: DocumentInput!) {
  addDocumentToBundle(bundleID: $bundle, in: $in) { id }
}`, map[string]any{"bundle": bundleID, "in": in}, &out)
	return out.Doc.ID, err
}

// DeleteDocument removes a document from its bundle.
func (c *Client) DeleteDocument(ctx context.Context, token, id string) error {
	return c.Do(ctx, token, Director, `mutation DeleteDocument($id: ID!) { deleteDocument(id: $id) { id } }`,
		map[string]any{"id": id}, nil)
}

// InstanceAuthRefPage is one page of instance auths across the tenant, each with its bundle and application.
type InstanceAuthRefPage struct {
	Data []struct {
		ApplicationID string       `json:"applicationID"`
		BundleID      string       `json:"bundleID"`
		InstanceAuth  InstanceAuth `json:"instanceAuth"`
	} `json:"data"`
	TotalCount int `json:"totalCount"`
}

// InstanceAuthsWithCondition lists the first of the tenant's instance auths in a condition (FAILED).
func (c *Client) InstanceAuthsWithCondition(ctx context.Context, token, condition string, first int) (InstanceAuthRefPage, error) {
	var out struct {
		P InstanceAuthRefPage `json:"bundleInstanceAuthsByCondition"`
	}
	err := c.Do(ctx, token, Director, `query InstanceAuths($condition: BundleInstanceAuthStatusCondition!, $first: Int) {
  bundleInstanceAuthsByCondition(condition: $condition, first: $first) {
    totalCount data { applicationID bundleID instanceAuth { id context status { condition timestamp message reason } } }
  }
}`, map[string]any{"condition": condition, "first": first}, &out)
	return out.P, err
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
