package standalone_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/internal/golden"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/standalone"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	res, secrets string
	app          *standalone.Applier
}

func newEnv(t *testing.T) env {
	t.Helper()
	root := t.TempDir()
	e := env{res: filepath.Join(root, "resources"), secrets: filepath.Join(root, "agent", "secrets.json")}
	// A fixed hash key keeps the secret store's name, and so the golden files, stable.
	if err := os.MkdirAll(filepath.Dir(e.secrets), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.secrets+".hashkey", []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.app = e.newApplier(t)
	return e
}

func (e env) newApplier(t *testing.T) *standalone.Applier {
	t.Helper()
	app, err := standalone.New(standalone.Config{
		Dir:             e.res,
		SecretsFile:     e.secrets,
		SecretStoreName: "mgmtplane-agent-secrets",
		FilePrefix:      "mgmtplane-agent-",
		RuntimeID:       "rt-1",
		IgnoreErrors:    true,
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// files lists the YAML files in the resources folder.
func (e env) files(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(e.res)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, en := range entries {
		if !en.IsDir() {
			out = append(out, en.Name())
		}
	}
	return out
}

func (e env) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.res, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (e env) apply(t *testing.T, rev revision.Revision) {
	t.Helper()
	if err := e.app.Apply(context.Background(), rev); err != nil {
		t.Fatalf("apply revision %d: %v", rev.Number, err)
	}
}

func fixture() revision.Revision {
	return revision.Revision{RuntimeID: "rt-1", Number: 3, SecretsIncluded: true, Bindings: []revision.Binding{
		{
			Name: "logging",
			Type: "bindings.http",
			Metadata: []revision.Item{
				{Name: "url", Value: "http://localhost:9000/logs"},
				{Name: "securityTokenHeader", Value: "Authorization"},
			},
			SecretMetadata: []revision.Item{{Name: "securityToken", Value: "Bearer s3cr3t"}},
			Scopes:         []string{"demo-logger"},
		},
		{
			Name:     "ticker",
			Type:     "bindings.cron",
			Metadata: []revision.Item{{Name: "schedule", Value: "@every 10s"}, {Name: "direction", Value: "input"}},
		},
	}}
}

// storeFile finds the secret store's file.
func (e env) storeFile(t *testing.T) string {
	t.Helper()
	var found []string
	for _, f := range e.files(t) {
		if strings.HasPrefix(f, "mgmtplane-agent-secretstore-") {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one secret store file, have %v", found)
	}
	return found[0]
}

func TestApplyWritesComponentsAsGolden(t *testing.T) {
	e := newEnv(t)
	e.apply(t, fixture())

	store := e.storeFile(t)
	want := []string{"mgmtplane-agent-binding-logging.yaml", "mgmtplane-agent-binding-ticker.yaml", store}
	slices.Sort(want)
	if got := e.files(t); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, f := range want {
		// The secrets file path is absolute and differs per run.
		got := strings.ReplaceAll(e.read(t, f), filepath.Dir(e.secrets), "$SECRETS_DIR")
		name := f
		if f == store {
			name = "mgmtplane-agent-secretstore.yaml"
		}
		golden.Equal(t, filepath.Join("..", "testdata", "standalone", name), []byte(got))
	}
}

func TestSecretsStayInTheSecretsFile(t *testing.T) {
	e := newEnv(t)
	e.apply(t, fixture())
	for _, f := range e.files(t) {
		if strings.Contains(e.read(t, f), "s3cr3t") {
			t.Errorf("%s contains a secret value", f)
		}
	}
	st, err := os.Stat(e.secrets)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secrets file mode %v, want 0600", st.Mode().Perm())
	}
	var got map[string]map[string]string
	b, _ := os.ReadFile(e.secrets)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["logging"]["securityToken"] != "Bearer s3cr3t" || len(got) != 1 {
		t.Errorf("secrets file %v", got)
	}
	// The store component points at the file by absolute path: the sidecar runs in another folder.
	comps, _ := component.Parse([]byte(e.read(t, e.storeFile(t))))
	if comps[0].Spec.Metadata[0].Value != e.secrets {
		t.Errorf("secretsFile %q, want %q", comps[0].Spec.Metadata[0].Value, e.secrets)
	}
}

func TestSecretOnlyChangeChangesTheComponent(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	e.apply(t, rev)
	beforeLogging, beforeTicker, beforeStore := e.read(t, "mgmtplane-agent-binding-logging.yaml"), e.read(t, "mgmtplane-agent-binding-ticker.yaml"), e.storeFile(t)

	rev.Number++
	rev.Bindings[0].SecretMetadata[0].Value = "Bearer n3w"
	e.apply(t, rev)

	after := e.read(t, "mgmtplane-agent-binding-logging.yaml")
	if after == beforeLogging {
		t.Fatal("a secret-only change left the component file unchanged: the sidecar would keep the old value")
	}
	afterStore := e.storeFile(t)
	if afterStore == beforeStore {
		t.Error("the secret store kept its name: secretstores.local.file would not re-read the file")
	}
	c, _ := component.Parse([]byte(after))
	storeComp, _ := component.Parse([]byte(e.read(t, afterStore)))
	if c[0].Auth == nil || c[0].Auth.SecretStore != storeComp[0].Metadata.Name {
		t.Errorf("component points at store %+v, want %s", c[0].Auth, storeComp[0].Metadata.Name)
	}
	if e.read(t, "mgmtplane-agent-binding-ticker.yaml") != beforeTicker {
		t.Error("a component without secrets changed")
	}
	b, _ := os.ReadFile(e.secrets)
	if !strings.Contains(string(b), "Bearer n3w") {
		t.Errorf("secrets file not updated: %s", b)
	}
}

func TestRemovesOwnedComponentsThatDisappeared(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	e.apply(t, rev)

	rev.Number++
	rev.Bindings = rev.Bindings[1:] // logging, the only one with secrets, goes
	e.apply(t, rev)
	if got, want := e.files(t), []string{"mgmtplane-agent-binding-ticker.yaml"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v (the binding removed, and with it the store no binding needs)", got, want)
	}
	if b, _ := os.ReadFile(e.secrets); strings.TrimSpace(string(b)) != "{}" {
		t.Errorf("secret values of a removed binding kept: %s", b)
	}

	rev.Number++
	rev.Bindings = nil
	e.apply(t, rev)
	// Nothing stays: daprd 1.18 copes with a resources folder that becomes empty (TestOnRealDaprd).
	if got := e.files(t); len(got) != 0 {
		t.Fatalf("files %v, want none", got)
	}
}

func TestSecretStoreOnlyWithSecrets(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	rev.Bindings = rev.Bindings[1:] // ticker only: no secrets
	e.apply(t, rev)
	if got, want := e.files(t), []string{"mgmtplane-agent-binding-ticker.yaml"}; !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}

	// A binding with secrets brings the store back, and the binding points at it.
	rev.Number++
	rev.Bindings = fixture().Bindings
	e.apply(t, rev)
	c, _ := component.Parse([]byte(e.read(t, "mgmtplane-agent-binding-logging.yaml")))
	storeComp, _ := component.Parse([]byte(e.read(t, e.storeFile(t))))
	if c[0].Auth == nil || c[0].Auth.SecretStore != storeComp[0].Metadata.Name {
		t.Errorf("component points at store %+v, want %s", c[0].Auth, storeComp[0].Metadata.Name)
	}
}

func TestForeignFilesAreNeverTouched(t *testing.T) {
	e := newEnv(t)
	foreign := map[string]string{
		// A hand-written component.
		"pubsub.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: pubsub\nspec:\n  type: pubsub.redis\n  version: v1\n",
		// The agent's prefix, but not its annotation: not the agent's file.
		"mgmtplane-agent-binding-handmade.yaml": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: handmade\nspec:\n  type: bindings.http\n  version: v1\n",
		"README.txt":                            "not yaml",
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for name, data := range foreign {
		p := filepath.Join(e.res, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	rev := fixture()
	e.apply(t, rev)
	rev.Number++
	rev.Bindings = nil
	e.apply(t, rev)

	for name, data := range foreign {
		p := filepath.Join(e.res, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, _ := os.ReadFile(p); string(got) != data || !st.ModTime().Equal(old) {
			t.Errorf("%s was touched", name)
		}
	}
}

func TestConflictsRefuseTheWholeRevision(t *testing.T) {
	for _, tc := range []struct {
		name, file, data string
	}{
		{"component name taken by a foreign file", "logging.yaml",
			"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: logging\nspec:\n  type: bindings.http\n  version: v1\n"},
		{"file name taken by a foreign file", "mgmtplane-agent-binding-ticker.yaml", "# mine, not the agent's\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if err := os.WriteFile(filepath.Join(e.res, tc.file), []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			err := e.app.Apply(context.Background(), fixture())
			if !errors.Is(err, standalone.ErrConflict) {
				t.Fatalf("err %v, want ErrConflict", err)
			}
			if got := e.files(t); !slices.Equal(got, []string{tc.file}) {
				t.Errorf("files %v: a refused revision wrote something", got)
			}
			if _, err := os.Stat(e.secrets); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("secrets file written for a refused revision")
			}
			if got, _ := os.ReadFile(filepath.Join(e.res, tc.file)); string(got) != tc.data {
				t.Error("foreign file changed")
			}
		})
	}
}

func TestInvalidRevisionWritesNothing(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	rev.Bindings = append(rev.Bindings, revision.Binding{Name: "broken", Type: "bindings.http"})
	if err := e.app.Apply(context.Background(), rev); !errors.Is(err, revision.ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	if got := e.files(t); len(got) != 0 {
		t.Errorf("files %v written for an invalid revision", got)
	}
	rev = fixture()
	rev.Bindings[0].Name = "mgmtplane-agent-secrets-x"
	if err := e.app.Apply(context.Background(), rev); !errors.Is(err, revision.ErrInvalid) {
		t.Fatalf("binding named like the secret store: err %v, want ErrInvalid", err)
	}
}

func TestWritesAreAtomicAndIdempotent(t *testing.T) {
	e := newEnv(t)
	rev := fixture()
	e.apply(t, rev)
	path := filepath.Join(e.res, "mgmtplane-agent-binding-ticker.yaml")
	before := e.read(t, "mgmtplane-agent-binding-ticker.yaml")

	// A reader holding the file open keeps reading the old content: the new one arrives by rename, never
	// by rewriting the file in place, so no reader (daprd's watcher included) sees half a file.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rev.Number++
	rev.Bindings[1].Metadata[0].Value = "@every 20s"
	e.apply(t, rev)
	old, _ := io.ReadAll(f)
	if string(old) != before {
		t.Error("file rewritten in place")
	}
	if !strings.Contains(e.read(t, "mgmtplane-agent-binding-ticker.yaml"), "@every 20s") {
		t.Error("new content not written")
	}

	// An unchanged revision leaves every file alone, so the sidecars' watchers stay quiet.
	stamp := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, name := range e.files(t) {
		_ = os.Chtimes(filepath.Join(e.res, name), stamp, stamp)
	}
	_ = os.Chtimes(e.secrets, stamp, stamp)
	rev.Number++
	e.apply(t, rev)
	for _, p := range append([]string{e.secrets}, prefixed(e.res, e.files(t))...) {
		if st, _ := os.Stat(p); !st.ModTime().Equal(stamp) {
			t.Errorf("%s rewritten without a change", filepath.Base(p))
		}
	}

	// No temporary files are left behind.
	for _, dir := range []string{filepath.Join(e.res, ".mgmtplane-agent-staging"), filepath.Dir(e.secrets)} {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if strings.HasPrefix(en.Name(), ".tmp-") {
				t.Errorf("temporary file left: %s/%s", dir, en.Name())
			}
		}
	}
}

func prefixed(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

func TestSecretsFileMustLiveOutsideTheResourcesDir(t *testing.T) {
	dir := t.TempDir()
	_, err := standalone.New(standalone.Config{
		Dir: dir, SecretsFile: filepath.Join(dir, "secrets.json"), SecretStoreName: "s", FilePrefix: "p-",
	}, quiet)
	if err == nil {
		t.Fatal("secrets file inside the resources dir accepted")
	}
}

func TestHashKeyIsCreatedOnceAndKeepsNamesAcrossRestarts(t *testing.T) {
	root := t.TempDir()
	cfg := standalone.Config{
		Dir: filepath.Join(root, "res"), SecretsFile: filepath.Join(root, "s", "secrets.json"),
		SecretStoreName: "store", FilePrefix: "p-",
	}
	app, err := standalone.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cfg.SecretsFile + ".hashkey")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("hash key mode %v, want 0600", st.Mode().Perm())
	}
	if err := app.Apply(context.Background(), fixture()); err != nil {
		t.Fatal(err)
	}
	first := names(t, cfg.Dir)

	// A restarted agent applying the same revision changes nothing.
	app, err = standalone.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Apply(context.Background(), fixture()); err != nil {
		t.Fatal(err)
	}
	if again := names(t, cfg.Dir); !slices.Equal(first, again) {
		t.Errorf("files changed across a restart: %v, then %v", first, again)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}
