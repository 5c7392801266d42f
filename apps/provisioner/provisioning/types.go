// Package provisioning is the Runtime Provisioner's domain: runtimes it provisions through a backend, and
// the long-running operations that create, change and delete them. The GraphQL edge (package graph) maps
// the Kyma Control Plane provisioner's API onto Service; the operation engine runs each operation's stages.
package provisioning

import (
	"context"
	"encoding/json"
	"time"
)

// OperationType is what an operation does, with the wire values of the upstream API.
type OperationType string

const (
	OperationProvision        OperationType = "Provision"
	OperationUpgradeShoot     OperationType = "UpgradeShoot"
	OperationDeprovision      OperationType = "Deprovision"
	OperationReconnectRuntime OperationType = "ReconnectRuntime"
	OperationHibernate        OperationType = "Hibernate"
)

// OperationState is where an operation stands, with the wire values of the upstream API.
type OperationState string

const (
	StatePending    OperationState = "Pending"
	StateInProgress OperationState = "InProgress"
	StateSucceeded  OperationState = "Succeeded"
	StateFailed     OperationState = "Failed"
)

// LastError explains why an operation failed: what happened, a machine-readable reason and the component
// that failed (the backend, the Director, the Connector, the agent, the provisioner itself).
type LastError struct {
	Message   string `json:"errMessage"`
	Reason    string `json:"reason"`
	Component string `json:"component"`
}

// Operation is one long-running change of a runtime.
type Operation struct {
	ID        string         `json:"id"`
	RuntimeID string         `json:"runtimeID"`
	Tenant    string         `json:"tenant"`
	Type      OperationType  `json:"type"`
	State     OperationState `json:"state"`
	// Stage is the step the operation is at (or ended at); Message says it in words.
	Stage     string     `json:"stage"`
	Message   string     `json:"message"`
	LastError *LastError `json:"lastError,omitempty"`
	StartedAt time.Time  `json:"startedAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
}

// Backend names.
const (
	BackendLocal    = "local"
	BackendGardener = "gardener"
)

// ProvisionInput is what provisionRuntime asks for.
type ProvisionInput struct {
	Name        string
	Description string
	Labels      map[string]any
	// Backend is chosen by which cluster configuration the request carries.
	Backend string
	// ClusterConfig is the request's cluster configuration as JSON ({"gardenerConfig": ...} or
	// {"localConfig": ...}, plus "administrators"); the backend reads what it needs, runtimeStatus shows it.
	ClusterConfig json.RawMessage
}

// UpgradeShootInput is what upgradeShoot asks for: the changed fields of the cluster configuration, as
// JSON ({"gardenerConfig": {...}, "administrators": [...]}).
type UpgradeShootInput struct {
	ClusterConfig json.RawMessage
}

// ConnectionStatus is the runtime agent's connection as the upstream API names it.
type ConnectionStatus string

const (
	ConnectionPending      ConnectionStatus = "Pending"
	ConnectionConnected    ConnectionStatus = "Connected"
	ConnectionDisconnected ConnectionStatus = "Disconnected"
)

// RuntimeStatus is what runtimeStatus answers.
type RuntimeStatus struct {
	RuntimeID     string
	Backend       string
	LastOperation *Operation
	Connection    ConnectionStatus
	// ClusterConfig is the runtime's current cluster configuration (see ProvisionInput.ClusterConfig).
	ClusterConfig json.RawMessage
	Hibernated    bool
	// HibernationPossible tells whether the backend can hibernate this runtime.
	HibernationPossible bool
}

// API is what the GraphQL edge needs. Every method acts in the caller's tenant (from the context's
// identity) and needs runtime:write (mutations) or runtime:read (queries).
type API interface {
	// Provision registers the runtime in the Director and starts a Provision operation.
	Provision(ctx context.Context, in ProvisionInput) (Operation, error)
	// UpgradeShoot starts an UpgradeShoot operation.
	UpgradeShoot(ctx context.Context, runtimeID string, in UpgradeShootInput) (Operation, error)
	// Deprovision starts a Deprovision operation and returns it.
	Deprovision(ctx context.Context, runtimeID string) (Operation, error)
	// Hibernate starts a Hibernate operation.
	Hibernate(ctx context.Context, runtimeID string) (Operation, error)
	// ReconnectAgent issues a new one-time token for the runtime's agent and has it pair again, as a
	// ReconnectRuntime operation.
	ReconnectAgent(ctx context.Context, runtimeID string) (Operation, error)
	// RuntimeStatus reports a runtime of the caller's tenant.
	RuntimeStatus(ctx context.Context, runtimeID string) (RuntimeStatus, error)
	// OperationStatus reports an operation of the caller's tenant.
	OperationStatus(ctx context.Context, operationID string) (Operation, error)
	// Operations lists a runtime's operations, newest first.
	Operations(ctx context.Context, runtimeID string) ([]Operation, error)
}

// Error reasons and components carried in LastError and in the GraphQL errors' extensions
// (error_reason, error_component), as the upstream client reads them.
const (
	ReasonNotFound         = "err_db_not_found" // the upstream client's "no such runtime"
	ReasonInvalidInput     = "err_invalid_input"
	ReasonOperationRunning = "err_operation_in_progress"
	ReasonTimeout          = "err_timeout"
	ReasonBackend          = "err_backend"
	ReasonDirector         = "err_director"
	ReasonAgent            = "err_agent_not_connected"
	ReasonInternal         = "err_internal"
	ReasonForbidden        = "err_forbidden"
	ReasonUnauthenticated  = "err_unauthenticated"
	ReasonUnavailable      = "err_unavailable"

	ComponentProvisioner = "provisioner"
	ComponentDirector    = "director"
	ComponentConnector   = "connector"
	ComponentAgent       = "runtime-agent"
)
