package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/provisioner/provisioning"
)

// runtimeTopic is where the Director announces changes of a runtime, its status condition among them.
const runtimeTopic = "runtime.updated"

// subscribe serves Dapr's declarative subscription to runtimeTopic. Deliveries come from the app's own
// sidecar (web.RequireAppToken) and carry no caller: they only tell the provisioner what the Director
// already decided.
func subscribe(mux *http.ServeMux, log *slog.Logger, pubsub string, svc *provisioning.Service) {
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode([]map[string]string{{"pubsubname": pubsub, "topic": runtimeTopic, "route": "/events/" + runtimeTopic}})
	})
	mux.HandleFunc("POST /events/"+runtimeTopic, func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct {
				ID     string `json:"id"`
				Status *struct {
					Condition string `json:"condition"`
				} `json:"status"`
			} `json:"data"`
		}
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := json.Unmarshal(raw, &ev); err != nil || ev.Data.ID == "" || ev.Data.Status == nil {
			// Unreadable now means unreadable on every retry.
			log.WarnContext(r.Context(), "dropping runtime event", "err", err)
			answer(w, "DROP")
			return
		}
		if err := svc.RuntimeChanged(r.Context(), ev.Data.ID, ev.Data.Status.Condition); err != nil {
			log.WarnContext(r.Context(), "runtime event not recorded; redelivery will try again", "runtime", ev.Data.ID, "err", err)
			answer(w, "RETRY")
			return
		}
		answer(w, "SUCCESS")
	})
}

func answer(w http.ResponseWriter, status string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}
