// Package provisioned follows the Runtime Provisioner's operations on pub/sub (topic
// provisioning.operation) and turns a runtime FAILED when its provisioning fails, so that the Director's
// status condition tells the whole story: PROVISIONING at registration, CONNECTED once the agent sends
// heartbeats, FAILED when it never does.
//
// It also sets the labels the Provisioner learns about a runtime only while an operation runs — the
// cluster it runs on (provisioner_cluster) is known once Gardener has given the Shoot its domain — which the
// Provisioner cannot set itself: its stages run in the background, without a caller whose assertion the
// Director would accept. Only labels named provisioner_* are taken from the topic, and only when they
// differ from the runtime's, so the stage events that repeat them change nothing.
//
// The deliveries carry no caller: the topic is protected in the pub/sub component, so only the Provisioner
// may publish to it and only the Director may read it (components/pubsub.yaml, deploy/components.yaml).
package provisioned

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// Topic is where the Provisioner announces every stage change of an operation.
const Topic = "provisioning.operation"

// Runtimes is the part of the runtime service the subscription needs.
type Runtimes interface {
	ProvisioningFailed(ctx context.Context, id, reason string) error
	Get(ctx context.Context, id string) (*model.Runtime, error)
	SetLabel(ctx context.Context, id, key string, value any) (*model.Label, error)
}

// labelPrefix is what the labels the Provisioner may set through the topic start with.
const labelPrefix = "provisioner_"

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
	RuntimeLabels map[string]string `json:"runtimeLabels"`
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
		// The Director acts in the runtime's tenant, as the Provisioner's record of it says.
		ctx = identity.NewContext(ctx, identity.Identity{Tenant: op.Tenant, Subject: "provisioner", ConsumerType: identity.ConsumerService})
		if err := setLabels(ctx, rts, op.RuntimeID, op.RuntimeLabels); err != nil {
			return err
		}
		if op.State != "Failed" || (op.Type != "Provision" && op.Type != "ReconnectRuntime") {
			return nil
		}
		reason := "provisioning failed"
		if op.LastError != nil {
			reason = "provisioning failed: " + op.LastError.Message
		}
		if err := rts.ProvisioningFailed(ctx, op.RuntimeID, reason); err != nil {
			return fmt.Errorf("mark runtime %s failed: %w", op.RuntimeID, err)
		}
		return nil
	}}
}

// setLabels sets the Provisioner's labels of runtime id that differ from what it has. A runtime that is
// gone (deprovisioned meanwhile) is left alone.
func setLabels(ctx context.Context, rts Runtimes, id string, labels map[string]string) error {
	if len(labels) == 0 {
		return nil
	}
	rt, err := rts.Get(ctx, id)
	if apperr.CodeOf(err) == apperr.CodeNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtime %s: %w", id, err)
	}
	for k, v := range labels {
		if !strings.HasPrefix(k, labelPrefix) || v == "" {
			continue
		}
		if cur, ok := rt.Labels[k].(string); ok && cur == v {
			continue
		}
		if _, err := rts.SetLabel(ctx, id, k, v); err != nil && apperr.CodeOf(err) != apperr.CodeNotFound {
			return fmt.Errorf("label %s of runtime %s: %w", k, id, err)
		}
	}
	return nil
}
