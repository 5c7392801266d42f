package configuration_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
)

func TestCreateValidation(t *testing.T) {
	many := make([]configuration.BindingInput, 101)
	for i := range many {
		many[i] = httpBinding(fmt.Sprintf("b%d", i), "http://x")
	}
	tests := []struct {
		name string
		in   configuration.Input
		want string // part of the message; empty when the input is valid
	}{
		{"valid", forRuntime("rt-1", httpBinding("log", "http://log")), ""},
		{"unknown type", forRuntime("rt-1", configuration.BindingInput{Name: "x", Type: "bindings.nope"}), `unknown binding type "bindings.nope"`},
		{"state store is no binding", forRuntime("rt-1", configuration.BindingInput{Name: "x", Type: "state.redis"}), "unknown binding type"},
		{"missing required metadata", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http"}), `bindings.http requires metadata "url"`},
		{"required metadata empty", forRuntime("rt-1", httpBinding("log", "")), `requires metadata "url"`},
		{"required metadata as a secret", forRuntime("rt-1", configuration.BindingInput{Name: "db", Type: "bindings.postgresql",
			SecretMetadata: []configuration.SecretInput{{Name: "connectionString", Value: str("host=db")}}}), ""},
		{"required metadata in other case", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http",
			Metadata: []configuration.NameValue{nv("URL", "http://x")}}), ""},
		{"every required item", forRuntime("rt-1", configuration.BindingInput{Name: "k", Type: "bindings.kafka",
			Metadata: []configuration.NameValue{nv("brokers", "b:9092")}}), `requires metadata "authType"`},
		{"upper-case name", forRuntime("rt-1", httpBinding("Log", "http://x")), "lower-case DNS label"},
		{"underscore in name", forRuntime("rt-1", httpBinding("my_log", "http://x")), "lower-case DNS label"},
		{"name ends with dash", forRuntime("rt-1", httpBinding("log-", "http://x")), "lower-case DNS label"},
		{"name of 64", forRuntime("rt-1", httpBinding(strings.Repeat("a", 64), "http://x")), "lower-case DNS label"},
		{"name of 63", forRuntime("rt-1", httpBinding(strings.Repeat("a", 63), "http://x")), ""},
		{"duplicate binding names", forRuntime("rt-1", httpBinding("log", "http://a"), httpBinding("log", "http://b")), "used by another binding"},
		{"duplicate metadata", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http",
			Metadata: []configuration.NameValue{nv("url", "http://a"), nv("url", "http://b")}}), `metadata "url" is given twice`},
		{"duplicate metadata across case", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http",
			Metadata: []configuration.NameValue{nv("url", "http://a"), nv("Url", "http://b")}}), "given twice"},
		{"secret beside plain metadata", forRuntime("rt-1", withToken("log", "http://a", str("t"))), ""},
		{"plain and secret of one name", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http",
			Metadata:       []configuration.NameValue{nv("url", "http://a")},
			SecretMetadata: []configuration.SecretInput{{Name: "url", Value: str("http://b")}}}), "given twice"},
		{"bad metadata name", forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.http",
			Metadata: []configuration.NameValue{nv("url", "http://a"), nv("1st", "x")}}), `metadata name "1st"`},
		{"secret without value on create", forRuntime("rt-1", withToken("log", "http://a", nil)), "give a value"},
		{"empty secret", forRuntime("rt-1", withToken("log", "http://a", str(""))), "must not be empty"},
		{"runtime and selector", configuration.Input{RuntimeID: "rt-1", LabelSelector: []configuration.LabelMatch{{Key: "env", Value: "prod"}},
			Bindings: []configuration.BindingInput{httpBinding("log", "http://a")}}, "not both"},
		{"no target", configuration.Input{Bindings: []configuration.BindingInput{httpBinding("log", "http://a")}}, "give runtimeID or a non-empty labelSelector"},
		{"runtime id with slash", forRuntime("a/b", httpBinding("log", "http://a")), `runtimeID "a/b"`},
		{"selector key twice", configuration.Input{LabelSelector: []configuration.LabelMatch{{Key: "env", Value: "a"}, {Key: "env", Value: "b"}},
			Bindings: []configuration.BindingInput{httpBinding("log", "http://a")}}, `key "env" appears twice`},
		{"empty selector key", forLabels(map[string]string{"": "x"}, httpBinding("log", "http://a")), "labelSelector: key"},
		{"bad scope", forRuntime("rt-1", func() configuration.BindingInput {
			b := httpBinding("log", "http://a")
			b.Scopes = []string{"orders", "bad scope"}
			return b
		}()), `scope "bad scope"`},
		{"scope twice", forRuntime("rt-1", func() configuration.BindingInput {
			b := httpBinding("log", "http://a")
			b.Scopes = []string{"orders", "orders"}
			return b
		}()), "app id twice"},
		{"too many bindings", forRuntime("rt-1", many...), "at most 100"},
		{"value too long", forRuntime("rt-1", httpBinding("log", strings.Repeat("x", 65<<10))), "longer than"},
		{"no bindings is fine", forRuntime("rt-1"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := asUser("t1")
			c, err := e.svc.Create(ctx, tt.in)
			page, lerr := e.svc.List(ctx, 10, "")
			if lerr != nil {
				t.Fatal(lerr)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				if c.Revision != 1 || page.TotalCount != 1 {
					t.Fatalf("revision %d, %d stored", c.Revision, page.TotalCount)
				}
				return
			}
			wantCode(t, err, apperr.CodeInvalidInput)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q does not say %q", err, tt.want)
			}
			if page.TotalCount != 0 || len(page.Items) != 0 {
				t.Errorf("a refused configuration was stored: %+v", page)
			}
		})
	}
}

func TestUpdateValidationKeepsTheRevision(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	c := mustCreate(t, ctx, e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))
	_, err := e.svc.Update(ctx, c.ID, forRuntime("rt-1", configuration.BindingInput{Name: "log", Type: "bindings.cron"}))
	wantCode(t, err, apperr.CodeInvalidInput)
	if !strings.Contains(err.Error(), `bindings.cron requires metadata "schedule"`) {
		t.Errorf("message: %v", err)
	}
	got, err := e.svc.Get(ctx, c.ID)
	if err != nil || got.Revision != 1 || metadata(got.Bindings[0], "url") != "http://a" {
		t.Fatalf("after a refused update: %+v, %v", got, err)
	}
	revs, _ := e.svc.Revisions(ctx, c.ID, 10, "")
	if revs.TotalCount != 1 {
		t.Errorf("%d revisions recorded, want 1", revs.TotalCount)
	}
}

func TestManyProblemsInOneAnswer(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Create(asUser("t1"), forRuntime("rt-1",
		configuration.BindingInput{Name: "A", Type: "bindings.http"},
		configuration.BindingInput{Name: "b", Type: "bindings.x"}))
	wantCode(t, err, apperr.CodeInvalidInput)
	for _, part := range []string{"lower-case DNS label", `requires metadata "url"`, "unknown binding type"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("message %q lacks %q", err, part)
		}
	}
}
