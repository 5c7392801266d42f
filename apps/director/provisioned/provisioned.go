// Package provisioned follows the Runtime Provisioner's operations on pub/sub (topic
// provisioning.operation) and turns a runtime FAILED when its provisioning fails, so that the Director's
// status condition tells the whole story: PROVISIONING at registration, CONNECTED once the agent sends
// heartbeats, FAILED when it never does.
//
// The deliveries carry no caller: the topic is protected in the pub/sub component, so only the Provisioner
// may publish to it and only the Director may read it (components/pubsub.yaml, deploy/components.yaml).
package provisioned

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Topic is where the Provisioner announces every stage change of an operation.
const Topic = "provisioning.operation"

// Runtimes is the part of the runtime service the subscription needs.
type Runtimes interface {
	ProvisioningFailed(ctx context.Context, id, reason string) error
}

// operation is the part of an announced operation read here.
type operation struct {
	RuntimeID string `json:"runtimeID"`
	Tenant    string `json:"tenant"`
	Type      string `json:"type"`
	State     string `json:"state"`
	LastError *struct {
		Message string `json:"errMessage"`
		Reason  string `json:"reason"`
	} `json:"lastError"`
}

// Subscription is the Director's subscription to Topic on the pub/sub component pubsub (serve it with
// events.Subscribe).
func Subscription(pubsub string, rts Runtimes) events.Subscription {
	return events.Subscription{PubSub: pubsub, Topic: Topic, Handle: func(ctx context.Context, data []byte) error {
		var op operation
		if err := json.Unmarshal(data, &op); err != nil {
			return events.Drop(err)
		}
		if err := identity.ValidateTenant(op.Tenant); err != nil || op.RuntimeID == "" {
			return events.Drop(fmt.Errorf("operation without a valid tenant and runtime: %v", err))
		}
		if op.State != "Failed" || (op.Type != "Provision" && op.Type != "ReconnectRuntime") {
			return nil
		}
		reason := "provisioning failed"
		if op.LastError != nil {
			reason = "provisioning failed: " + op.LastError.Message
		}
		// The Director acts in the runtime's tenant, as the Provisioner's record of it says.
		ctx = identity.NewContext(ctx, identity.Identity{Tenant: op.Tenant, Subject: "provisioner", ConsumerType: identity.ConsumerService})
		if err := rts.ProvisioningFailed(ctx, op.RuntimeID, reason); err != nil {
			return fmt.Errorf("mark runtime %s failed: %w", op.RuntimeID, err)
		}
		return nil
	}}
}
