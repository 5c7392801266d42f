package configuration_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
	"github.com/mgmtplane/mgmtplane/apps/internal/apperr"
	"github.com/mgmtplane/mgmtplane/apps/internal/identity"
)

func TestTargetMatches(t *testing.T) {
	labels := map[string]any{
		"env": "prod", "scenarios": []any{"DEFAULT", "blue"}, "tier": float64(3), "gpu": true, "ratio": 0.5,
	}
	sel := func(kv ...string) configuration.Target {
		var t configuration.Target
		for i := 0; i < len(kv); i += 2 {
			t.LabelSelector = append(t.LabelSelector, configuration.LabelMatch{Key: kv[i], Value: kv[i+1]})
		}
		return t
	}
	tests := []struct {
		name   string
		target configuration.Target
		want   bool
	}{
		{"the runtime", configuration.Target{RuntimeID: "rt-1"}, true},
		{"another runtime", configuration.Target{RuntimeID: "rt-2"}, false},
		{"string equals", sel("env", "prod"), true},
		{"string differs", sel("env", "dev"), false},
		{"list contains", sel("scenarios", "blue"), true},
		{"list lacks", sel("scenarios", "red"), false},
		{"number", sel("tier", "3"), true},
		{"fraction", sel("ratio", "0.5"), true},
		{"bool", sel("gpu", "true"), true},
		{"missing label", sel("zone", "a"), false},
		{"all must match", sel("env", "prod", "scenarios", "blue", "tier", "3"), true},
		{"one fails", sel("env", "prod", "scenarios", "red"), false},
		{"empty selector matches nothing", configuration.Target{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.target.Matches("rt-1", labels); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMergePrecedence(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod", "region": "eu", "scenarios": []any{"DEFAULT", "blue"}})
	// Created in this order: the runtime's own first, to show that creation order does not put it first.
	own := mustCreate(t, ctx, e.svc, forRuntime("rt-1", storageBinding("store", "/own")))
	a := mustCreate(t, ctx, e.svc, forLabels(map[string]string{"env": "prod"},
		httpBinding("log", "http://a"), storageBinding("store", "/a"), httpBinding("metrics", "http://a")))
	b := mustCreate(t, ctx, e.svc, forLabels(map[string]string{"region": "eu", "scenarios": "blue"}, httpBinding("log", "http://b")))
	mustCreate(t, ctx, e.svc, forLabels(map[string]string{"env": "dev"}, httpBinding("log", "http://dev"), httpBinding("dev-only", "http://dev")))
	mustCreate(t, ctx, e.svc, forRuntime("rt-2", httpBinding("log", "http://rt2")))

	eff, err := e.svc.Effective(ctx, "rt-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		binding, key, want, from string
	}{
		{"log", "url", "http://b", b.ID},      // a later selector configuration wins
		{"store", "rootPath", "/own", own.ID}, // the runtime's own comes last, whenever it was created
		{"metrics", "url", "http://a", a.ID},  // nobody overrides it
	}
	for _, tt := range tests {
		got := binding(t, eff, tt.binding)
		if metadata(got.Binding, tt.key) != tt.want || got.ConfigurationID != tt.from {
			t.Errorf("%s: %s=%q from %s, want %q from %s", tt.binding, tt.key, metadata(got.Binding, tt.key), got.ConfigurationID, tt.want, tt.from)
		}
	}
	if len(eff.Bindings) != 3 {
		t.Errorf("bindings %+v, want log, metrics, store", eff.Bindings)
	}
	if !slices.IsSortedFunc(eff.Bindings, func(x, y configuration.EffectiveBinding) int { return strings.Compare(x.Name, y.Name) }) {
		t.Errorf("bindings not sorted by name")
	}
	wantSources := []configuration.Source{{a.ID, 1}, {b.ID, 1}, {own.ID, 1}}
	if !slices.Equal(eff.Sources, wantSources) {
		t.Errorf("sources %+v, want %+v", eff.Sources, wantSources)
	}
}

func TestSecretsOnlyForTheRuntimeItself(t *testing.T) {
	const secret = "s3cr3t-value"
	e := newEnv(t)
	admin := asUser("t1")
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	e.director.set("t1", "rt-2", map[string]any{"env": "prod"})
	c := mustCreate(t, admin, e.svc, forRuntime("rt-1", withToken("log", "http://a", str(secret))))
	mustCreate(t, admin, e.svc, forLabels(map[string]string{"env": "prod"}, withToken("shared", "http://s", str(secret))))

	noSecret := func(where string, bs []configuration.Binding) {
		t.Helper()
		for _, b := range bs {
			if len(b.SecretMetadata) == 0 {
				t.Errorf("%s: secret names dropped from %s", where, b.Name)
			}
			for _, s := range b.SecretMetadata {
				if s.Value != "" || s.Name == "" {
					t.Errorf("%s: secret %q of %s has value %q", where, s.Name, b.Name, s.Value)
				}
			}
		}
	}
	if got, err := e.svc.Get(admin, c.ID); err != nil {
		t.Fatal(err)
	} else {
		noSecret("configuration", got.Bindings)
	}
	page, _ := e.svc.List(admin, 10, "")
	for _, item := range page.Items {
		noSecret("configurations", item.Bindings)
	}
	revs, _ := e.svc.Revisions(admin, c.ID, 10, "")
	for _, item := range revs.Items {
		noSecret("revisions", item.Bindings)
	}
	updated, _ := e.svc.Update(admin, c.ID, forRuntime("rt-1", withToken("log", "http://b", nil)))
	noSecret("update answer", updated.Bindings)

	effective := func(eff *configuration.Effective) []configuration.Binding {
		var out []configuration.Binding
		for _, b := range eff.Bindings {
			out = append(out, b.Binding)
		}
		return out
	}
	callers := []struct {
		name    string
		id      identity.Identity
		reveals bool
		code    apperr.Code
	}{
		{"admin", identity.Identity{Tenant: "t1", Subject: "alice", ConsumerType: identity.ConsumerUser}, false, ""},
		{"integration system", identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerIntegrationSystem}, false, ""},
		{"user named like the runtime", identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerUser}, false, ""},
		{"the runtime", identity.Identity{Tenant: "t1", Subject: "rt-1", ConsumerType: identity.ConsumerRuntime}, true, ""},
		{"another runtime", identity.Identity{Tenant: "t1", Subject: "rt-2", ConsumerType: identity.ConsumerRuntime}, false, apperr.CodeForbidden},
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			eff, err := e.svc.Effective(identity.NewContext(admin, c.id), "rt-1")
			if c.code != "" {
				wantCode(t, err, c.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eff.SecretsIncluded != c.reveals {
				t.Errorf("SecretsIncluded = %v", eff.SecretsIncluded)
			}
			if !c.reveals {
				noSecret("effective", effective(eff))
				return
			}
			for _, b := range eff.Bindings {
				if b.SecretMetadata[0].Value != secret {
					t.Errorf("the runtime got %+v", b.SecretMetadata)
				}
			}
		})
	}
}

func TestEffectiveRevision(t *testing.T) {
	e := newEnv(t)
	ctx := asUser("t1")
	e.director.set("t1", "rt-1", map[string]any{"env": "dev"})
	rev := func(step string, want int) {
		t.Helper()
		eff, err := e.svc.Effective(ctx, "rt-1")
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if eff.Revision != want {
			t.Fatalf("%s: revision %d, want %d", step, eff.Revision, want)
		}
	}
	rev("nothing configured", 0)
	own := mustCreate(t, ctx, e.svc, forRuntime("rt-1", httpBinding("log", "http://a")))
	rev("created", 1)
	rev("asked again", 1)
	sel := mustCreate(t, ctx, e.svc, forLabels(map[string]string{"env": "prod"}, httpBinding("metrics", "http://m")))
	rev("a configuration for other runtimes", 1)
	if _, err := e.svc.Update(ctx, own.ID, forRuntime("rt-1", httpBinding("log", "http://a"))); err != nil {
		t.Fatal(err)
	}
	rev("rewritten unchanged", 1)
	e.director.set("t1", "rt-1", map[string]any{"env": "prod"})
	rev("labels changed in the Director", 2)
	if _, err := e.svc.Update(ctx, own.ID, forRuntime("rt-1", withToken("log", "http://a", str("new")))); err != nil {
		t.Fatal(err)
	}
	rev("secret added", 3)
	if _, err := e.svc.Update(ctx, own.ID, forRuntime("rt-1", withToken("log", "http://a", str("rotated")))); err != nil {
		t.Fatal(err)
	}
	rev("secret rotated", 4)
	if _, err := e.svc.Delete(ctx, sel.ID); err != nil {
		t.Fatal(err)
	}
	rev("selector configuration deleted", 5)
	if _, err := e.svc.Delete(ctx, own.ID); err != nil {
		t.Fatal(err)
	}
	rev("everything deleted: a revision too, not back to 0", 6)
	rev("asked again", 6)

	_, err := e.svc.Effective(ctx, "rt-unknown")
	wantCode(t, err, apperr.CodeNotFound)
}
