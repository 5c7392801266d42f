package notify

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mgmtplane/mgmtplane/apps/internal/events"
)

// Topic is a pub/sub topic whose events wake waiters.
type Topic struct {
	Name string
	// Keys returns the keys an event wakes, from the event's data (the CloudEvent's data field).
	Keys func(data []byte) ([]string, error)
	// Record, when set, keeps something of the event before the waiters wake; an error has the event
	// delivered again.
	Record func(ctx context.Context, data []byte) error
}

// Subscriptions subscribes to topics on one pub/sub component (events.Subscribe): each event wakes the
// hub's waiters for the keys it names.
type Subscriptions struct {
	Hub    *Hub
	PubSub string
	Topics []Topic
	Log    *slog.Logger
}

// Register adds the subscription routes to mux. Like every route of the app, they are for the sidecar
// only: serve mux behind web.RequireAppToken.
func (s *Subscriptions) Register(mux *http.ServeMux) {
	subs := make([]events.Subscription, 0, len(s.Topics))
	for _, t := range s.Topics {
		subs = append(subs, events.Subscription{PubSub: s.PubSub, Topic: t.Name,
			Handle: func(ctx context.Context, data []byte) error {
				if t.Record != nil {
					if err := t.Record(ctx, data); err != nil {
						return err
					}
				}
				keys, err := t.Keys(data)
				if err != nil {
					// An event this app cannot read will not become readable by retrying.
					return events.Drop(err)
				}
				for _, k := range keys {
					s.Hub.Notify(k)
				}
				return nil
			}})
	}
	events.Subscribe(mux, s.Log, subs...)
}
