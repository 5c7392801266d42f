package plane

import (
	"context"
	"time"
)

// Configuration is a revision of a Governor configuration: bindings for one runtime or for the runtimes
// whose labels match a selector. Secret values never come back (Secret.Value is always empty here).
type Configuration struct {
	ID             string       `json:"id"`
	Revision       int          `json:"revision"`
	Deleted        bool         `json:"deleted"`
	RolledBackFrom *int         `json:"rolledBackFrom"`
	RuntimeID      string       `json:"runtimeID"`
	LabelSelector  []LabelMatch `json:"labelSelector"`
	Bindings       []Binding    `json:"bindings"`
	CreatedAt      time.Time    `json:"createdAt"`
	RevisedAt      time.Time    `json:"revisedAt"`
	RevisedBy      string       `json:"revisedBy"`
	// RolloutStrategy is how its changes roll out (label selectors only); nil: at once.
	RolloutStrategy *RolloutStrategy `json:"rolloutStrategy"`
	// DriftPolicy is what agents do when a runtime's components drift: CORRECT or REPORT.
	DriftPolicy string `json:"driftPolicy"`
	// AutoRollback: a FAILED report of the latest revision rolls it back (one runtime only).
	AutoRollback bool `json:"autoRollback"`
	// RollbackReason says why, for a revision an automatic rollback made.
	RollbackReason string `json:"rollbackReason"`
}

// RolloutStrategy is a staged rollout's plan: a canary, then batches, each soaked, with a failure budget.
// The same fields make the strategy's input.
type RolloutStrategy struct {
	CanaryCount        *int        `json:"canaryCount,omitempty"`
	CanaryPercent      *int        `json:"canaryPercent,omitempty"`
	CanaryLabel        *LabelMatch `json:"canaryLabel,omitempty"`
	BatchSize          *int        `json:"batchSize,omitempty"`
	BatchPercent       *int        `json:"batchPercent,omitempty"`
	SoakSeconds        int         `json:"soakSeconds"`
	FailureBudget      int         `json:"failureBudget"`
	StepTimeoutSeconds int         `json:"stepTimeoutSeconds"`
}

