package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) AddWebhook(ctx context.Context, applicationID string, in model.WebhookInput) (*model.Webhook, error) {
	return nil, notImplemented("addWebhook")
}

func (r *mutationResolver) UpdateWebhook(ctx context.Context, webhookID string, in model.WebhookInput) (*model.Webhook, error) {
	return nil, notImplemented("updateWebhook")
}

func (r *mutationResolver) DeleteWebhook(ctx context.Context, webhookID string) (*model.Webhook, error) {
	return nil, notImplemented("deleteWebhook")
}
