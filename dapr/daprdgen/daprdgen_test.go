package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

func leanDir(t *testing.T) (root, dir string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root, filepath.Join(root, "dapr", "tools", "daprd")
}

// generatedSources generates the registration files as scripts/install.sh does, into a temporary folder,
// and reads them back as scan reads dapr's own. It needs dapr's source in the module cache (make install
// fetches it); without it the test says so and skips.
func generatedSources(t *testing.T) []source {
	t.Helper()
	root, _ := leanDir(t)
	src, version, err := daprComponentsDir(filepath.Join(root, "dapr", "tools"), true)
	if err != nil {
		t.Fatal(err)
	}
	if src == "" {
		t.Skip("github.com/dapr/dapr is not in the module cache (make install fetches it)")
	}
	files, err := generate(src, version)
	if err != nil {
		t.Fatalf("the lean daprd's registrations cannot be generated for the Governor's binding types and runtimeTypes:\n%v", err)
	}
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), text, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := readSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no registrations generated")
	}
	return out
}

// The lean daprd registers exactly what the Governor accepts (with its directions) and runtimeTypes: a
// binding type dapr cannot register in the direction the Governor offers fails here, and so does a
// registration of a type nobody asked for.
func TestRegistrationsMatchGovernor(t *testing.T) {
	gen := generatedSources(t)
	chosen, err := pick(gen, wantedTypes())
	if err != nil {
		t.Fatalf("the lean daprd's registrations do not cover the Governor's binding types and runtimeTypes:\n%v", err)
	}
	if len(chosen) != len(gen) {
		var extra []string
		for _, s := range gen {
			if !slices.ContainsFunc(chosen, func(c source) bool { return c.reg.File == s.reg.File }) {
				extra = append(extra, s.reg.File)
			}
		}
		t.Errorf("registrations for types neither the Governor nor runtimeTypes name: %v; run go generate ./apps/governor/configuration/", extra)
	}
}

func registered(t *testing.T) map[string]bool {
	t.Helper()
	types := map[string]bool{}
	for _, s := range generatedSources(t) {
		for typ := range s.reg.Types {
			types[typ] = true
		}
	}
	return types
}

// The runtime agent keeps its own list of the types it writes into a runtime's resources (with aliases);
// the runtime's sidecar must know each.
func TestAgentTypesRegistered(t *testing.T) {
	types := registered(t)
	for _, typ := range revision.KnownTypes() {
		if !types[typ] {
			t.Errorf("the runtime agent writes %s components, which the lean daprd does not register", typ)
		}
	}
}

var typeLine = regexp.MustCompile(`(?m)^\s*type:\s*"?((?:state|pubsub|bindings|secretstores|nameresolution|middleware|crypto|configuration|lock|conversation)\.[A-Za-z0-9._-]+)"?\s*$`)

// Every component type a YAML file of the repository uses (the plane's components, the Kubernetes
// manifests, the agent's test data) must be registered, or the sidecar that loads it exits at start.
func TestRepositoryComponentsRegistered(t *testing.T) {
	root, _ := leanDir(t)
	types := registered(t)
	for _, top := range []string{"components", "deploy", "dapr", "apps"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".dapr" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range typeLine.FindAllSubmatch(b, -1) {
				if !types[string(m[1])] {
					rel, _ := filepath.Rel(root, p)
					t.Errorf("%s uses %s, which the lean daprd does not register (add it to runtimeTypes in dapr/daprdgen)", rel, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