// Rollout is where the staged rollout of a configuration's latest revision stands.
type Rollout struct {
	FromRevision int        `json:"fromRevision"`
	ToRevision   int        `json:"toRevision"`
	Phase        string     `json:"phase"`
	Reason       string     `json:"reason"`
	Step         int        `json:"step"`
	Steps        int        `json:"steps"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	SoakingSince *time.Time `json:"soakingSince"`
	Done         int        `json:"done"`
	Failed       int        `json:"failed"`
	Pending      int        `json:"pending"`
	Runtimes     []struct {
		RuntimeID       string `json:"runtimeID"`
		Step            int    `json:"step"`
		DesiredRevision int    `json:"desiredRevision"`
		AppliedRevision *int   `json:"appliedRevision"`
		State           string `json:"state"`
		Reason          string `json:"reason"`
	} `json:"runtimes"`
}

// Rollout is the rollout of a configuration's latest revision, or nil when it went out at once.
func (c *Client) Rollout(ctx context.Context, token, configurationID string) (*Rollout, error) {
	var out struct {
		R *Rollout `json:"rollout"`
	}
	err := c.Do(ctx, token, Governor, `query Rollout($id: ID!) { rollout(configurationID: $id) {
  fromRevision toRevision phase reason step steps updatedAt soakingSince done failed pending
  runtimes { runtimeID step desiredRevision appliedRevision state reason }
} }`, map[string]any{"id": configurationID}, &out)
	return out.R, err
}

// RolloutAction is one of the operations on a rollout.
type RolloutAction string

const (
	PauseRollout   RolloutAction = "pauseRollout"
	ResumeRollout  RolloutAction = "resumeRollout"
	PromoteRollout RolloutAction = "promoteRollout"
	AbortRollout   RolloutAction = "abortRollout"
)

// ActOnRollout pauses, resumes, promotes or aborts a configuration's rollout.
func (c *Client) ActOnRollout(ctx context.Context, token, configurationID string, action RolloutAction) error {
	switch action {
	case PauseRollout, ResumeRollout, PromoteRollout, AbortRollout:
	default:
		return &Error{Code: "INVALID_INPUT", Message: "no such rollout operation: " + string(action)}
	}
	return c.Do(ctx, token, Governor, `mutation Act($id: ID!) { `+string(action)+`(configurationID: $id) { phase } }`,
		map[string]any{"id": configurationID}, nil)
}

// LabelMatch is one label a runtime must carry: equal to Value or, for a list, holding it.
type LabelMatch struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Binding is a Dapr binding component of a configuration.
type Binding struct {
	Name           string         `json:"name"`
	Type           string         `json:"type"`
	Metadata       []MetadataItem `json:"metadata"`
	SecretMetadata []MetadataItem `json:"secretMetadata"`
	Scopes         []string       `json:"scopes"`
}

// MetadataItem is a binding's metadata; for secret metadata, an empty Value keeps the stored one.
type MetadataItem struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// ConfigurationPage is one page of configurations or revisions.
type ConfigurationPage struct {
	Data       []Configuration `json:"data"`
	PageInfo   PageInfo        `json:"pageInfo"`
	TotalCount int             `json:"totalCount"`
}

const configurationFields = `id revision deleted rolledBackFrom runtimeID labelSelector { key value }
  bindings { name type metadata { name value } secretMetadata { name } scopes }
  createdAt revisedAt revisedBy driftPolicy autoRollback rollbackReason
  rolloutStrategy { canaryCount canaryPercent canaryLabel { key value } batchSize batchPercent soakSeconds failureBudget stepTimeoutSeconds }`

// Configurations is one page of the tenant's configurations.
func (c *Client) Configurations(ctx context.Context, token string, first int, after string) (ConfigurationPage, error) {
	var out struct {
		P ConfigurationPage `json:"configurations"`
	}
	vars := pageVars(first, after, nil)
	err := c.Do(ctx, token, Governor, `query Configurations($first: Int, $after: PageCursor) {
  configurations(first: $first, after: $after) { data { `+configurationFields+` } pageInfo { endCursor hasNextPage } totalCount }
}`, vars, &out)
	return out.P, err
}

// Configuration is the current revision of a configuration, or nil when there is none with this ID.
func (c *Client) Configuration(ctx context.Context, token, id string) (*Configuration, error) {
	var out struct {
		C *Configuration `json:"configuration"`
	}
	err := c.Do(ctx, token, Governor, `query Configuration($id: ID!) { configuration(id: $id) { `+configurationFields+` } }`,
		map[string]any{"id": id}, &out)
	return out.C, err
}

// Revisions is one page of a configuration's revisions, oldest first.
func (c *Client) Revisions(ctx context.Context, token, id string, first int, after string) (ConfigurationPage, error) {
	var out struct {
		P ConfigurationPage `json:"configurationRevisions"`
	}
	vars := pageVars(first, after, nil)
	vars["id"] = id
	err := c.Do(ctx, token, Governor, `query Revisions($id: ID!, $first: Int, $after: PageCursor) {
  configurationRevisions(id: $id, first: $first, after: $after) { data { `+configurationFields+` } pageInfo { endCursor hasNextPage } totalCount }
}`, vars, &out)
	return out.P, err
}

// ConfigurationInput is a whole configuration to write.
type ConfigurationInput struct {
	RuntimeID     string       `json:"runtimeID,omitempty"`
	LabelSelector []LabelMatch `json:"labelSelector,omitempty"`
	Bindings      []Binding    `json:"bindings"`
	// Rollout is the strategy; the input is the whole truth, so an update without it drops it, and the
	// same goes for the drift policy and automatic rollback (empty and false are their defaults).
	Rollout      *RolloutStrategy `json:"rollout,omitempty"`
	DriftPolicy  string           `json:"driftPolicy,omitempty"`
	AutoRollback bool             `json:"autoRollback,omitempty"`
}

// CreateConfiguration writes a new configuration and returns its ID.
func (c *Client) CreateConfiguration(ctx context.Context, token string, in ConfigurationInput) (string, error) {
	var out struct {
		C struct {
			ID string `json:"id"`
		} `json:"createConfiguration"`
	}
	err := c.Do(ctx, token, Governor, `mutation Create($in: ConfigurationInput!) { createConfiguration(in: $in) { id } }`,
		map[string]any{"in": in}, &out)
	return out.C.ID, err
}

// UpdateConfiguration replaces a configuration as a new revision; secret metadata without a value keeps
// the value stored under the same binding name.
func (c *Client) UpdateConfiguration(ctx context.Context, token, id string, in ConfigurationInput) error {
	return c.Do(ctx, token, Governor, `mutation Update($id: ID!, $in: ConfigurationInput!) { updateConfiguration(id: $id, in: $in) { id } }`,
		map[string]any{"id": id, "in": in}, nil)
}

// DeleteConfiguration deletes a configuration (a revision too, which rollback can undo).
func (c *Client) DeleteConfiguration(ctx context.Context, token, id string) error {
	return c.Do(ctx, token, Governor, `mutation Delete($id: ID!) { deleteConfiguration(id: $id) { id } }`,
		map[string]any{"id": id}, nil)
}

// Rollback makes a new revision equal to revision rev.
func (c *Client) Rollback(ctx context.Context, token, id string, rev int) error {
	return c.Do(ctx, token, Governor, `mutation Rollback($id: ID!, $rev: Int!) { rollbackConfiguration(id: $id, revision: $rev) { id } }`,
		map[string]any{"id": id, "rev": rev}, nil)
}

// RuntimeConfig is what a runtime should run (its effective configuration, without secret values) and
// what its agent last reported.
type RuntimeConfig struct {
	Revision int       `json:"revision"`
	Bindings []Binding `json:"bindings"`
	Sources  []struct {
		ConfigurationID string `json:"configurationID"`
		Revision        int    `json:"revision"`
	} `json:"sources"`
	DriftPolicy string       `json:"driftPolicy"`
	Status      *ApplyStatus `json:"status"`
	// State is what the runtime should run against what its agent applied, with its drift.
	State *ConfigState `json:"state"`
}

// ApplyStatus is an agent's report about applying a revision of its runtime's configuration, or about
// the runtime drifting from it.
type ApplyStatus struct {
	Revision       int         `json:"revision"`
	Status         string      `json:"status"`
	Reason         string      `json:"reason"`
	ReportedAt     time.Time   `json:"reportedAt"`
	Drift          []DriftItem `json:"drift"`
	DriftCorrected bool        `json:"driftCorrected"`
}

// DriftItem is one difference between what a runtime runs and what its agent applied.
type DriftItem struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Resource  string `json:"resource"`
}

// ConfigState is a runtime's desired against applied revision, its last drift and automatic rollback.
type ConfigState struct {
	DesiredRevision int        `json:"desiredRevision"`
	AppliedRevision *int       `json:"appliedRevision"`
	AppliedAt       *time.Time `json:"appliedAt"`
	InSync          bool       `json:"inSync"`
	Drift           *struct {
		Revision   int         `json:"revision"`
		Items      []DriftItem `json:"items"`
		DetectedAt time.Time   `json:"detectedAt"`
		ResolvedAt *time.Time  `json:"resolvedAt"`
		Corrected  bool        `json:"corrected"`
	} `json:"drift"`
	LastAutoRollback *struct {
		ConfigurationID  string    `json:"configurationID"`
		FailedRevision   int       `json:"failedRevision"`
		RestoredRevision int       `json:"restoredRevision"`
		NewRevision      int       `json:"newRevision"`
		Reason           string    `json:"reason"`
		At               time.Time `json:"at"`
	} `json:"lastAutoRollback"`
}

// RuntimeConfiguration reads a runtime's effective configuration and its agent's last report, at once
// (no long-poll).
func (c *Client) RuntimeConfiguration(ctx context.Context, token, runtimeID string) (RuntimeConfig, error) {
	var raw struct {
		RC     RuntimeConfig `json:"runtimeConfiguration"`
		Status *ApplyStatus  `json:"runtimeConfigurationStatus"`
		State  *ConfigState  `json:"runtimeConfigurationState"`
	}
	err := c.Do(ctx, token, Governor, `query RuntimeConfiguration($id: ID!) {
  runtimeConfiguration(runtimeID: $id) { revision driftPolicy bindings { name type } sources { configurationID revision } }
  runtimeConfigurationStatus(runtimeID: $id) { revision status reason reportedAt drift { component kind resource } driftCorrected }
  runtimeConfigurationState(runtimeID: $id) {
    desiredRevision appliedRevision appliedAt inSync
    drift { revision items { component kind resource } detectedAt resolvedAt corrected }
    lastAutoRollback { configurationID failedRevision restoredRevision newRevision reason at }
  }
}`, map[string]any{"id": runtimeID}, &raw)
	rc := raw.RC
	rc.Status, rc.State = raw.Status, raw.State
	return rc, err
}

// ApplyStatusPage is one page of runtimes' last reports.
type ApplyStatusPage struct {
	Data []struct {
		RuntimeID string `json:"runtimeID"`
		ApplyStatus
	} `json:"data"`
	TotalCount int `json:"totalCount"`
}

// RuntimesWithStatus lists the first runtimes whose agent's last report has status (FAILED, DRIFTED).
func (c *Client) RuntimesWithStatus(ctx context.Context, token, status string, first int) (ApplyStatusPage, error) {
	var out struct {
		P ApplyStatusPage `json:"runtimeConfigurationStatuses"`
	}
	err := c.Do(ctx, token, Governor, `query RuntimesWithStatus($status: ConfigurationApplyStatus!, $first: Int) {
  runtimeConfigurationStatuses(status: $status, first: $first) {
    totalCount data { runtimeID revision status reason reportedAt drift { component kind resource } driftCorrected }
  }
}`, map[string]any{"status": status, "first": first}, &out)
	return out.P, err
}

// BindingType is a binding type the Governor accepts.
type BindingType struct {
	Type             string   `json:"type"`
	RequiredMetadata []string `json:"requiredMetadata"`
}

// BindingTypes lists the binding types the Governor accepts.
func (c *Client) BindingTypes(ctx context.Context, token string) ([]BindingType, error) {
	var out struct {
		T []BindingType `json:"bindingTypes"`
	}
	err := c.Do(ctx, token, Governor, `query { bindingTypes { type requiredMetadata } }`, nil, &out)
	return out.T, err
}
