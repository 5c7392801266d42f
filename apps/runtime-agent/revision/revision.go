// Package revision holds the runtime configuration the Runtime Governor serves, one numbered revision at a
// time, and the checks a revision must pass before the agent lets it near a Dapr sidecar.
package revision

// Revision is one version of a runtime's configuration. Its fields follow the Governor's GraphQL type
// RuntimeConfiguration, so it decodes from the API response as is.
type Revision struct {
	RuntimeID string    `json:"runtimeID"`
	Number    int       `json:"revision"`
	Bindings  []Binding `json:"bindings"`
	// SecretsIncluded says the Governor filled in the secret values, which it does only for the runtime
	// itself. Without them the agent would write empty secrets, so such a revision is refused.
	SecretsIncluded bool `json:"secretsIncluded"`
	// DriftPolicy says what the agent does when the runtime drifts from this revision: DriftCorrect
	// (also when empty) or DriftReport.
	DriftPolicy string `json:"driftPolicy"`
}

// Drift policies.
const (
	DriftCorrect = "CORRECT"
	DriftReport  = "REPORT"
)

// Corrects reports whether the agent restores drift from rev.
func (r Revision) Corrects() bool { return r.DriftPolicy != DriftReport }

// Binding is one Dapr component the runtime should have. Secret metadata carries the values themselves:
// the Governor hands them to the runtime they belong to, and the agent keeps them out of component files.
type Binding struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Version is the component version (spec.version); empty means v1.
	Version        string `json:"version"`
	Metadata       []Item `json:"metadata"`
	SecretMetadata []Item `json:"secretMetadata"`
	// Scopes are the app IDs allowed to load the component; empty means every app of the runtime.
	Scopes []string `json:"scopes"`
}

// ComponentVersion is the binding's spec.version.
func (b Binding) ComponentVersion() string {
	if b.Version == "" {
		return "v1"
	}
	return b.Version
}

// Item is one name/value pair of component metadata.
type Item struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Status is the outcome of applying a revision, as reportConfigurationStatus takes it.
type Status string

// The statuses the Governor accepts.
const (
	Applied Status = "APPLIED"
	Failed  Status = "FAILED"
	// Drifted means the runtime no longer runs what the agent applied; the report says what differs.
	Drifted Status = "DRIFTED"
)

// Difference is one way the runtime differs from what the agent applied. It names a component and never
// carries values; its fields follow the Governor's DriftItemInput.
type Difference struct {
	Component string   `json:"component"`
	Kind      DiffKind `json:"kind"`
	// Resource is what differs: the component, or the secret values the agent wrote for it.
	Resource string `json:"resource"`
}

// DiffKind is how a component differs.
type DiffKind string

// Kinds of difference.
const (
	Missing    DiffKind = "MISSING"    // applied, and gone now
	Modified   DiffKind = "MODIFIED"   // there, with other content than applied
	Unexpected DiffKind = "UNEXPECTED" // carries the agent's marks, and the revision does not have it
)

// What a Difference is about.
const (
	ResourceComponent = "COMPONENT"
	ResourceSecret    = "SECRET"
)

// Report is what the agent tells the Governor about its runtime.
type Report struct {
	Revision int
	Status   Status
	Reason   string
	// Drift, with Drifted, is what differs; with Applied and DriftCorrected, what the agent restored.
	Drift          []Difference
	DriftCorrected bool
}

// Secrets returns the binding's secret metadata as a map, nil when it has none.
func (b Binding) Secrets() map[string]string {
	if len(b.SecretMetadata) == 0 {
		return nil
	}
	m := make(map[string]string, len(b.SecretMetadata))
	for _, it := range b.SecretMetadata {
		m[it.Name] = it.Value
	}
	return m
}

// InScope reports whether the app appID may load the binding.
func (b Binding) InScope(appID string) bool {
	if len(b.Scopes) == 0 {
		return true
	}
	for _, s := range b.Scopes {
		if s == appID {
			return true
		}
	}
	return false
}
