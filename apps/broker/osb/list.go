package osb

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// The OSB API has no way to list what a platform created: each platform keeps its own books. The people
// who run the plane need one view across runtimes, so the broker lists a tenant's instances and their
// bindings to callers who may read its runtimes (the Cockpit, as its signed-in user).

// runtimeIndex lists one runtime's instances.
func runtimeIndex(runtimeID string) string { return "runtime/" + runtimeID }

// MaxListPage is the most instances one page holds.
const MaxListPage = 200

// InstanceSummary is a service instance as an operator sees it: which runtime holds it, for which
// application (service) and bundle (plan), and its bindings. Parameters, context and the platform user
// stay out: they are the platform's, and may carry what an operator has no need to read.
type InstanceSummary struct {
	ID        string           `json:"id"`
	RuntimeID string           `json:"runtimeId"`
	ServiceID string           `json:"serviceId"`
	PlanID    string           `json:"planId"`
	CreatedAt time.Time        `json:"createdAt"`
	UpdatedAt time.Time        `json:"updatedAt"`
	Bindings  []BindingSummary `json:"bindings"`
}

// BindingSummary is one binding of an instance. Its credentials and status are those of the Director's
// instance auth of the same ID.
type BindingSummary struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	// Unbinding: the platform unbound it and the application has yet to give up the credentials.
	Unbinding bool `json:"unbinding,omitempty"`
}

// InstancePage is one page of instances, oldest first.
type InstancePage struct {
	Data        []InstanceSummary `json:"data"`
	EndCursor   string            `json:"endCursor,omitempty"`
	HasNextPage bool              `json:"hasNextPage"`
	TotalCount  int64             `json:"totalCount"`
}

// Instances lists the caller's tenant's service instances, or one runtime's when runtimeID is set. The
// caller needs runtime:read; a runtime sees only its own.
func (b *Broker) Instances(ctx context.Context, runtimeID string, first int, after string) (*InstancePage, error) {
	id, ok := identity.FromContext(ctx)
	if !ok || id.Tenant == "" {
		return nil, refuse(http.StatusUnauthorized, "", "no caller identity")
	}
	if !id.HasScope(identity.ScopeRuntimeRead) {
		return nil, refuse(http.StatusForbidden, "", "listing service instances needs the scope %s", identity.ScopeRuntimeRead)
	}
	if id.ConsumerType == identity.ConsumerRuntime {
		if runtimeID != "" && runtimeID != id.Subject {
			return nil, refuse(http.StatusForbidden, "", "a runtime lists only its own service instances")
		}
		runtimeID = id.Subject
	}
	if first <= 0 || first > MaxListPage {
		return nil, refuse(http.StatusBadRequest, "", "first must be between 1 and %d", MaxListPage)
	}
	if registry.CheckCursor(after) != nil {
		return nil, refuse(http.StatusBadRequest, "", "after: not a cursor of this list")
	}
	index := registry.IndexAll
	if runtimeID != "" {
		if err := checkID("runtime", runtimeID); err != nil {
			return nil, err
		}
		index = runtimeIndex(runtimeID)
	}
	sc := registry.Scope{Tenant: id.Tenant, Kind: KindInstance}
	ins, p, err := registry.ListAs[instance](ctx, b.store, sc, index, first, after)
	if err != nil {
		return nil, fmt.Errorf("list service instances: %w", err)
	}
	page := &InstancePage{Data: make([]InstanceSummary, 0, len(ins)), EndCursor: p.EndCursor, HasNextPage: p.HasNextPage, TotalCount: p.TotalCount}
	for _, in := range ins {
		s := InstanceSummary{ID: in.ID, RuntimeID: in.RuntimeID, ServiceID: in.ServiceID, PlanID: in.PlanID,
			CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, Bindings: []BindingSummary{}}
		for _, bd := range in.Bindings {
			s.Bindings = append(s.Bindings, BindingSummary{ID: bd.ID, CreatedAt: bd.CreatedAt, Unbinding: bd.Unbinding})
		}
		sortBindings(s.Bindings)
		page.Data = append(page.Data, s)
	}
	return page, nil
}

// sortBindings orders bindings oldest first (they are kept in a map).
func sortBindings(bs []BindingSummary) {
	slices.SortFunc(bs, func(a, b BindingSummary) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
