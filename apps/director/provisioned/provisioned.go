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
	"io"
	"log/slog"
	"net/http"

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

// Register adds Dapr's subscription routes to mux: GET /dapr/subscribe and POST /events/<Topic>.
func Register(mux *http.ServeMux, log *slog.Logger, pubsub string, rts Runtimes) {
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, []map[string]string{{"pubsubname": pubsub, "topic": Topic, "route": "/events/" + Topic}})
	})
	mux.HandleFunc("POST /events/"+Topic, func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data operation `json:"data"`
		}
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(raw, &ev); err != nil || identity.ValidateTenant(ev.Data.Tenant) != nil || ev.Data.RuntimeID == "" {
			log.WarnContext(r.Context(), "dropping provisioning event", "err", err)
			writeJSON(w, map[string]string{"status": "DROP"}) // unreadable now is unreadable on every retry
			return
		}
		op := ev.Data
		if op.State != "Failed" || (op.Type != "Provision" && op.Type != "ReconnectRuntime") {
			writeJSON(w, map[string]string{"status": "SUCCESS"})
			return
		}
		reason := "provisioning failed"
		if op.LastError != nil {
			reason = "provisioning failed: " + op.LastError.Message
		}
		// The Director acts in the runtime's tenant, as the Provisioner's record of it says.
		ctx := identity.NewContext(r.Context(), identity.Identity{Tenant: op.Tenant, Subject: "provisioner", ConsumerType: identity.ConsumerService})
		if err := rts.ProvisioningFailed(ctx, op.RuntimeID, reason); err != nil {
			log.WarnContext(r.Context(), "runtime not marked failed; redelivery will try again", "runtime", op.RuntimeID, "err", err)
			writeJSON(w, map[string]string{"status": "RETRY"})
			return
		}
		writeJSON(w, map[string]string{"status": "SUCCESS"})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
