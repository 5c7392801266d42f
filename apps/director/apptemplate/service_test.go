package apptemplate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/mgmtplane/mgmtplane/apps/director/apptemplate"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/generated"
	"github.com/mgmtplane/mgmtplane/apps/director/graph/model"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry"
	"github.com/mgmtplane/mgmtplane/apps/internal/registry/memstate"
)

// registrar records what it is asked to register.
type registrar struct {
	got []model.ApplicationRegisterInput
}

func (r *registrar) Register(_ context.Context, in model.ApplicationRegisterInput) (*model.Application, error) {
	r.got = append(r.got, in)
	return &model.Application{ID: "app-1", Name: in.Name, Description: in.Description, Labels: in.Labels}, nil
}

func ptr[T any](v T) *T { return &v }

func newService() (*apptemplate.Service, *registrar) {
	r := &registrar{}
	return apptemplate.NewService(registry.New(memstate.New(), "registry"), r), r
}

// input is the template of Compass's create-application-template example.
func input(name string) model.ApplicationTemplateInput {
	return model.ApplicationTemplateInput{
		Name:        name,
		Description: ptr("app-template-desc"),
		ApplicationInput: &model.ApplicationRegisterInput{
			Name:           "app",
			ProviderName:   ptr("compass-tests"),
			Description:    ptr("test {{new-placeholder}}"),
			Labels:         map[string]any{"a": []any{"b", "c"}},
			Webhooks:       []*model.WebhookInput{{Type: model.ApplicationWebhookTypeConfigurationChanged, URL: "http://url.com"}},
			HealthCheckURL: ptr("http://url.valid"),
		},
		Placeholders: []*model.PlaceholderDefinitionInput{{Name: "new-placeholder", Description: ptr("new-placeholder-desc")}},
		AccessLevel:  model.ApplicationTemplateAccessLevelGlobal,
	}
}

