// Package health keeps the results of health checks (of applications, for now) per tenant and serves them
// filtered by type and by the object checked. A prober records results; clients read them.
package health

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
)

// Kind is the registry kind of health check results.
const Kind = "healthcheck"

// MaxPageSize is the largest page a list returns.
const MaxPageSize = 200

// maxMessage bounds a stored message; longer ones are cut rather than refused, so that a prober with a
// verbose error still records the failure.
const maxMessage = 2000

// Store is the storage the service needs; *registry.Registry implements it.
type Store interface {
	registry.Lister
	Mutate(ctx context.Context, s registry.Scope, id, writeID string, fn registry.MutateFunc) error
}

// Service records and lists the health checks of the calling tenant.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a service keeping health checks in store.
func NewService(store Store) *Service { return &Service{store: store, now: time.Now} }

func scope(ctx context.Context) (registry.Scope, error) { return registry.TenantScope(ctx, Kind) }

// Indexes of health checks besides "all": by type, by origin and by both, so that every filter the query
// allows reads one index.
func typeIndex(t model.HealthCheckType) string { return "type:" + string(t) }
func originIndex(o string) string              { return "origin:" + url.PathEscape(o) }
func bothIndex(t model.HealthCheckType, o string) string {
	return typeIndex(t) + "," + originIndex(o)
}

// id names the result of one type of check of one origin. A new result replaces the previous one, so the
// store holds the latest state of each check and does not grow with every probe.
func id(t model.HealthCheckType, origin string) string {
	sum := sha256.Sum256([]byte(string(t) + "\x00" + origin))
	return hex.EncodeToString(sum[:16])
}

// Record stores health check results for the tenant in ctx, each replacing the previous result of the same
// type and origin. A zero timestamp means now.
func (s *Service) Record(ctx context.Context, hcs ...model.HealthCheck) error {
	sc, err := scope(ctx)
	if err != nil {
		return err
	}
	for i, hc := range hcs {
		if !hc.Type.IsValid() {
			return apperr.Invalid("healthChecks[%d].type %q is not valid", i, hc.Type)
		}
		if !hc.Condition.IsValid() {
			return apperr.Invalid("healthChecks[%d].condition %q is not valid", i, hc.Condition)
		}
		if hc.Origin != nil && *hc.Origin == "" {
			return apperr.Invalid("healthChecks[%d].origin: must not be empty", i)
		}
		if hc.Timestamp.IsZero() {
			hc.Timestamp = s.now()
		}
		hc.Timestamp = hc.Timestamp.UTC()
		if hc.Message != nil && len(*hc.Message) > maxMessage {
			cut := strings.ToValidUTF8((*hc.Message)[:maxMessage], "")
			hc.Message = &cut
		}
		indexes := []string{typeIndex(hc.Type)}
		origin := ""
		if hc.Origin != nil {
			origin = *hc.Origin
			indexes = append(indexes, originIndex(origin), bothIndex(hc.Type, origin))
		}
		err := s.store.Mutate(ctx, sc, id(hc.Type, origin), "", func([]byte) (registry.Change, error) {
			return registry.Change{Data: hc, Indexes: indexes}, nil
		})
		if err != nil {
			return fmt.Errorf("record health check %s of %q: %w", hc.Type, origin, err)
		}
	}
	return nil
}

// List returns a page of the tenant's health checks, optionally only those of the given types and of one
// origin, in the order they were first recorded.
func (s *Service) List(ctx context.Context, types []model.HealthCheckType, origin *string, first int, after string) (*model.HealthCheckPage, error) {
	sc, err := scope(ctx)
	if err != nil {
		return nil, err
	}
	if first < 0 || first > MaxPageSize {
		return nil, apperr.Invalid("first: must be between 0 and %d", MaxPageSize)
	}
	index, err := indexFor(types, origin)
	if err != nil {
		return nil, err
	}
	hcs, p, err := registry.ListAs[model.HealthCheck](ctx, s.store, sc, index, first, after)
	if errors.Is(err, registry.ErrInvalidCursor) {
		return nil, apperr.Invalid("after: not a cursor this API handed out")
	}
	if err != nil {
		return nil, fmt.Errorf("list health checks: %w", err)
	}
	return &model.HealthCheckPage{
		Data:       hcs,
		TotalCount: int(p.TotalCount),
		PageInfo:   model.NewPageInfo(after, p.EndCursor, p.HasNextPage),
	}, nil
}

// indexFor picks the index that holds exactly the health checks the filters select.
func indexFor(types []model.HealthCheckType, origin *string) (string, error) {
	var want []model.HealthCheckType
	for i, t := range types {
		if !t.IsValid() {
			return "", apperr.Invalid("types[%d] %q is not valid", i, t)
		}
		if !slices.Contains(want, t) {
			want = append(want, t)
		}
	}
	if origin != nil && *origin == "" {
		return "", apperr.Invalid("origin: must not be empty")
	}
	// Asking for every type is no filter at all.
	if len(want) == len(model.AllHealthCheckType) {
		want = nil
	}
	switch {
	case len(want) > 1:
		// Unreachable while there is one type; a union of indexes would be needed once there are three.
		return "", apperr.Invalid("types: give one type or all of them")
	case len(want) == 1 && origin != nil:
		return bothIndex(want[0], *origin), nil
	case len(want) == 1:
		return typeIndex(want[0]), nil
	case origin != nil:
		return originIndex(*origin), nil
	default:
		return registry.IndexAll, nil
	}
}
