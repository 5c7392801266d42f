// Package events is where the apps publish to Dapr pub/sub. Topics are named "<entity>.<verb>"
// (application.created, runtime.updated, label.set, ...); the payload is the entity or change as JSON,
// wrapped by Dapr in a CloudEvent whose id the publisher sets, so consumers can drop redeliveries.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	dapr "github.com/dapr/go-sdk/client"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// PublishAPI is the part of the Dapr client the publisher needs.
type PublishAPI interface {
	PublishEvent(ctx context.Context, pubsubName, topicName string, data interface{}, opts ...dapr.PublishEventOption) error
}

// Publisher publishes to one pub/sub component.
type Publisher struct {
	api    PublishAPI
	pubsub string
	source string
}

// NewPublisher returns a publisher to the pub/sub component pubsub; source names the publishing app in the
// CloudEvent.
func NewPublisher(api PublishAPI, pubsub, source string) *Publisher {
	return &Publisher{api: api, pubsub: pubsub, source: source}
}

// Publish sends data (JSON) to topic as a CloudEvent with the given id and type = topic.
func (p *Publisher) Publish(ctx context.Context, topic, id string, data []byte) error {
	err := p.api.PublishEvent(ctx, p.pubsub, topic, data,
		dapr.PublishEventWithContentType("application/json"),
		dapr.PublishEventWithMetadata(map[string]string{
			"cloudevent.id":     id,
			"cloudevent.type":   topic,
			"cloudevent.source": p.source,
		}))
	if err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Spool keeps events the broker refused, for the outbox relay to publish later (*registry.Registry).
type Spool interface {
	Enqueue(ctx context.Context, tenant string, events ...registry.Event) error
}

// Fallback publishes at once and, when the broker refuses, hands the event to the spool, so that the
// record of an operation that was acknowledged (an audit record, say) is never lost. It is for events that
// go with no entity write; those that do are written to the outbox with the write itself.
type Fallback struct {
	Publisher interface {
		Publish(ctx context.Context, topic, id string, data []byte) error
	}
	Spool Spool
	Log   *slog.Logger
}

// Publish implements the publisher interface of gqlserver.AuditPublisher and registry.Publisher.
func (f Fallback) Publish(ctx context.Context, topic, id string, data []byte) error {
	err := f.Publisher.Publish(ctx, topic, id, data)
	if err == nil {
		return nil
	}
	tenant, _ := identity.TenantFrom(ctx)
	if serr := f.Spool.Enqueue(ctx, tenant, registry.Event{Topic: topic, Data: json.RawMessage(data)}); serr != nil {
		return errors.Join(err, fmt.Errorf("and could not keep it for later: %w", serr))
	}
	f.Log.WarnContext(ctx, "broker refused an event; it is kept in the outbox for the relay", "topic", topic, "err", err)
	return nil
}
