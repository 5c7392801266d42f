package main

import (
	"bytes"
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

// generatedSources reads the checked-in registration files, which scan reads as it reads dapr's own.
func generatedSources(t *testing.T) []source {
	t.Helper()
	_, dir := leanDir(t)
	all, err := readSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []source
	for _, s := range all {
		if strings.HasPrefix(s.reg.File, genPrefix) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s*.go files in %s", genPrefix, dir)
	}
	return out
}

// The lean daprd registers exactly what the Governor accepts (with its directions) and runtimeTypes: a
// binding type added to the Governor's table without regenerating fails here, and so does a registration
// left behind after a type was removed. This needs no dapr source, so it runs everywhere.
func TestRegistrationsMatchGovernor(t *testing.T) {
	gen := generatedSources(t)
	chosen, err := pick(gen, wantedTypes())
	if err != nil {
		t.Fatalf("the lean daprd's registrations (dapr/tools/daprd) do not cover the Governor's binding types and runtimeTypes; run go generate ./apps/governor/configuration/:\n%v", err)
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

// The checked-in files are what the generator writes now. It needs dapr's source in the module cache
// (scripts/install.sh puts it there); without it the test says so and skips, and the tests above still
// hold the line on the types.
func TestGeneratedUpToDate(t *testing.T) {
	root, dir := leanDir(t)
	src, version, err := daprComponentsDir(filepath.Join(root, "dapr", "tools"), true)
	if err != nil {
		t.Fatal(err)
	}
	if src == "" {
		t.Skip("github.com/dapr/dapr is not in the module cache (make install fetches it)")
	}
	want, err := generate(src, version)
	if err != nil {
		t.Fatal(err)
	}
	have, err := filepath.Glob(filepath.Join(dir, genPrefix+"*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range have {
		if _, ok := want[filepath.Base(p)]; !ok {
			t.Errorf("%s is no longer generated; run go generate ./apps/governor/configuration/", filepath.Base(p))
		}
	}
	for name, text := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(b, text) {
			t.Errorf("%s is missing or stale; run go generate ./apps/governor/configuration/", name)
		}
	}
}
