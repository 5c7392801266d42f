// Package director is the System Broker's client of the Director. Every call is made as the calling
// runtime (package directorapi), so the Director decides what the runtime may see and do: the catalog is
// the applications the Director shows that runtime, and an instance auth is the runtime's own.
package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/internal/directorapi"
)

// pageSize is the Director's largest page.
const pageSize = 200

// Client asks the Director for applications, bundles and instance auths.
type Client struct{ director *directorapi.Client }

// New returns a client for the Director running as Dapr app appID.
func New(inv directorapi.Invoker, appID string) *Client {
	c := directorapi.New(inv, appID)
	c.MaxResponse = 64 << 20 // a page of 200 applications with their bundles and definitions
	return &Client{director: c}
}

// PageInfo is the Director's cursor information.
type PageInfo struct {
	EndCursor   string `json:"endCursor"`
	HasNextPage bool   `json:"hasNextPage"`
}

// Version is an API or event definition's version.
type Version struct {
	Value           string `json:"value"`
	Deprecated      *bool  `json:"deprecated,omitempty"`
	DeprecatedSince string `json:"deprecatedSince,omitempty"`
	ForRemoval      *bool  `json:"forRemoval,omitempty"`
}

// Spec is the kind of a definition's specification, without its data.
type Spec struct {
	Type   string `json:"type"`
	Format string `json:"format"`
}

// Definition is an API or event definition of a bundle.
type Definition struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	TargetURL   string   `json:"targetURL"` // API definitions only
	Group       string   `json:"group"`
	Version     *Version `json:"version"`
	Spec        *Spec    `json:"spec"`
}

type definitionPage struct {
	Data     []Definition `json:"data"`
	PageInfo PageInfo     `json:"pageInfo"`
}

// Bundle is a bundle with what the catalog shows of it.
type Bundle struct {
	ID                             string          `json:"id"`
	Name                           string          `json:"name"`
	Description                    string          `json:"description"`
	InstanceAuthRequestInputSchema json.RawMessage `json:"instanceAuthRequestInputSchema"`
	// DefaultAuth tells whether credentials are handed out at once (the bundle has a default auth) or the
	// application is asked. Only whether it is set is read: the credentials themselves stay in the Director.
	DefaultAuth *struct {
		Typename string `json:"__typename"`
	} `json:"defaultInstanceAuth"`
	APIDefinitions   definitionPage `json:"apiDefinitions"`
	EventDefinitions definitionPage `json:"eventDefinitions"`
}

type bundlePage struct {
	Data     []Bundle `json:"data"`
	PageInfo PageInfo `json:"pageInfo"`
}

// Application is an application with its bundles.
type Application struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Description  string         `json:"description"`
	ProviderName string         `json:"providerName"`
	Labels       map[string]any `json:"labels"`
	Bundles      bundlePage     `json:"bundles"`
}

// The fields of one page of API and event definitions, in the first page of a bundle and in the pages after.
const (
	apiPageFields   = `{ data { id name description targetURL group version { value deprecated deprecatedSince forRemoval } spec { type format } } pageInfo { endCursor hasNextPage } }`
	eventPageFields = `{ data { id name description group version { value deprecated deprecatedSince forRemoval } spec { type format } } pageInfo { endCursor hasNextPage } }`
)

const definitionFields = `
	apiDefinitions(first: 200) ` + apiPageFields + `
	eventDefinitions(first: 200) ` + eventPageFields

const bundleFields = `id name description instanceAuthRequestInputSchema defaultInstanceAuth { __typename }` + definitionFields

const applicationsQuery = `query BrokerCatalog($after: PageCursor) {
	applications(first: 200, after: $after) {
		data { id name description providerName labels bundles(first: 200) { data { ` + bundleFields + ` } pageInfo { endCursor hasNextPage } } }
		pageInfo { endCursor hasNextPage }
	}
}`

