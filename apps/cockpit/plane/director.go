package plane

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Status is an application's or runtime's condition and since when it holds.
type Status struct {
	Condition string    `json:"condition"`
	Timestamp time.Time `json:"timestamp"`
	Reason    string    `json:"reason,omitempty"`
}

// Application is what the Cockpit shows of an application.
type Application struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ProviderName string `json:"providerName"`
	Description  string `json:"description"`
	// HealthCheckURL and IntegrationSystemID are read before an edit: the Director's update replaces
	// every field it takes, so the form sends back what it does not show.
	HealthCheckURL      string         `json:"healthCheckURL"`
	IntegrationSystemID string         `json:"integrationSystemID"`
	Labels              map[string]any `json:"labels"`
	Status              Status         `json:"status"`
	Webhooks            []Webhook      `json:"webhooks"`
	Bundles             struct {
		TotalCount int      `json:"totalCount"`
		Data       []Bundle `json:"data"`
	} `json:"bundles"`
}

// Webhook is one of an application's webhooks.
type Webhook struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Bundle is one of an application's bundles, with how many definitions it holds.
type Bundle struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	APIDefinitions   count  `json:"apiDefinitions"`
	EventDefinitions count  `json:"eventDefinitions"`
}

type count struct {
	TotalCount int `json:"totalCount"`
}

// ApplicationPage is one page of a tenant's applications.
type ApplicationPage struct {
	Data       []Application `json:"data"`
	PageInfo   PageInfo      `json:"pageInfo"`
	TotalCount int           `json:"totalCount"`
}

// LabelFilter narrows a list to the objects carrying Key, with Query (a JSON path condition) when given.
type LabelFilter struct {
	Key   string `json:"key"`
	Query string `json:"query,omitempty"`
}

// ParseFilter reads the list pages' filter box: space-separated terms, all of which must match. `key`
// asks for the label to be there; `key=value` for its value to equal value; `key[]=value` for its list
// of values (scenarios, say) to hold value. A value that is a JSON number, true, false or a quoted
// string is taken as that literal, anything else as a string.
func ParseFilter(s string) []LabelFilter {
	var out []LabelFilter
	for _, term := range strings.Fields(s) {
		k, v, ok := strings.Cut(term, "=")
		path := "$"
		if base, isList := strings.CutSuffix(k, "[]"); isList {
			k, path = base, "$[*]"
		}
		if k == "" {
			continue
		}
		f := LabelFilter{Key: k}
		if ok {
			f.Query = fmt.Sprintf(`%s ? (@ == %s)`, path, literal(v))
		}
		out = append(out, f)
	}
	return out
}

// literal is v as a JSON literal for a label filter query.
func literal(v string) string {
	var x any
	if err := json.Unmarshal([]byte(v), &x); err == nil {
		switch x.(type) {
		case float64, bool, string:
			return v
		}
	}
	q, _ := json.Marshal(v)
	return string(q)
}

const applicationListFields = `id name providerName description labels status { condition timestamp } bundles { totalCount }`

// Applications is one page of the tenant's applications matching filters, after the cursor.
func (c *Client) Applications(ctx context.Context, token string, filters []LabelFilter, first int, after string) (ApplicationPage, error) {
	var out struct {
		Applications ApplicationPage `json:"applications"`
	}
	vars := pageVars(first, after, filters)
	err := c.Do(ctx, token, Director, `query Applications($filter: [LabelFilter!], $first: Int, $after: PageCursor) {
  applications(filter: $filter, first: $first, after: $after) {
    data { `+applicationListFields+` }
    pageInfo { endCursor hasNextPage }
    totalCount
  }
}`, vars, &out)
	return out.Applications, err
}

// ApplicationByName is the application with this name (names compare normalized, as in Compass), or nil.
func (c *Client) ApplicationByName(ctx context.Context, token, name string) (*Application, error) {
	var out struct {
		Application *Application `json:"applicationByName"`
	}
	err := c.Do(ctx, token, Director, `query ApplicationByName($name: String!) {
  applicationByName(name: $name) { `+applicationListFields+` }
}`, map[string]any{"name": name}, &out)
	return out.Application, err
}

