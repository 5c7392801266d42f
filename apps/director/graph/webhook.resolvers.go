package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
)

func (r *mutationResolver) AddWebhook(ctx context.Context, applicationID string, in model.WebhookInput) (*model.Webhook, error) {
	return r.Apps.AddWebhook(ctx, applicationID, in)
}

func (r *mutationResolver) UpdateWebhook(ctx context.Context, webhookID string, in model.WebhookInput) (*model.Webhook, error) {
	return r.Apps.UpdateWebhook(ctx, webhookID, in)
}

func (r *mutationResolver) DeleteWebhook(ctx context.Context, webhookID string) (*model.Webhook, error) {
	return r.Apps.DeleteWebhook(ctx, webhookID)
}