// Applications returns every application the calling runtime may see, each with all its bundles and
// their definitions: the Director's pages are followed to the end, at every level.
func (c *Client) Applications(ctx context.Context) ([]Application, error) {
	var apps []Application
	after := ""
	for {
		var out struct {
			Applications struct {
				Data     []Application `json:"data"`
				PageInfo PageInfo      `json:"pageInfo"`
			} `json:"applications"`
		}
		vars := map[string]any{}
		if after != "" {
			vars["after"] = after
		}
		if err := c.director.Do(ctx, applicationsQuery, vars, &out); err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		for i := range out.Applications.Data {
			if err := c.completeApplication(ctx, &out.Applications.Data[i]); err != nil {
				return nil, err
			}
		}
		apps = append(apps, out.Applications.Data...)
		if !out.Applications.PageInfo.HasNextPage || out.Applications.PageInfo.EndCursor == "" {
			return apps, nil
		}
		after = out.Applications.PageInfo.EndCursor
	}
}

const bundlesQuery = `query BrokerBundles($app: ID!, $after: PageCursor) {
	application(id: $app) { bundles(first: 200, after: $after) { data { ` + bundleFields + ` } pageInfo { endCursor hasNextPage } } }
}`

// completeApplication fetches the bundles and definitions that did not fit in the first pages.
func (c *Client) completeApplication(ctx context.Context, app *Application) error {
	for page := app.Bundles.PageInfo; page.HasNextPage && page.EndCursor != ""; {
		var out struct {
			Application *struct {
				Bundles bundlePage `json:"bundles"`
			} `json:"application"`
		}
		if err := c.director.Do(ctx, bundlesQuery, map[string]any{"app": app.ID, "after": page.EndCursor}, &out); err != nil {
			return fmt.Errorf("bundles of application %s: %w", app.ID, err)
		}
		if out.Application == nil { // gone since the first page
			break
		}
		app.Bundles.Data = append(app.Bundles.Data, out.Application.Bundles.Data...)
		page = out.Application.Bundles.PageInfo
	}
	for i := range app.Bundles.Data {
		if err := c.completeBundle(ctx, app.ID, &app.Bundles.Data[i]); err != nil {
			return err
		}
	}
	return nil
}

const definitionsQuery = `query BrokerDefinitions($app: ID!, $bundle: ID!, $apis: PageCursor, $events: PageCursor, $wantAPIs: Boolean!, $wantEvents: Boolean!) {
	application(id: $app) { bundle(id: $bundle) {
		apiDefinitions(first: 200, after: $apis) @include(if: $wantAPIs) ` + apiPageFields + `
		eventDefinitions(first: 200, after: $events) @include(if: $wantEvents) ` + eventPageFields + `
	} }
}`

func (c *Client) completeBundle(ctx context.Context, appID string, b *Bundle) error {
	apis, events := b.APIDefinitions.PageInfo, b.EventDefinitions.PageInfo
	for more(apis) || more(events) {
		var out struct {
			Application *struct {
				Bundle *struct {
					APIDefinitions   definitionPage `json:"apiDefinitions"`
					EventDefinitions definitionPage `json:"eventDefinitions"`
				} `json:"bundle"`
			} `json:"application"`
		}
		vars := map[string]any{"app": appID, "bundle": b.ID, "wantAPIs": more(apis), "wantEvents": more(events),
			"apis": apis.EndCursor, "events": events.EndCursor}
		if err := c.director.Do(ctx, definitionsQuery, vars, &out); err != nil {
			return fmt.Errorf("definitions of bundle %s: %w", b.ID, err)
		}
		if out.Application == nil || out.Application.Bundle == nil {
			return nil
		}
		got := out.Application.Bundle
		if more(apis) {
			b.APIDefinitions.Data = append(b.APIDefinitions.Data, got.APIDefinitions.Data...)
			apis = got.APIDefinitions.PageInfo
		}
		if more(events) {
			b.EventDefinitions.Data = append(b.EventDefinitions.Data, got.EventDefinitions.Data...)
			events = got.EventDefinitions.PageInfo
		}
	}
	return nil
}

func more(p PageInfo) bool { return p.HasNextPage && p.EndCursor != "" }

const bundleQuery = `query BrokerBundle($app: ID!, $bundle: ID!) {
	application(id: $app) { id bundle(id: $bundle) { id name defaultInstanceAuth { __typename } } }
}`

