package application_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/director/application"
	"github.com/mgmtplane/mgmtplane/apps/director/directortest"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/director/label"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

// An application updates itself and its own webhooks, as its certificate's application:write and
// webhook:write let it in Compass; another application's, or anything by a runtime, is "The operation is
// not allowed", answers nothing and changes nothing.
func TestApplicationsChangeOnlyThemselves(t *testing.T) {
	reg := directortest.Registry()
	apps := application.NewService(reg, label.NewDefinitions(reg))
	admin := directortest.Tenant("t1")
	hook := func(url string) model.WebhookInput {
		return model.WebhookInput{Type: model.ApplicationWebhookTypeConfigurationChanged, URL: url}
	}
	register := func(name string) *model.Application {
		app, err := apps.Register(admin, model.ApplicationRegisterInput{Name: name, Webhooks: []*model.WebhookInput{ptr(hook("https://" + name + ".example.com/hook"))}})
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	mine, other := register("mine"), register("other")
	asMine := directortest.Application("t1", mine.ID)
	runtime := directortest.Runtime("t1", "a-runtime")
	update := model.ApplicationUpdateInput{Description: ptr("changed by a stranger")}

	for _, tc := range []struct {
		name   string
		ctx    context.Context
		target *model.Application
	}{
		{"another application", asMine, other},
		{"a runtime", runtime, mine},
	} {
		before, err := apps.Get(admin, tc.target.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			op   string
			call func() (any, error)
		}{
			{"updateApplication", func() (any, error) { return apps.Update(tc.ctx, tc.target.ID, update) }},
			{"addWebhook", func() (any, error) { return apps.AddWebhook(tc.ctx, tc.target.ID, hook("https://evil.example.com")) }},
			{"updateWebhook", func() (any, error) {
				return apps.UpdateWebhook(tc.ctx, tc.target.Webhooks[0].ID, hook("https://evil.example.com"))
			}},
			{"deleteWebhook", func() (any, error) { return apps.DeleteWebhook(tc.ctx, tc.target.Webhooks[0].ID) }},
		} {
			t.Run(tc.name+" "+c.op, func(t *testing.T) {
				got, err := c.call()
				if apperr.CodeOf(err) != apperr.CodeForbidden || err.Error() != "The operation is not allowed" {
					t.Fatalf("want FORBIDDEN \"The operation is not allowed\", got %v", err)
				}
				if v := reflect.ValueOf(got); v.IsValid() && !v.IsNil() {
					t.Fatalf("refused, yet answered %+v", got)
				}
			})
		}
		after, err := apps.Get(admin, tc.target.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("refused calls changed %s: %+v, now %+v", tc.target.Name, before, after)
		}
	}

	// Its own: the fields, and webhooks added, changed and removed.
	got, err := apps.Update(asMine, mine.ID, model.ApplicationUpdateInput{Description: ptr("by itself")})
	if err != nil || got.Description == nil || *got.Description != "by itself" {
		t.Fatalf("update itself: %+v, %v", got, err)
	}
	wh, err := apps.AddWebhook(asMine, mine.ID, hook("https://mine.example.com/credentials"))
	if err != nil {
		t.Fatalf("add its webhook: %v", err)
	}
	if wh, err = apps.UpdateWebhook(asMine, wh.ID, hook("https://mine.example.com/v2")); err != nil || wh.URL != "https://mine.example.com/v2" {
		t.Fatalf("update its webhook: %+v, %v", wh, err)
	}
	if _, err := apps.DeleteWebhook(asMine, wh.ID); err != nil {
		t.Fatalf("delete its webhook: %v", err)
	}
	// A webhook that does not exist is not found, for every caller.
	if _, err := apps.DeleteWebhook(asMine, wh.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("deleted webhook: want NOT_FOUND, got %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
