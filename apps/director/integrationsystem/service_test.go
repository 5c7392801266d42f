package integrationsystem_test

import (
	"context"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/integrationsystem"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

func newService() *integrationsystem.Service {
	return integrationsystem.NewService(registry.New(memstate.New(), "registry"))
}

func ptr[T any](v T) *T { return &v }

func TestRegisterValidates(t *testing.T) {
	long := make([]byte, 2001)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name string
		in   model.IntegrationSystemInput
		code apperr.Code
	}{
		{"valid", model.IntegrationSystemInput{Name: "sys-1", Description: ptr("d")}, ""},
		{"empty name", model.IntegrationSystemInput{Name: ""}, apperr.CodeInvalidInput},
		{"upper case", model.IntegrationSystemInput{Name: "Sys"}, apperr.CodeInvalidInput},
		{"starts with digit", model.IntegrationSystemInput{Name: "1sys"}, apperr.CodeInvalidInput},
		{"too long", model.IntegrationSystemInput{Name: "a23456789012345678901234567890123456x"}, apperr.CodeInvalidInput},
		{"long description", model.IntegrationSystemInput{Name: "sys", Description: ptr(string(long))}, apperr.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is, err := newService().Register(context.Background(), tt.in)
			if tt.code != "" {
				if apperr.CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if is.ID == "" || is.Name != tt.in.Name || is.Auths == nil || len(is.Auths) != 0 {
				t.Fatalf("got %+v", is)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newService()
	a, err := s.Register(ctx, model.IntegrationSystemInput{Name: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Register(ctx, model.IntegrationSystemInput{Name: "beta"})
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name string
		do   func() error
		code apperr.Code
	}{
		{"duplicate name", func() error {
			_, err := s.Register(ctx, model.IntegrationSystemInput{Name: "alpha"})
			return err
		}, apperr.CodeAlreadyExists},
		{"rename onto taken name", func() error {
			_, err := s.Update(ctx, b.ID, model.IntegrationSystemInput{Name: "alpha"})
			return err
		}, apperr.CodeAlreadyExists},
		{"rename frees old name", func() error {
			if _, err := s.Update(ctx, a.ID, model.IntegrationSystemInput{Name: "gamma", Description: ptr("new")}); err != nil {
				return err
			}
			_, err := s.Register(ctx, model.IntegrationSystemInput{Name: "alpha"})
			return err
		}, ""},
		{"update unknown", func() error {
			_, err := s.Update(ctx, "nope", model.IntegrationSystemInput{Name: "delta"})
			return err
		}, apperr.CodeNotFound},
		{"get unknown", func() error { _, err := s.Get(ctx, "nope"); return err }, apperr.CodeNotFound},
		{"unregister unknown", func() error { _, err := s.Unregister(ctx, "nope"); return err }, apperr.CodeNotFound},
		{"bad cursor", func() error { _, err := s.List(ctx, 10, "zz"); return err }, apperr.CodeInvalidInput},
		{"page too large", func() error { _, err := s.List(ctx, 201, ""); return err }, apperr.CodeInvalidInput},
	}
	for _, st := range steps {
		err := st.do()
		if st.code == "" && err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.code != "" && apperr.CodeOf(err) != st.code {
			t.Fatalf("%s: err = %v, want %s", st.name, err, st.code)
		}
	}

	got, err := s.Get(ctx, a.ID)
	if err != nil || got.Name != "gamma" || *got.Description != "new" {
		t.Fatalf("get after update = %+v, %v", got, err)
	}
	p, err := s.List(ctx, 2, "")
	if err != nil || p.TotalCount != 3 || len(p.Data) != 2 || !p.PageInfo.HasNextPage {
		t.Fatalf("first page = %+v, %v", p, err)
	}
	p2, err := s.List(ctx, 2, p.PageInfo.EndCursor)
	if err != nil || len(p2.Data) != 1 || p2.Data[0].Name != "alpha" || p2.PageInfo.HasNextPage || p2.PageInfo.EndCursor != "" {
		t.Fatalf("second page = %+v, %v", p2, err)
	}

	old, err := s.Unregister(ctx, b.ID)
	if err != nil || old.Name != "beta" {
		t.Fatalf("unregister = %+v, %v", old, err)
	}
	if _, err := s.Get(ctx, b.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("get after unregister: %v", err)
	}
	if _, err := s.Register(ctx, model.IntegrationSystemInput{Name: "beta"}); err != nil {
		t.Fatalf("name not released by unregister: %v", err)
	}
}