// Plan is what the broker needs to know of a bundle to bind to it.
type Plan struct {
	ApplicationID string
	BundleID      string
	// Immediate: the bundle has a default auth, so an instance auth gets its credentials at once and giving
	// one up deletes it at once. Otherwise the application answers, perhaps later.
	Immediate bool
}

// ErrNoPlan means the runtime cannot see the application or it has no such bundle.
var ErrNoPlan = errors.New("no such service and plan for this runtime")

// Plan returns bundle bundleID of application appID as the calling runtime sees it, or ErrNoPlan.
func (c *Client) Plan(ctx context.Context, appID, bundleID string) (*Plan, error) {
	var out struct {
		Application *struct {
			Bundle *Bundle `json:"bundle"`
		} `json:"application"`
	}
	if err := c.director.Do(ctx, bundleQuery, map[string]any{"app": appID, "bundle": bundleID}, &out); err != nil {
		return nil, fmt.Errorf("bundle %s of application %s: %w", bundleID, appID, err)
	}
	if out.Application == nil || out.Application.Bundle == nil {
		return nil, ErrNoPlan
	}
	return &Plan{ApplicationID: appID, BundleID: bundleID, Immediate: out.Application.Bundle.DefaultAuth != nil}, nil
}

// Instance auth conditions, as the Director names them.
const (
	Pending   = "PENDING"
	Succeeded = "SUCCEEDED"
	Failed    = "FAILED"
	Unused    = "UNUSED"
)

