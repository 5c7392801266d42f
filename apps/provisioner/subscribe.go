package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/mgmtplane/mgmtplane/apps/internal/events"
	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// runtimeTopic is where the Director announces changes of a runtime, its status condition among them.
const runtimeTopic = "runtime.updated"

// runtimeChanges subscribes to runtimeTopic. Deliveries come from the app's own sidecar and carry no
// caller: they only tell the Provisioner what the Director already decided.
func runtimeChanges(pubsub string, svc *provisioning.Service) events.Subscription {
	return events.Subscription{PubSub: pubsub, Topic: runtimeTopic, Handle: func(ctx context.Context, data []byte) error {
		var rt struct {
			ID     string `json:"id"`
			Status *struct {
				Condition string `json:"condition"`
			} `json:"status"`
		}
		if err := json.Unmarshal(data, &rt); err != nil {
			return events.Drop(err)
		}
		if rt.ID == "" || rt.Status == nil {
			return events.Drop(errors.New("runtime event without id or status"))
		}
		return svc.RuntimeChanged(ctx, rt.ID, rt.Status.Condition)
	}}
}
