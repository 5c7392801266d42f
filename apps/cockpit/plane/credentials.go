package plane

import (
	"context"
	"fmt"
)

// ClientCredentials are OAuth client credentials for an application, runtime or integration system; the
// secret is known only in the answer that created them.
type ClientCredentials struct {
	AuthID string
	// Certificate: the credentials are a client certificate the holder got by pairing with a one-time
	// token, so there is no client ID to show.
	Certificate  bool
	ClientID     string
	ClientSecret string
	TokenURL     string
}

// IntegrationSystemObject names integration systems for the credential calls (see Object).
const IntegrationSystemObject Object = "IntegrationSystem"

type systemAuth struct {
	ID   string `json:"id"`
	Auth *struct {
		Credential *struct {
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
			URL          string `json:"url"`
			Username     string `json:"username"`
		} `json:"credential"`
	} `json:"auth"`
}

const systemAuthFields = `id auth { credential { ... on OAuthCredentialData { clientId clientSecret url } ... on BasicCredentialData { username } } }`

func (a systemAuth) credentials() ClientCredentials {
	cc := ClientCredentials{AuthID: a.ID, Certificate: a.Auth == nil || a.Auth.Credential == nil}
	if !cc.Certificate {
		c := a.Auth.Credential
		cc.ClientID, cc.ClientSecret, cc.TokenURL = c.ClientID, c.ClientSecret, c.URL
		if cc.ClientID == "" {
			cc.ClientID = c.Username
		}
	}
	return cc
}

// RequestClientCredentials creates client credentials for the object; the answer holds the secret.
func (c *Client) RequestClientCredentials(ctx context.Context, token string, obj Object, id string) (ClientCredentials, error) {
	var out struct {
		A systemAuth `json:"a"`
	}
	err := c.Do(ctx, token, Director, fmt.Sprintf(`mutation Credentials($id: ID!) { a: requestClientCredentialsFor%s(id: $id) { %s } }`, obj, systemAuthFields),
		map[string]any{"id": id}, &out)
	return out.A.credentials(), err
}

// SystemAuths lists the credentials an object holds, without their secrets.
func (c *Client) SystemAuths(ctx context.Context, token string, obj Object, id string) ([]ClientCredentials, error) {
	field := map[Object]string{ApplicationObject: "application", RuntimeObject: "runtime", IntegrationSystemObject: "integrationSystem"}[obj]
	var out struct {
		O *struct {
			Auths []systemAuth `json:"auths"`
		} `json:"o"`
	}
	err := c.Do(ctx, token, Director, fmt.Sprintf(`query Auths($id: ID!) { o: %s(id: $id) { auths { %s } } }`, field, systemAuthFields),
		map[string]any{"id": id}, &out)
	var list []ClientCredentials
	if out.O != nil {
		for _, a := range out.O.Auths {
			cc := a.credentials()
			cc.ClientSecret = ""
			list = append(list, cc)
		}
	}
	return list, err
}

// DeleteSystemAuth withdraws credentials of the object's kind.
func (c *Client) DeleteSystemAuth(ctx context.Context, token string, obj Object, authID string) error {
	return c.Do(ctx, token, Director, fmt.Sprintf(`mutation Delete($id: ID!) { deleteSystemAuthFor%s(authID: $id) { id } }`, obj),
		map[string]any{"id": authID}, nil)
}

// PairRuntime issues a one-time token for a runtime's agent.
func (c *Client) PairRuntime(ctx context.Context, token, id string) (Pairing, error) {
	var out struct {
		P Pairing `json:"requestOneTimeTokenForRuntime"`
	}
	err := c.Do(ctx, token, Director, `mutation Pair($id: ID!) { requestOneTimeTokenForRuntime(id: $id) { token connectorURL raw rawEncoded } }`,
		map[string]any{"id": id}, &out)
	if err != nil {
		return Pairing{}, err
	}
	out.P.readExpiry()
	return out.P, nil
}

// IntegrationSystem is a system that manages applications for others.
type IntegrationSystem struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// IntegrationSystems is one page of the tenant's integration systems.
func (c *Client) IntegrationSystems(ctx context.Context, token string, first int, after string) ([]IntegrationSystem, PageInfo, int, error) {
	var out struct {
		P struct {
			Data       []IntegrationSystem `json:"data"`
			PageInfo   PageInfo            `json:"pageInfo"`
			TotalCount int                 `json:"totalCount"`
		} `json:"integrationSystems"`
	}
	vars := pageVars(first, after, nil)
	err := c.Do(ctx, token, Director, `query Systems($first: Int, $after: PageCursor) {
  integrationSystems(first: $first, after: $after) { data { id name description } pageInfo { endCursor hasNextPage } totalCount }
}`, vars, &out)
	return out.P.Data, out.P.PageInfo, out.P.TotalCount, err
}

// RegisterIntegrationSystem registers one and returns its ID.
func (c *Client) RegisterIntegrationSystem(ctx context.Context, token, name, description string) error {
	in := map[string]any{"name": name}
	if description != "" {
		in["description"] = description
	}
	return c.Do(ctx, token, Director, `mutation Register($in: IntegrationSystemInput!) { registerIntegrationSystem(in: $in) { id } }`,
		map[string]any{"in": in}, nil)
}

// UnregisterIntegrationSystem removes one.
func (c *Client) UnregisterIntegrationSystem(ctx context.Context, token, id string) error {
	return c.Do(ctx, token, Director, `mutation Unregister($id: ID!) { unregisterIntegrationSystem(id: $id) { id } }`,
		map[string]any{"id": id}, nil)
}

// Template is an application template with its placeholders.
type Template struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Placeholders []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"placeholders"`
}

// Templates lists application templates (at most 200).
func (c *Client) Templates(ctx context.Context, token string) ([]Template, error) {
	var out struct {
		P struct {
			Data []Template `json:"data"`
		} `json:"applicationTemplates"`
	}
	err := c.Do(ctx, token, Director, `query { applicationTemplates(first: 200) { data { id name description placeholders { name description } } } }`, nil, &out)
	return out.P.Data, err
}

// RegisterFromTemplate registers an application from a template with its placeholders' values and
// returns the application's ID.
func (c *Client) RegisterFromTemplate(ctx context.Context, token, template string, values map[string]string) (string, error) {
	var vals []map[string]string
	for k, v := range values {
		vals = append(vals, map[string]string{"placeholder": k, "value": v})
	}
	var out struct {
		A struct {
			ID string `json:"id"`
		} `json:"registerApplicationFromTemplate"`
	}
	err := c.Do(ctx, token, Director, `mutation FromTemplate($in: ApplicationFromTemplateInput!) { registerApplicationFromTemplate(in: $in) { id } }`,
		map[string]any{"in": map[string]any{"templateName": template, "values": vals}}, &out)
	return out.A.ID, err
}

// CreateTemplate creates a template; applicationInput is an ApplicationRegisterInput as JSON, with
// {{placeholder}} where values go.
func (c *Client) CreateTemplate(ctx context.Context, token, name, description string, applicationInput map[string]any, placeholders []string) error {
	var ph []map[string]string
	for _, p := range placeholders {
		ph = append(ph, map[string]string{"name": p})
	}
	in := map[string]any{"name": name, "applicationInput": applicationInput, "placeholders": ph, "accessLevel": "GLOBAL"}
	if description != "" {
		in["description"] = description
	}
	return c.Do(ctx, token, Director, `mutation CreateTemplate($in: ApplicationTemplateInput!) { createApplicationTemplate(in: $in) { id } }`,
		map[string]any{"in": in}, nil)
}
