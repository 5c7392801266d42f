package health_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/health"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

const appCheck = model.HealthCheckTypeManagementPlaneApplicationHealthcheck

func as(t string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Tenant: t})
}

func ptr[T any](v T) *T { return &v }

func check(origin string, cond model.HealthCheckStatusCondition) model.HealthCheck {
	hc := model.HealthCheck{Type: appCheck, Condition: cond, Timestamp: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if origin != "" {
		hc.Origin = &origin
	}
	return hc
}

func TestList(t *testing.T) {
	s := health.NewService(registry.New(memstate.New(), "registry"))
	ctx := as("t1")
	err := s.Record(ctx,
		check("app-1", model.HealthCheckStatusConditionSucceeded),
		check("app-2", model.HealthCheckStatusConditionFailed),
		check("", model.HealthCheckStatusConditionSucceeded),
	)
	if err != nil {
		t.Fatal(err)
	}
	// A newer result of the same check replaces the older one.
	if err := s.Record(ctx, check("app-1", model.HealthCheckStatusConditionFailed)); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(as("t2"), check("app-9", model.HealthCheckStatusConditionSucceeded)); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		ctx     context.Context
		types   []model.HealthCheckType
		origin  *string
		first   int
		want    []string // origins listed, "-" for none
		errCode apperr.Code
	}{
		{"all", ctx, nil, nil, 10, []string{"app-1", "app-2", "-"}, ""},
		{"every type is no filter", ctx, []model.HealthCheckType{appCheck, appCheck}, nil, 10, []string{"app-1", "app-2", "-"}, ""},
		{"by origin", ctx, nil, ptr("app-2"), 10, []string{"app-2"}, ""},
		{"by type and origin", ctx, []model.HealthCheckType{appCheck}, ptr("app-1"), 10, []string{"app-1"}, ""},
		{"unknown origin", ctx, nil, ptr("nope"), 10, nil, ""},
		{"first page", ctx, nil, nil, 2, []string{"app-1", "app-2"}, ""},
		{"other tenant", as("t2"), nil, nil, 10, []string{"app-9"}, ""},
		{"empty tenant", as("t3"), nil, nil, 10, nil, ""},
		{"no tenant", context.Background(), nil, nil, 10, nil, apperr.CodeUnauthenticated},
		{"bad type", ctx, []model.HealthCheckType{"PING"}, nil, 10, nil, apperr.CodeInvalidInput},
		{"empty origin", ctx, nil, ptr(""), 10, nil, apperr.CodeInvalidInput},
		{"first too large", ctx, nil, nil, 201, nil, apperr.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.List(tt.ctx, tt.types, tt.origin, tt.first, "")
			if tt.errCode != "" {
				if apperr.CodeOf(err) != tt.errCode {
					t.Fatalf("err = %v, want %s", err, tt.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, hc := range p.Data {
				o := "-"
				if hc.Origin != nil {
					o = *hc.Origin
				}
				got = append(got, o)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("listed %v, want %v", got, tt.want)
			}
		})
	}

	p, err := s.List(ctx, nil, ptr("app-1"), 10, "")
	if err != nil || p.TotalCount != 1 || p.Data[0].Condition != model.HealthCheckStatusConditionFailed {
		t.Fatalf("latest result of app-1 = %+v, %v", p, err)
	}
	next, err := s.List(ctx, nil, nil, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	rest, err := s.List(ctx, nil, nil, 2, next.PageInfo.EndCursor)
	if err != nil || len(rest.Data) != 1 || rest.Data[0].Origin != nil || rest.PageInfo.HasNextPage || rest.PageInfo.EndCursor != "" {
		t.Fatalf("second page = %+v, %v", rest, err)
	}
}

func TestRecord(t *testing.T) {
	long := strings.Repeat("é", 1500)
	tests := []struct {
		name    string
		hc      model.HealthCheck
		errCode apperr.Code
	}{
		{"valid", check("a", model.HealthCheckStatusConditionSucceeded), ""},
		{"zero timestamp means now", model.HealthCheck{Type: appCheck, Condition: model.HealthCheckStatusConditionFailed}, ""},
		{"long message is cut", model.HealthCheck{Type: appCheck, Condition: model.HealthCheckStatusConditionFailed, Message: &long}, ""},
		{"bad type", model.HealthCheck{Type: "X", Condition: model.HealthCheckStatusConditionFailed}, apperr.CodeInvalidInput},
		{"bad condition", model.HealthCheck{Type: appCheck, Condition: "MAYBE"}, apperr.CodeInvalidInput},
		{"empty origin", model.HealthCheck{Type: appCheck, Condition: model.HealthCheckStatusConditionFailed, Origin: ptr("")}, apperr.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := health.NewService(registry.New(memstate.New(), "registry"))
			err := s.Record(as("t1"), tt.hc)
			if tt.errCode != "" {
				if apperr.CodeOf(err) != tt.errCode {
					t.Fatalf("err = %v, want %s", err, tt.errCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.List(as("t1"), nil, nil, 10, "")
			if err != nil || len(p.Data) != 1 {
				t.Fatalf("list = %+v, %v", p, err)
			}
			got := p.Data[0]
			if got.Timestamp.IsZero() || (got.Message != nil && len(*got.Message) > 2000) {
				t.Fatalf("stored %+v", got)
			}
		})
	}
}