// Application is one application with its webhooks and bundles, or nil when there is none with this ID.
func (c *Client) Application(ctx context.Context, token, id string) (*Application, error) {
	var out struct {
		Application *Application `json:"application"`
	}
	err := c.Do(ctx, token, Director, `query Application($id: ID!) {
  application(id: $id) {
    id name providerName description healthCheckURL integrationSystemID labels status { condition timestamp }
    webhooks { id type url }
    bundles(first: 100) {
      totalCount
      data { id name description apiDefinitions { totalCount } eventDefinitions { totalCount } }
    }
  }
}`, map[string]any{"id": id}, &out)
	return out.Application, err
}

// ApplicationInput is what registering an application takes.
type ApplicationInput struct {
	Name         string         `json:"name"`
	ProviderName string         `json:"providerName,omitempty"`
	Description  string         `json:"description,omitempty"`
	Labels       map[string]any `json:"labels,omitempty"`
}

// RegisterApplication registers an application and returns its ID.
func (c *Client) RegisterApplication(ctx context.Context, token string, in ApplicationInput) (string, error) {
	var out struct {
		RegisterApplication struct {
			ID string `json:"id"`
		} `json:"registerApplication"`
	}
	err := c.Do(ctx, token, Director, `mutation Register($in: ApplicationRegisterInput!) {
  registerApplication(in: $in) { id }
}`, map[string]any{"in": in}, &out)
	return out.RegisterApplication.ID, err
}

// ApplicationUpdate is what editing an application changes. As in Compass, the update replaces all of
// these fields: an empty one is cleared.
type ApplicationUpdate struct {
	ProviderName        string `json:"providerName"`
	Description         string `json:"description"`
	HealthCheckURL      string `json:"healthCheckURL"`
	IntegrationSystemID string `json:"integrationSystemID"`
}

// input leaves empty fields out rather than sending "", which the Director would store as given (and
// refuse for an integration system ID).
func (u ApplicationUpdate) input() map[string]any {
	in := map[string]any{}
	for k, v := range map[string]string{"providerName": u.ProviderName, "description": u.Description,
		"healthCheckURL": u.HealthCheckURL, "integrationSystemID": u.IntegrationSystemID} {
		if v != "" {
			in[k] = v
		}
	}
	return in
}

// UpdateApplication edits an application's own fields.
func (c *Client) UpdateApplication(ctx context.Context, token, id string, u ApplicationUpdate) error {
	return c.Do(ctx, token, Director, `mutation Update($id: ID!, $in: ApplicationUpdateInput!) {
  updateApplication(id: $id, in: $in) { id }
}`, map[string]any{"id": id, "in": u.input()}, nil)
}

// UnregisterApplication removes an application with everything it has.
func (c *Client) UnregisterApplication(ctx context.Context, token, id string) error {
	return c.Do(ctx, token, Director, `mutation Unregister($id: ID!) { unregisterApplication(id: $id) { id } }`,
		map[string]any{"id": id}, nil)
}

// Object says whose labels a label call changes.
type Object string

const (
	ApplicationObject Object = "Application"
	RuntimeObject     Object = "Runtime"
)

// SetLabel sets one label of an application or runtime; the Director checks it against the label's
// definition.
func (c *Client) SetLabel(ctx context.Context, token string, obj Object, id, key string, value any) error {
	return c.Do(ctx, token, Director, fmt.Sprintf(`mutation SetLabel($id: ID!, $key: String!, $value: Any!) {
  set%sLabel(%s: $id, key: $key, value: $value) { key }
}`, obj, idArg(obj)), map[string]any{"id": id, "key": key, "value": value}, nil)
}

// DeleteLabel removes one label of an application or runtime.
func (c *Client) DeleteLabel(ctx context.Context, token string, obj Object, id, key string) error {
	return c.Do(ctx, token, Director, fmt.Sprintf(`mutation DeleteLabel($id: ID!, $key: String!) {
  delete%sLabel(%s: $id, key: $key) { key }
}`, obj, idArg(obj)), map[string]any{"id": id, "key": key}, nil)
}

func idArg(obj Object) string {
	if obj == RuntimeObject {
		return "runtimeID"
	}
	return "applicationID"
}

// Pairing is a one-time token for an application or runtime to pair with the Connector.
type Pairing struct {
	Token        string `json:"token"`
	ConnectorURL string `json:"connectorURL"`
	RawEncoded   string `json:"rawEncoded"`
	Raw          string `json:"raw"`
	// ExpiresAt is read from Raw.
	ExpiresAt time.Time `json:"-"`
}

