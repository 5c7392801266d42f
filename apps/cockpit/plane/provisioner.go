package plane

import (
	"context"
	"time"
)

// Operation is one of the Provisioner's long-running operations on a runtime.
type Operation struct {
	ID        string     `json:"id"`
	Operation string     `json:"operation"`
	State     string     `json:"state"`
	Message   string     `json:"message"`
	RuntimeID string     `json:"runtimeID"`
	Stage     string     `json:"stage"`
	StartedAt *time.Time `json:"startedAt"`
	UpdatedAt *time.Time `json:"updatedAt"`
	LastError *struct {
		ErrMessage string `json:"errMessage"`
		Reason     string `json:"reason"`
		Component  string `json:"component"`
	} `json:"lastError"`
}

// Done reports whether the operation has ended, either way.
func (o Operation) Done() bool { return o.State == "Succeeded" || o.State == "Failed" }

const operationFields = `id operation state message runtimeID stage startedAt updatedAt lastError { errMessage reason component }`

// LocalRuntimeInput is what provisioning a runtime on this machine takes.
type LocalRuntimeInput struct {
	Name, Description string
}

// ProvisionLocal starts provisioning a runtime with the local backend.
func (c *Client) ProvisionLocal(ctx context.Context, token string, in LocalRuntimeInput) (Operation, error) {
	var out struct {
		Op Operation `json:"provisionRuntime"`
	}
	rt := map[string]any{"name": in.Name}
	if in.Description != "" {
		rt["description"] = in.Description
	}
	err := c.Do(ctx, token, Provisioner, `mutation Provision($config: ProvisionRuntimeInput!) {
  provisionRuntime(config: $config) { `+operationFields+` }
}`, map[string]any{"config": map[string]any{"runtimeInput": rt, "clusterConfig": map[string]any{"localConfig": map[string]any{}}}}, &out)
	return out.Op, err
}

// Deprovision starts removing a runtime; it answers the operation's ID.
func (c *Client) Deprovision(ctx context.Context, token, runtimeID string) (string, error) {
	var out struct {
		ID string `json:"deprovisionRuntime"`
	}
	err := c.Do(ctx, token, Provisioner, `mutation Deprovision($id: String!) { deprovisionRuntime(id: $id) }`,
		map[string]any{"id": runtimeID}, &out)
	return out.ID, err
}

// Operations lists a runtime's operations, newest first; a runtime the Provisioner did not make has none.
func (c *Client) Operations(ctx context.Context, token, runtimeID string) ([]Operation, error) {
	var out struct {
		Ops []Operation `json:"runtimeOperations"`
	}
	err := c.Do(ctx, token, Provisioner, `query Operations($id: String!) { runtimeOperations(runtimeID: $id) { `+operationFields+` } }`,
		map[string]any{"id": runtimeID}, &out)
	return out.Ops, err
}
