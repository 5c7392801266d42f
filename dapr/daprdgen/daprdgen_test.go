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
	out, err := readSources(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no registrations generated")
	}
	return out
}

// ownSources reads the lean daprd's hand-written registrations (ownTypes), the files in dapr/tools/daprd the
// generator does not write.
func ownSources(t *testing.T) []source {
	t.Helper()
	_, dir := leanDir(t)
	out, err := readSources(dir, generated)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// leanSources is every registration the lean daprd is built with.
func leanSources(t *testing.T) []source {
	t.Helper()
	return append(generatedSources(t), ownSources(t)...)
}

// The lean daprd registers exactly what the Governor accepts (with its directions) and runtimeTypes: a
// binding type dapr cannot register in the direction the Governor offers fails here, and so does a
// registration of a type nobody asked for.
func TestRegistrationsMatchGovernor(t *testing.T) {
	gen := leanSources(t)
	// pick also fails when two files register one type: a generated file and one of ours.
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

// The types the lean daprd registers itself are exactly ownTypes, each a wanted type, and dapr's
// registrations of them are left out of the generated files.
func TestOwnRegistrations(t *testing.T) {
	own := map[string]string{}
	for _, s := range ownSources(t) {
		for typ := range s.reg.Types {
			own[typ] = s.reg.File
		}
	}
	for typ, file := range own {
		if _, ok := ownTypes[typ]; !ok {
			t.Errorf("dapr/tools/daprd/%s registers %s, which ownTypes does not name: the generated files may register it too", file, typ)
		}
	}
	for typ := range ownTypes {
		if own[typ] == "" {
			t.Errorf("ownTypes names %s, which no hand-written file in dapr/tools/daprd registers: the lean daprd would lack it", typ)
		}
		if !slices.ContainsFunc(wantedTypes(), func(w wanted) bool { return w.Type == typ }) {
			t.Errorf("ownTypes names %s, which is not a wanted type (runtimeTypes or the Governor's bindings)", typ)
		}
	}
	for _, s := range generatedSources(t) {
		for typ := range s.reg.Types {
			if _, ok := ownTypes[typ]; ok {
				t.Errorf("the generated %s registers %s, which the lean daprd registers itself", s.reg.File, typ)
			}
		}
	}
}

func TestWithoutOwn(t *testing.T) {
	src := func(file string, types ...string) source {
		r := &registration{File: file, Types: map[string]bool{}}
		for _, typ := range types {
			r.Types[typ] = true
		}
		return source{reg: r}
	}
	var own string
	for typ := range ownTypes {
		own = typ
		break
	}
	got, err := withoutOwn([]source{src("state_redis.go", "state.redis"), src("ours.go", own)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].reg.File != "state_redis.go" {
		t.Errorf("kept %v, want only state_redis.go", got)
	}
	if _, err := withoutOwn([]source{src("mixed.go", own, "state.redis")}); err == nil {
		t.Error("a file registering one of ownTypes with another type was accepted")
	}
}

func registered(t *testing.T) map[string]bool {
	t.Helper()
	types := map[string]bool{}
	for _, s := range leanSources(t) {
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
