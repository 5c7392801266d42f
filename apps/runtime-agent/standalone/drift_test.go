package standalone_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func (e env) diff(t *testing.T, rev revision.Revision) []revision.Difference {
	t.Helper()
	d, err := e.app.Diff(context.Background(), rev)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDiffFindsWhatDiffersAndApplyRestoresIt(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	e.apply(t, rev)
	if d := e.diff(t, rev); len(d) != 0 {
		t.Fatalf("drift right after applying: %+v", d)
	}
	// A foreign file next to the agent's is none of its business.
	if err := os.WriteFile(filepath.Join(e.res, "mine.yaml"), []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: mine\nspec:\n  type: bindings.cron\n  version: v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logging := filepath.Join(e.res, "mgmtplane-agent-binding-logging.yaml")
	ticker := filepath.Join(e.res, "mgmtplane-agent-binding-ticker.yaml")
	orig, _ := os.ReadFile(ticker)
	if err := os.Remove(logging); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ticker, []byte(strings.Replace(string(orig), "@every 10s", "@every 1s", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	stray := strings.ReplaceAll(string(orig), "name: ticker", "name: stray")
	if err := os.WriteFile(filepath.Join(e.res, "mgmtplane-agent-binding-stray.yaml"), []byte(stray), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.secrets, []byte(`{"logging": {"securityToken": "other"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []revision.Difference{
		{Component: "logging", Kind: revision.Missing, Resource: revision.ResourceComponent},
		{Component: "ticker", Kind: revision.Modified, Resource: revision.ResourceComponent},
		{Component: "stray", Kind: revision.Unexpected, Resource: revision.ResourceComponent},
		{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceSecret},
	}
	if got := e.diff(t, rev); !slices.Equal(got, want) {
		t.Fatalf("drift\n got %+v\nwant %+v", got, want)
	}

	e.apply(t, rev)
	if d := e.diff(t, rev); len(d) != 0 {
		t.Fatalf("drift after applying again: %+v", d)
	}
	if _, err := os.Stat(filepath.Join(e.res, "mine.yaml")); err != nil {
		t.Fatalf("foreign file: %v", err)
	}
}

func TestDiffOfTheSecretsFile(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	e.apply(t, rev)
	for _, tt := range []struct {
		name, content string
		want          revision.Difference
	}{
		{"gone", "", revision.Difference{Component: "logging", Kind: revision.Missing, Resource: revision.ResourceSecret}},
		{"unreadable", "{", revision.Difference{Component: "logging", Kind: revision.Modified, Resource: revision.ResourceSecret}},
		{"the same values, other bytes", `{"logging":{"securityToken":"Bearer s3cr3t"}}`, revision.Difference{Component: "mgmtplane-agent-secrets", Kind: revision.Modified, Resource: revision.ResourceSecret}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.content == "" {
				err = os.Remove(e.secrets)
			} else {
				err = os.WriteFile(e.secrets, []byte(tt.content), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := e.diff(t, rev)
			if !slices.Contains(got, tt.want) {
				t.Fatalf("drift %+v, want %+v", got, tt.want)
			}
			for _, d := range got {
				if strings.Contains(d.Component, "s3cr3t") {
					t.Fatalf("a secret value in the drift: %+v", d)
				}
			}
			e.apply(t, rev)
		})
	}
}

func TestWatchSeesChangesInTheResourcesFolderAndTheSecretsFile(t *testing.T) {
	e := newEnv(t)
	e.apply(t, fixture())
	changed := make(chan struct{}, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.Watch(ctx, func() { changed <- struct{}{} }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(50 * time.Millisecond) // the watch is set up
	expect := func(what string, change func() error) {
		t.Helper()
		for len(changed) > 0 {
			<-changed
		}
		if err := change(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(2 * time.Second):
			t.Fatalf("no change seen after %s", what)
		}
	}
	expect("a component file removed", func() error { return os.Remove(filepath.Join(e.res, "mgmtplane-agent-binding-ticker.yaml")) })
	expect("the secrets file written", func() error { return os.WriteFile(e.secrets, []byte("{}"), 0o600) })

	// Files that are neither components nor the secrets file are not the agent's business. One write makes
	// several events (create or truncate, then write), so first let those of the secrets file pass.
	for quiet := false; !quiet; {
		select {
		case <-changed:
		case <-time.After(300 * time.Millisecond):
			quiet = true
		}
	}
	if err := os.WriteFile(filepath.Join(e.res, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(e.secrets), "other.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
		t.Fatal("a change seen for a file the agent does not keep")
	case <-time.After(200 * time.Millisecond):
	}
}