// PairApplication issues a one-time token for the application.
func (c *Client) PairApplication(ctx context.Context, token, id string) (Pairing, error) {
	var out struct {
		P Pairing `json:"requestOneTimeTokenForApplication"`
	}
	err := c.Do(ctx, token, Director, `mutation Pair($id: ID!) {
  requestOneTimeTokenForApplication(id: $id) { token connectorURL raw rawEncoded }
}`, map[string]any{"id": id}, &out)
	if err != nil {
		return Pairing{}, err
	}
	out.P.readExpiry()
	return out.P, nil
}

// readExpiry reads ExpiresAt from the pairing data.
func (p *Pairing) readExpiry() {
	var raw struct {
		ExpiresAt time.Time `json:"expiresAt"`
	}
	_ = json.Unmarshal([]byte(p.Raw), &raw)
	p.ExpiresAt = raw.ExpiresAt
}

// LabelDefinition is a label key and the JSON Schema its values must satisfy ("" when any value goes).
type LabelDefinition struct {
	Key    string `json:"key"`
	Schema any    `json:"schema"`
}

// SchemaText is the schema as JSON text, "" when there is none. The Director sends it as a string (the
// JSONSchema scalar); an object is accepted too.
func (d *LabelDefinition) SchemaText() (string, error) {
	if d == nil || d.Schema == nil {
		return "", nil
	}
	if s, ok := d.Schema.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(d.Schema)
	return string(b), err
}

// LabelDefinition returns the definition of key, or nil when the key has none.
func (c *Client) LabelDefinition(ctx context.Context, token, key string) (*LabelDefinition, error) {
	var out struct {
		D *LabelDefinition `json:"labelDefinition"`
	}
	err := c.Do(ctx, token, Director, `query LabelDefinition($key: String!) { labelDefinition(key: $key) { key schema } }`,
		map[string]any{"key": key}, &out)
	return out.D, err
}

// Runtime is what the Cockpit shows of a runtime.
type Runtime struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Labels      map[string]any `json:"labels"`
	Status      Status         `json:"status"`
	Metadata    struct {
		CreationTimestamp time.Time `json:"creationTimestamp"`
	} `json:"metadata"`
	// LastHeartbeat is when its agent last sent a heartbeat (read on lists and pages, not in scans).
	LastHeartbeat *time.Time `json:"lastHeartbeat"`
}

// RuntimePage is one page of a tenant's runtimes.
type RuntimePage struct {
	Data       []Runtime `json:"data"`
	PageInfo   PageInfo  `json:"pageInfo"`
	TotalCount int       `json:"totalCount"`
}

const runtimeFields = `id name description labels status { condition timestamp reason } metadata { creationTimestamp }`

// Runtimes is one page of the tenant's runtimes matching filters, after the cursor, with their last
// heartbeats when asked (one more read per runtime in the Director: for pages, not scans).
func (c *Client) Runtimes(ctx context.Context, token string, filters []LabelFilter, first int, after string, withHeartbeats bool) (RuntimePage, error) {
	var out struct {
		Runtimes RuntimePage `json:"runtimes"`
	}
	vars := pageVars(first, after, filters)
	fields := runtimeFields
	if withHeartbeats {
		fields += " lastHeartbeat"
	}
	err := c.Do(ctx, token, Director, `query Runtimes($filter: [LabelFilter!], $first: Int, $after: PageCursor) {
  runtimes(filter: $filter, first: $first, after: $after) {
    data { `+fields+` }
    pageInfo { endCursor hasNextPage }
    totalCount
  }
}`, vars, &out)
	return out.Runtimes, err
}

// Runtime is one runtime, or nil when there is none with this ID.
func (c *Client) Runtime(ctx context.Context, token, id string) (*Runtime, error) {
	var out struct {
		Runtime *Runtime `json:"runtime"`
	}
	err := c.Do(ctx, token, Director, `query Runtime($id: ID!) { runtime(id: $id) { `+runtimeFields+` lastHeartbeat } }`,
		map[string]any{"id": id}, &out)
	return out.Runtime, err
}

// LabelDefinitions lists the tenant's label definitions.
func (c *Client) LabelDefinitions(ctx context.Context, token string) ([]LabelDefinition, error) {
	var out struct {
		D []LabelDefinition `json:"labelDefinitions"`
	}
	err := c.Do(ctx, token, Director, `query { labelDefinitions { key schema } }`, nil, &out)
	return out.D, err
}

