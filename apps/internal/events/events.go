// Package events is where the apps publish to Dapr pub/sub. Topics are named "<entity>.<verb>"
// (application.created, runtime.updated, label.set, ...); the payload is the entity or change as JSON,
// wrapped by Dapr in a CloudEvent whose id the publisher sets, so consumers can drop redeliveries.
package events

import (
	"context"
	"fmt"

	dapr "github.com/dapr/go-sdk/client"
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
