package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// Topic is a pub/sub topic whose events wake waiters.
type Topic struct {
	Name string
	// Keys returns the keys an event wakes, from the event's data (the CloudEvent's data field).
	Keys func(data []byte) ([]string, error)
}

// Subscriptions serves Dapr's declarative subscription protocol for topics on one pub/sub component:
// GET /dapr/subscribe lists them, POST /events/<topic> receives their events and wakes the hub.
type Subscriptions struct {
	Hub    *Hub
	PubSub string
	Topics []Topic
	Log    *slog.Logger
}

type subscription struct {
	PubSubName string `json:"pubsubname"`
	Topic      string `json:"topic"`
	Route      string `json:"route"`
}

func route(topic string) string { return "/events/" + topic }

// Register adds the subscription routes to mux. Like every route of the app, they are for the sidecar
// only: serve mux behind web.RequireAppToken.
func (s *Subscriptions) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /dapr/subscribe", s.list)
	for _, t := range s.Topics {
		mux.Handle("POST "+route(t.Name), s.receive(t))
	}
}

func (s *Subscriptions) list(w http.ResponseWriter, _ *http.Request) {
	subs := make([]subscription, 0, len(s.Topics))
	for _, t := range s.Topics {
		subs = append(subs, subscription{PubSubName: s.PubSub, Topic: t.Name, Route: route(t.Name)})
	}
	writeJSON(w, http.StatusOK, subs)
}

// Answers daprd understands: SUCCESS acknowledges, DROP discards without retrying. An event this app
// cannot read will not become readable by retrying, so it is dropped.
const (
	statusSuccess = "SUCCESS"
	statusDrop    = "DROP"
)

const maxEventBytes = 1 << 20

func (s *Subscriptions) receive(t Topic) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys, err := readKeys(r, t)
		if err != nil {
			s.Log.WarnContext(r.Context(), "dropping event", "topic", t.Name, "err", err)
			writeJSON(w, http.StatusOK, map[string]string{"status": statusDrop})
			return
		}
		for _, k := range keys {
			s.Hub.Notify(k)
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": statusSuccess})
	})
}

// cloudEvent is the part of the CloudEvent envelope daprd delivers that we read.
type cloudEvent struct {
	Data       json.RawMessage `json:"data"`
	DataBase64 []byte          `json:"data_base64"`
}

func readKeys(r *http.Request, t Topic) ([]string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventBytes))
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	var ce cloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		return nil, fmt.Errorf("decode cloud event: %w", err)
	}
	data := []byte(ce.Data)
	if len(ce.DataBase64) > 0 {
		data = ce.DataBase64
	}
	// Publishers that send JSON as text end up with the document inside a JSON string.
	var s string
	if json.Unmarshal(data, &s) == nil {
		data = []byte(s)
	}
	return t.Keys(data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
