package graph

import (
	"context"

	"github.com/mgmtplane/mgmtplane/apps/director/access"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

// What a runtime sees of the applications sharing its scenarios leaves out what the application keeps for
// itself: its webhooks, which carry the credentials the Director calls it with, and its client credentials
// (auths). Compass gives runtimes neither (the fields need scopes runtimes do not get); here webhooks are
// null and auths is refused.

func isRuntime(ctx context.Context) bool {
	return access.Caller(ctx).ConsumerType == identity.ConsumerRuntime
}

// forCaller returns app as the caller may see it.
func forCaller(ctx context.Context, app *model.Application) *model.Application {
	if app == nil || !isRuntime(ctx) {
		return app
	}
	v := *app
	v.Webhooks = nil
	return &v
}

// pageForCaller applies forCaller to a page of applications.
func pageForCaller(ctx context.Context, p *model.ApplicationPage) *model.ApplicationPage {
	if p == nil || !isRuntime(ctx) {
		return p
	}
	v := *p
	v.Data = make([]*model.Application, len(p.Data))
	for i, a := range p.Data {
		v.Data[i] = forCaller(ctx, a)
	}
	return &v
}
