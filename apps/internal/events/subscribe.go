package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// Subscription is a topic an app receives through its sidecar (Dapr's programmatic subscription).
type Subscription struct {
	PubSub, Topic string
	// Handle gets the event's data (the CloudEvent's data field). An error made with Drop means the event
	// is not worth delivering again; any other error has daprd deliver it again later.
	Handle func(ctx context.Context, data []byte) error
}

type dropError struct{ err error }

func (e dropError) Error() string { return e.err.Error() }
func (e dropError) Unwrap() error { return e.err }

// Drop marks err as final for the event at hand: an event that cannot be read now cannot be read on any
// redelivery either.
func Drop(err error) error { return dropError{err} }

// Answers daprd understands: SUCCESS acknowledges, RETRY redelivers, DROP discards.
const (
	statusSuccess = "SUCCESS"
	statusRetry   = "RETRY"
	statusDrop    = "DROP"
)

const maxEventBytes = 1 << 20

// Subscribe adds the subscription routes to mux: GET /dapr/subscribe lists subs, POST /events/<topic>
// receives each topic's events. Like every route of an app, they are for its sidecar only: serve mux behind
// web.RequireAppToken.
func Subscribe(mux *http.ServeMux, log *slog.Logger, subs ...Subscription) {
	type listed struct {
		PubSubName string `json:"pubsubname"`
		Topic      string `json:"topic"`
		Route      string `json:"route"`
	}
	list := make([]listed, 0, len(subs))
	for _, s := range subs {
		list = append(list, listed{PubSubName: s.PubSub, Topic: s.Topic, Route: route(s.Topic)})
	}
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) { answer(w, list) })
	for _, s := range subs {
		mux.HandleFunc("POST "+route(s.Topic), func(w http.ResponseWriter, r *http.Request) {
			err := receive(r, s.Handle)
			var drop dropError
			switch {
			case err == nil:
				answer(w, map[string]string{"status": statusSuccess})
			case errors.As(err, &drop):
				log.WarnContext(r.Context(), "dropping event", "topic", s.Topic, "err", err)
				answer(w, map[string]string{"status": statusDrop})
			default:
				log.WarnContext(r.Context(), "event not handled; redelivery will try again", "topic", s.Topic, "err", err)
				answer(w, map[string]string{"status": statusRetry})
			}
		})
	}
}

func route(topic string) string { return "/events/" + topic }

// cloudEvent is the part of the CloudEvent envelope daprd delivers that is read here.
type cloudEvent struct {
	Data       json.RawMessage `json:"data"`
	DataBase64 []byte          `json:"data_base64"`
}

func receive(r *http.Request, handle func(ctx context.Context, data []byte) error) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventBytes))
	if err != nil {
		return Drop(fmt.Errorf("read event: %w", err))
	}
	var ce cloudEvent
	if err := json.Unmarshal(body, &ce); err != nil {
		return Drop(fmt.Errorf("decode cloud event: %w", err))
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
	return handle(r.Context(), data)
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}