// SaveLabelDefinition creates the definition of key, or replaces its schema when update is set; an empty
// schema lets any value through.
func (c *Client) SaveLabelDefinition(ctx context.Context, token, key, schema string, update bool) error {
	in := map[string]any{"key": key}
	if schema != "" {
		in["schema"] = schema
	}
	op := "createLabelDefinition"
	if update {
		op = "updateLabelDefinition"
	}
	return c.Do(ctx, token, Director, `mutation Save($in: LabelDefinitionInput!) { `+op+`(in: $in) { key } }`,
		map[string]any{"in": in}, nil)
}

// DeleteLabelDefinition removes a definition, and with withLabels the labels of that key everywhere.
func (c *Client) DeleteLabelDefinition(ctx context.Context, token, key string, withLabels bool) error {
	return c.Do(ctx, token, Director, `mutation Delete($key: String!, $all: Boolean) { deleteLabelDefinition(key: $key, deleteRelatedLabels: $all) { key } }`,
		map[string]any{"key": key, "all": withLabels}, nil)
}

// Assignment puts every runtime carrying the label Key=Value into Scenario.
type Assignment struct {
	Scenario string `json:"scenarioName"`
	Selector struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"selector"`
}

// Assignments lists the tenant's automatic scenario assignments (at most 200).
func (c *Client) Assignments(ctx context.Context, token string) ([]Assignment, error) {
	var out struct {
		P struct {
			Data []Assignment `json:"data"`
		} `json:"automaticScenarioAssignments"`
	}
	err := c.Do(ctx, token, Director, `query { automaticScenarioAssignments(first: 200) { data { scenarioName selector { key value } } } }`, nil, &out)
	return out.P.Data, err
}

// Assign creates the automatic assignment of runtimes labelled key=value to scenario.
func (c *Client) Assign(ctx context.Context, token, scenario, key, value string) error {
	return c.Do(ctx, token, Director, `mutation Assign($in: AutomaticScenarioAssignmentSetInput!) { createAutomaticScenarioAssignment(in: $in) { scenarioName } }`,
		map[string]any{"in": map[string]any{"scenarioName": scenario, "selector": map[string]any{"key": key, "value": value}}}, nil)
}

// Unassign removes a scenario's automatic assignment.
func (c *Client) Unassign(ctx context.Context, token, scenario string) error {
	return c.Do(ctx, token, Director, `mutation Unassign($s: String!) { deleteAutomaticScenarioAssignmentForScenario(scenarioName: $s) { scenarioName } }`,
		map[string]any{"s": scenario}, nil)
}

// CountWithScenario counts the applications and runtimes in a scenario.
func (c *Client) CountWithScenario(ctx context.Context, token, scenario string) (apps, runtimes int, err error) {
	var out struct {
		A struct {
			TotalCount int `json:"totalCount"`
		} `json:"applications"`
		R struct {
			TotalCount int `json:"totalCount"`
		} `json:"runtimes"`
	}
	f := []LabelFilter{{Key: "scenarios", Query: fmt.Sprintf(`$[*] ? (@ == %s)`, strconvQuote(scenario))}}
	err = c.Do(ctx, token, Director, `query Count($f: [LabelFilter!]) {
  applications(filter: $f, first: 1) { totalCount }
  runtimes(filter: $f, first: 1) { totalCount }
}`, map[string]any{"f": f}, &out)
	return out.A.TotalCount, out.R.TotalCount, err
}

// strconvQuote is s as a JSON string: a scenario named 3 is the string "3", not the number.
func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// AddWebhook adds a webhook of the given type to an application.
func (c *Client) AddWebhook(ctx context.Context, token, appID, typ, url string) error {
	return c.Do(ctx, token, Director, `mutation AddWebhook($app: ID!, $in: WebhookInput!) { addWebhook(applicationID: $app, in: $in) { id } }`,
		map[string]any{"app": appID, "in": map[string]any{"type": typ, "url": url}}, nil)
}

// DeleteWebhook removes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, token, webhookID string) error {
	return c.Do(ctx, token, Director, `mutation DeleteWebhook($id: ID!) { deleteWebhook(webhookID: $id) { id } }`,
		map[string]any{"id": webhookID}, nil)
}
