package osb

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/broker/director"
)

// Catalog is GET /v2/catalog.
type Catalog struct {
	Services []Service `json:"services"`
}

// Service is an application.
type Service struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	Description          string         `json:"description"`
	Bindable             bool           `json:"bindable"`
	InstancesRetrievable bool           `json:"instances_retrievable"`
	BindingsRetrievable  bool           `json:"bindings_retrievable"`
	PlanUpdateable       bool           `json:"plan_updateable"`
	Metadata             map[string]any `json:"metadata,omitempty"`
	Plans                []Plan         `json:"plans"`
}

// Plan is a bundle.
type Plan struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Free        bool           `json:"free"`
	Bindable    bool           `json:"bindable"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Schemas     *Schemas       `json:"schemas,omitempty"`
}

// Schemas holds the JSON Schema a binding's parameters must satisfy: the bundle's instance auth request
// input schema, which the Director checks the parameters against when the binding is made.
type Schemas struct {
	ServiceBinding struct {
		Create struct {
			Parameters json.RawMessage `json:"parameters"`
		} `json:"create"`
	} `json:"service_binding"`
}

// DefinitionMetadata describes an API or event definition of a plan.
type DefinitionMetadata struct {
	ID            string             `json:"id"`
	Name          string             `json:"name"`
	Description   string             `json:"description,omitempty"`
	TargetURL     string             `json:"target_url,omitempty"`
	Group         string             `json:"group,omitempty"`
	Version       *director.Version  `json:"version,omitempty"`
	Specification *SpecificationLink `json:"specification,omitempty"`
}

// SpecificationLink says where the runtime fetches a specification, with the credentials it calls the
// broker with.
type SpecificationLink struct {
	Type      string `json:"type"`
	MediaType string `json:"format"`
	URL       string `json:"url"`
}

// MediaTypes maps the Director's specification formats to media types.
var MediaTypes = map[string]string{"JSON": "application/json", "YAML": "text/yaml", "XML": "application/xml"}

// Catalog returns the calling runtime's catalog: every application it shares a scenario with that has at
// least one bundle (platforms refuse services without plans).
func (b *Broker) Catalog(ctx context.Context) (*Catalog, error) {
	if _, err := callerOf(ctx); err != nil {
		return nil, err
	}
	apps, err := b.director.Applications(ctx)
	if err != nil {
		return nil, fromDirector(err)
	}
	c := &Catalog{Services: make([]Service, 0, len(apps))}
	for i := range apps {
		if s, ok := b.service(&apps[i]); ok {
			c.Services = append(c.Services, s)
		}
	}
	return c, nil
}

func (b *Broker) service(app *director.Application) (Service, bool) {
	if len(app.Bundles.Data) == 0 {
		return Service{}, false
	}
	s := Service{
		ID: app.ID, Name: app.Name, Description: app.Description,
		Bindable: true, InstancesRetrievable: true, BindingsRetrievable: true, PlanUpdateable: true,
		Metadata: map[string]any{"displayName": app.Name},
	}
	if s.Description == "" {
		s.Description = fmt.Sprintf("Application %s", app.Name)
	}
	if app.ProviderName != "" {
		s.Metadata["providerDisplayName"] = app.ProviderName
	}
	if len(app.Labels) > 0 {
		s.Metadata["labels"] = app.Labels
	}
	// Plan names must be unique within a service; bundle names need not be.
	seen := map[string]bool{}
	for i := range app.Bundles.Data {
		p := b.plan(app.ID, &app.Bundles.Data[i])
		if seen[p.Name] {
			p.Name = fmt.Sprintf("%s-%s", p.Name, p.ID)
		}
		seen[p.Name] = true
		s.Plans = append(s.Plans, p)
	}
	return s, true
}

func (b *Broker) plan(appID string, bundle *director.Bundle) Plan {
	p := Plan{
		ID: bundle.ID, Name: bundle.Name, Description: bundle.Description, Free: true, Bindable: true,
		Metadata: map[string]any{"displayName": bundle.Name},
	}
	if p.Description == "" {
		p.Description = fmt.Sprintf("Bundle %s", bundle.Name)
	}
	if len(bundle.InstanceAuthRequestInputSchema) > 0 && string(bundle.InstanceAuthRequestInputSchema) != "null" {
		p.Schemas = &Schemas{}
		p.Schemas.ServiceBinding.Create.Parameters = schemaObject(bundle.InstanceAuthRequestInputSchema)
	}
	apis := make([]DefinitionMetadata, 0, len(bundle.APIDefinitions.Data))
	for _, d := range bundle.APIDefinitions.Data {
		apis = append(apis, b.definition(appID, bundle.ID, "apis", d))
	}
	events := make([]DefinitionMetadata, 0, len(bundle.EventDefinitions.Data))
	for _, d := range bundle.EventDefinitions.Data {
		events = append(events, b.definition(appID, bundle.ID, "events", d))
	}
	p.Metadata["api_specs"], p.Metadata["event_specs"] = apis, events
	return p
}

// schemaObject returns the schema as JSON: the Director hands it out as a JSON value, or as a string
// holding JSON (the Compass scalar's serialized form).
func schemaObject(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return raw
}

func (b *Broker) definition(appID, bundleID, kind string, d director.Definition) DefinitionMetadata {
	m := DefinitionMetadata{
		ID: d.ID, Name: d.Name, Description: d.Description, TargetURL: d.TargetURL, Group: d.Group, Version: d.Version,
	}
	if d.Spec != nil {
		m.Specification = &SpecificationLink{
			Type: d.Spec.Type, MediaType: MediaTypes[d.Spec.Format], URL: b.cfg.SpecURL(appID, bundleID, kind, d.ID),
		}
	}
	return m
}

// Specification returns the specification of an API (api true) or event definition as the Director shows
// it to the calling runtime, with its media type; found is false when the runtime cannot see it.
func (b *Broker) Specification(ctx context.Context, appID, bundleID, defID string, api bool) (data, mediaType string, found bool, err error) {
	if _, err := callerOf(ctx); err != nil {
		return "", "", false, err
	}
	spec, err := b.director.Specification(ctx, appID, bundleID, defID, api)
	if err != nil {
		return "", "", false, fromDirector(err)
	}
	if spec == nil {
		return "", "", false, nil
	}
	mt := MediaTypes[spec.Format]
	if mt == "" {
		mt = "text/plain"
	}
	return spec.Data, mt + "; charset=utf-8", true, nil
}