// Credential is basic or OAuth client credentials.
type Credential struct {
	Typename     string `json:"__typename"`
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	ClientID     string `json:"clientId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	URL          string `json:"url,omitempty"`
}

// Auth is the credentials of an instance auth.
type Auth struct {
	Credential            *Credential         `json:"credential"`
	AdditionalHeaders     map[string][]string `json:"additionalHeaders"`
	AdditionalQueryParams map[string][]string `json:"additionalQueryParams"`
	RequestAuth           *struct {
		CSRF *struct {
			TokenEndpointURL string `json:"tokenEndpointURL"`
		} `json:"csrf"`
	} `json:"requestAuth"`
}

// InstanceAuth is a bundle instance auth with its status and, once SUCCEEDED, its credentials.
type InstanceAuth struct {
	ID      string          `json:"id"`
	Context json.RawMessage `json:"context"`
	Status  struct {
		Condition string `json:"condition"`
		Reason    string `json:"reason"`
		Message   string `json:"message"`
	} `json:"status"`
	Auth *Auth `json:"auth"`
}

const authFields = `id context status { condition reason message }
	auth {
		credential { __typename ... on BasicCredentialData { username password } ... on OAuthCredentialData { clientId clientSecret url } }
		additionalHeaders additionalQueryParams requestAuth { csrf { tokenEndpointURL } }
	}`

const requestAuthMutation = `mutation BrokerBind($bundle: ID!, $in: BundleInstanceAuthRequestInput!) {
	requestBundleInstanceAuthCreation(bundleID: $bundle, in: $in) { ` + authFields + ` }
}`

// RequestInstanceAuth asks for credentials to bundleID under the given id (the binding's), with a context
// naming who asks and the binding's parameters, which the Director checks against the bundle's schema.
func (c *Client) RequestInstanceAuth(ctx context.Context, bundleID, id string, authContext, params json.RawMessage) (*InstanceAuth, error) {
	// The Director's JSON scalar is JSON in a string, as Compass's is.
	in := map[string]any{"id": id, "context": string(authContext)}
	if len(params) > 0 && string(params) != "null" {
		in["inputParams"] = string(params)
	}
	var out struct {
		Result *InstanceAuth `json:"requestBundleInstanceAuthCreation"`
	}
	if err := c.director.Do(ctx, requestAuthMutation, map[string]any{"bundle": bundleID, "in": in}, &out); err != nil {
		return nil, fmt.Errorf("request instance auth %s: %w", id, err)
	}
	if out.Result == nil {
		return nil, errors.New("request instance auth: the Director answered no instance auth")
	}
	return out.Result, nil
}

const instanceAuthQuery = `query BrokerBinding($id: ID!) {
	bundleByInstanceAuth(authID: $id) {
		id
		apiDefinitions(first: 200) { data { name targetURL } pageInfo { endCursor hasNextPage } }
		instanceAuth(id: $id) { ` + authFields + ` }
	}
}`

// Binding is an instance auth with the target URLs of its bundle's APIs.
type Binding struct {
	BundleID     string
	InstanceAuth InstanceAuth
	// TargetURLs maps each API definition's name to its target URL.
	TargetURLs map[string]string
}

// InstanceAuth returns instance auth id with its bundle's target URLs, or nil when the Director has none
// with this id for the calling runtime.
func (c *Client) InstanceAuth(ctx context.Context, id string) (*Binding, error) {
	var out struct {
		Bundle *struct {
			ID             string         `json:"id"`
			APIDefinitions definitionPage `json:"apiDefinitions"`
			InstanceAuth   *InstanceAuth  `json:"instanceAuth"`
		} `json:"bundleByInstanceAuth"`
	}
	if err := c.director.Do(ctx, instanceAuthQuery, map[string]any{"id": id}, &out); err != nil {
		return nil, fmt.Errorf("instance auth %s: %w", id, err)
	}
	if out.Bundle == nil || out.Bundle.InstanceAuth == nil {
		return nil, nil
	}
	b := &Binding{BundleID: out.Bundle.ID, InstanceAuth: *out.Bundle.InstanceAuth, TargetURLs: map[string]string{}}
	for _, d := range out.Bundle.APIDefinitions.Data {
		b.TargetURLs[d.Name] = d.TargetURL
	}
	return b, nil
}

const deleteAuthMutation = `mutation BrokerUnbind($id: ID!) { requestBundleInstanceAuthDeletion(authID: $id) { id status { condition } } }`

// RequestInstanceAuthDeletion gives up instance auth id: deleted at once when its bundle has a default
// auth, otherwise UNUSED until the application revokes the credentials and deletes it.
func (c *Client) RequestInstanceAuthDeletion(ctx context.Context, id string) error {
	if err := c.director.Do(ctx, deleteAuthMutation, map[string]any{"id": id}, nil); err != nil {
		return fmt.Errorf("give up instance auth %s: %w", id, err)
	}
	return nil
}

// Specification is a definition's specification document.
type Specification struct {
	Data   string
	Format string // YAML, JSON or XML
}

const specQuery = `query BrokerSpec($app: ID!, $bundle: ID!, $def: ID!, $api: Boolean!) {
	application(id: $app) { bundle(id: $bundle) {
		apiDefinition(id: $def) @include(if: $api) { spec { data format } }
		eventDefinition(id: $def) @skip(if: $api) { spec { data format } }
	} }
}`

// Specification returns the specification of API (api true) or event definition defID of bundleID of
// appID, or nil when the runtime cannot see it or it has none.
func (c *Client) Specification(ctx context.Context, appID, bundleID, defID string, api bool) (*Specification, error) {
	type def struct {
		Spec *struct {
			Data   *string `json:"data"`
			Format string  `json:"format"`
		} `json:"spec"`
	}
	var out struct {
		Application *struct {
			Bundle *struct {
				API   *def `json:"apiDefinition"`
				Event *def `json:"eventDefinition"`
			} `json:"bundle"`
		} `json:"application"`
	}
	vars := map[string]any{"app": appID, "bundle": bundleID, "def": defID, "api": api}
	if err := c.director.Do(ctx, specQuery, vars, &out); err != nil {
		return nil, fmt.Errorf("specification %s: %w", defID, err)
	}
	if out.Application == nil || out.Application.Bundle == nil {
		return nil, nil
	}
	d := out.Application.Bundle.Event
	if api {
		d = out.Application.Bundle.API
	}
	if d == nil || d.Spec == nil || d.Spec.Data == nil {
		return nil, nil
	}
	return &Specification{Data: *d.Spec.Data, Format: d.Spec.Format}, nil
}
