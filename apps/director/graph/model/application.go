package model

import "time"

// Application is an application as stored in the registry and served by the GraphQL API; the fields that
// take arguments or live elsewhere (labels, bundles, auths, eventing) have resolvers.
type Application struct {
	ID                  string             `json:"id"`
	Name                string             `json:"name"`
	ProviderName        *string            `json:"providerName,omitempty"`
	Description         *string            `json:"description,omitempty"`
	IntegrationSystemID *string            `json:"integrationSystemID,omitempty"`
	Labels              map[string]any     `json:"labels,omitempty"`
	Status              *ApplicationStatus `json:"status"`
	Webhooks            []*Webhook         `json:"webhooks,omitempty"`
	HealthCheckURL      *string            `json:"healthCheckURL,omitempty"`
	CreatedAt           time.Time          `json:"createdAt"`
	// NameAsRegistered is set when Name holds the name as a runtime sees it (applicationsForRuntime gives
	// normalized names), so that what is derived from the name (eventing URLs) starts from the real one.
	NameAsRegistered string `json:"-"`
}

// RegisteredName is the application's name as registered, whatever view Name holds.
func (a *Application) RegisteredName() string {
	if a.NameAsRegistered != "" {
		return a.NameAsRegistered
	}
	return a.Name
}

// ObjectID, LabelMap and SetLabelMap let the label package handle an application's labels.
func (a *Application) ObjectID() string             { return a.ID }
func (a *Application) LabelMap() map[string]any     { return a.Labels }
func (a *Application) SetLabelMap(l map[string]any) { a.Labels = l }

// HealthIndex is the registry index of the applications that have a healthCheckURL to probe.
const HealthIndex = "health"

// ExtraIndexes puts applications with a health check URL into HealthIndex.
func (a *Application) ExtraIndexes() []string {
	if a.HealthCheckURL != nil && *a.HealthCheckURL != "" {
		return []string{HealthIndex}
	}
	return nil
}
