package model

// Runtime is a runtime as stored in the registry and served by the GraphQL API; labels (which takes an
// argument), auths and eventing have resolvers.
type Runtime struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Description *string          `json:"description,omitempty"`
	Labels      map[string]any   `json:"labels,omitempty"`
	Status      *RuntimeStatus   `json:"status"`
	Metadata    *RuntimeMetadata `json:"metadata"`
	// AssignedScenarios are the scenarios in Labels["scenarios"] that automatic scenario assignments gave
	// (not in the GraphQL schema): they go when the runtime's labels stop matching, the others stay.
	AssignedScenarios []string `json:"assignedScenarios,omitempty"`
}

// ObjectID, LabelMap and SetLabelMap let the label package handle a runtime's labels.
func (r *Runtime) ObjectID() string             { return r.ID }
func (r *Runtime) LabelMap() map[string]any     { return r.Labels }
func (r *Runtime) SetLabelMap(l map[string]any) { r.Labels = l }

// ExtraIndexes implements label.Object: runtimes are only indexed by their labels.
func (r *Runtime) ExtraIndexes() []string { return nil }