func TestCreateValidates(t *testing.T) {
	tests := []struct {
		name   string
		change func(in *model.ApplicationTemplateInput)
		want   string // part of the INVALID_INPUT message; empty for success
	}{
		{"valid", func(*model.ApplicationTemplateInput) {}, ""},
		{"no placeholders", func(in *model.ApplicationTemplateInput) {
			in.ApplicationInput.Description = ptr("plain")
			in.Placeholders = nil
		}, ""},
		{"empty name", func(in *model.ApplicationTemplateInput) { in.Name = "" }, "name"},
		{"non-ASCII name", func(in *model.ApplicationTemplateInput) { in.Name = "tëmplate" }, "name"},
		{"name too long", func(in *model.ApplicationTemplateInput) { in.Name = strings.Repeat("x", 101) }, "name"},
		{"no application input", func(in *model.ApplicationTemplateInput) { in.ApplicationInput = nil }, "applicationInput"},
		{"bad access level", func(in *model.ApplicationTemplateInput) { in.AccessLevel = "PRIVATE" }, "accessLevel"},
		{"bad placeholder name", func(in *model.ApplicationTemplateInput) {
			in.Placeholders[0].Name = "New"
		}, "placeholders[0].name"},
		{"duplicate placeholder", func(in *model.ApplicationTemplateInput) {
			in.Placeholders = append(in.Placeholders, &model.PlaceholderDefinitionInput{Name: "new-placeholder"})
		}, "more than once"},
		{"unused placeholder", func(in *model.ApplicationTemplateInput) {
			in.Placeholders = append(in.Placeholders, &model.PlaceholderDefinitionInput{Name: "other"})
		}, "does not appear"},
		{"undeclared placeholder", func(in *model.ApplicationTemplateInput) {
			in.ApplicationInput.Name = "{{app-name}}"
		}, "not declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newService()
			in := input("app-template-name")
			tt.change(&in)
			got, err := s.Create(context.Background(), in)
			if tt.want != "" {
				if apperr.CodeOf(err) != apperr.CodeInvalidInput || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want INVALID_INPUT about %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID == "" || got.Placeholders == nil || !strings.Contains(got.ApplicationInput, `name: "app"`) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newService()
	a, err := s.Create(ctx, input("first"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, input("second"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, input("first")); apperr.CodeOf(err) != apperr.CodeAlreadyExists {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := s.Update(ctx, b.ID, input("first")); apperr.CodeOf(err) != apperr.CodeAlreadyExists {
		t.Fatalf("rename onto taken name: %v", err)
	}
	if _, err := s.Update(ctx, "nope", input("third")); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("update unknown: %v", err)
	}
	up := input("renamed")
	up.Description = ptr("new description")
	if _, err := s.Update(ctx, a.ID, up); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, a.ID)
	if err != nil || got.Name != "renamed" || *got.Description != "new description" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	p, err := s.List(ctx, 1, "")
	if err != nil || p.TotalCount != 2 || len(p.Data) != 1 || !p.PageInfo.HasNextPage || p.PageInfo.EndCursor == "" {
		t.Fatalf("page = %+v, %v", p, err)
	}
	// As in Compass, the last page has no end cursor.
	if last, err := s.List(ctx, 1, p.PageInfo.EndCursor); err != nil || len(last.Data) != 1 || last.PageInfo.HasNextPage || last.PageInfo.EndCursor != "" {
		t.Fatalf("last page = %+v, %v", last.PageInfo, err)
	}
	if _, err := s.List(ctx, -1, ""); apperr.CodeOf(err) != apperr.CodeInvalidInput {
		t.Fatalf("negative first: %v", err)
	}
	old, err := s.Delete(ctx, b.ID)
	if err != nil || old.Name != "second" {
		t.Fatalf("delete = %+v, %v", old, err)
	}
	if _, err := s.Get(ctx, b.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.Delete(ctx, b.ID); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := s.Create(ctx, input("second")); err != nil {
		t.Fatalf("name not released by delete: %v", err)
	}
}

func TestRegisterApplication(t *testing.T) {
	tmpl := input("template")
	tmpl.ApplicationInput.Name = "{{name}}"
	tmpl.Placeholders = append(tmpl.Placeholders, &model.PlaceholderDefinitionInput{Name: "name"})
	val := func(p, v string) *model.TemplateValueInput {
		return &model.TemplateValueInput{Placeholder: p, Value: v}
	}

	tests := []struct {
		name     string
		in       model.ApplicationFromTemplateInput
		code     apperr.Code
		wantDesc string
	}{
		{"filled", model.ApplicationFromTemplateInput{TemplateName: "template", Values: []*model.TemplateValueInput{
			val("new-placeholder", "new-value"), val("name", "my-app"),
		}}, "", "test new-value"},
		{"value with quotes stays a string", model.ApplicationFromTemplateInput{TemplateName: "template", Values: []*model.TemplateValueInput{
			val("new-placeholder", `say "hi" <b>\`), val("name", "my-app"),
		}}, "", `test say "hi" <b>\`},
		{"missing value", model.ApplicationFromTemplateInput{TemplateName: "template", Values: []*model.TemplateValueInput{
			val("name", "my-app"),
		}}, apperr.CodeInvalidInput, ""},
		{"unknown placeholder", model.ApplicationFromTemplateInput{TemplateName: "template", Values: []*model.TemplateValueInput{
			val("new-placeholder", "v"), val("name", "my-app"), val("other", "x"),
		}}, apperr.CodeInvalidInput, ""},
		{"value twice", model.ApplicationFromTemplateInput{TemplateName: "template", Values: []*model.TemplateValueInput{
			val("new-placeholder", "v"), val("name", "my-app"), val("name", "again"),
		}}, apperr.CodeInvalidInput, ""},
		{"unknown template", model.ApplicationFromTemplateInput{TemplateName: "nope"}, apperr.CodeNotFound, ""},
		{"empty template name", model.ApplicationFromTemplateInput{}, apperr.CodeInvalidInput, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, reg := newService()
			if _, err := s.Create(context.Background(), tmpl); err != nil {
				t.Fatal(err)
			}
			app, err := s.RegisterApplication(context.Background(), tt.in)
			if tt.code != "" {
				if apperr.CodeOf(err) != tt.code || len(reg.got) != 0 {
					t.Fatalf("err = %v (registered %d), want %s", err, len(reg.got), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := reg.got[0]
			if app.Name != "my-app" || *in.Description != tt.wantDesc || *in.ProviderName != "compass-tests" ||
				len(in.Webhooks) != 1 || in.Webhooks[0].URL != "http://url.com" || len(in.Labels["a"].([]any)) != 2 {
				t.Fatalf("registered %+v", in)
			}
		})
	}
}

// As in Compass, applicationInput reads as the GraphQL literal of the application input: with its
// placeholders filled in, registerApplication accepts it as it is.
func TestApplicationInputIsGraphQLLiteral(t *testing.T) {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	full := input("full")
	full.ApplicationInput.Name = "{{name}}"
	full.ApplicationInput.Labels["scenarios"] = []any{"DEFAULT"}
	full.ApplicationInput.Labels["count"] = 2.0
	full.ApplicationInput.StatusCondition = ptr(model.ApplicationStatusConditionInitial)
	full.ApplicationInput.Webhooks[0].Auth = &model.AuthInput{
		Credential:        &model.CredentialDataInput{Basic: &model.BasicCredentialDataInput{Username: "u", Password: `p"w\\`}},
		AdditionalHeaders: model.HTTPHeaders{"X-Test": {"a", "b"}},
	}
	full.ApplicationInput.Bundles = []*model.BundleCreateInput{{
		Name: "bundle",
		APIDefinitions: []*model.APIDefinitionInput{{Name: "api", TargetURL: "http://api.local",
			Spec: &model.APISpecInput{Data: ptr("openapi: 3.0.0\ninfo: {}"), Type: model.APISpecTypeOpenAPI, Format: model.SpecFormatYaml}}},
	}}
	full.Placeholders = append(full.Placeholders, &model.PlaceholderDefinitionInput{Name: "name"})
	values := strings.NewReplacer("{{new-placeholder}}", "new-value", "{{name}}", "my-app")

	for _, in := range []model.ApplicationTemplateInput{input("compass-example"), full} {
		t.Run(in.Name, func(t *testing.T) {
			s, _ := newService()
			created, err := s.Create(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(context.Background(), created.ID)
			if err != nil || got.ApplicationInput != created.ApplicationInput {
				t.Fatalf("get = %+v, %v; created %q", got, err, created.ApplicationInput)
			}
			lit := values.Replace(got.ApplicationInput)
			doc := "mutation { registerApplication(in: " + lit + ") { id } }"
			if _, errs := gqlparser.LoadQuery(schema, doc); errs != nil {
				t.Fatalf("applicationInput %s is no ApplicationRegisterInput literal: %v", got.ApplicationInput, errs)
			}
			if !strings.HasPrefix(got.ApplicationInput, "{name: ") || !strings.Contains(got.ApplicationInput, "{{new-placeholder}}") {
				t.Fatalf("applicationInput = %s", got.ApplicationInput)
			}
			p, err := s.List(context.Background(), 10, "")
			if err != nil || len(p.Data) != 1 || p.Data[0].ApplicationInput != got.ApplicationInput {
				t.Fatalf("list = %+v, %v", p, err)
			}
		})
	}
}
