package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/governor/configuration"
)

// runtimeTypes are the components, other than bindings, that the lean daprd registers: what the plane's own
// sidecars, the tests and the runtimes' sidecars are configured with (components/, deploy/, dapr/, the
// stacks apps/e2e and apps/internal/stacktest write, the runtime agent's secret store). The test in this
// package fails when a YAML file in the repository names a type missing here.
var runtimeTypes = []string{
	// The Registry and the apps' stores: sqlite locally, redis and postgresql in the e2e matrix
	// (MP_E2E_REGISTRY) and on Kubernetes; in-memory for throwaway stores in tests.
	"state.sqlite",
	"state.redis",
	"state.postgresql",
	"state.in-memory",
	// The broker of outbox events and audit records.
	"pubsub.redis",
	// local.file holds the plane's secrets and the agent's binding secrets; local.env lets a runtime take
	// secrets from its environment; kubernetes is the built-in store of every sidecar in Kubernetes mode
	// (daprd adds it on its own there, and fails without it).
	"secretstores.local.file",
	"secretstores.local.env",
	"secretstores.kubernetes",
	// sqlite on one machine (dapr/config.yaml: mDNS fails on loopback), mdns as daprd's standalone default,
	// kubernetes as its default in Kubernetes mode.
	"nameresolution.sqlite",
	"nameresolution.mdns",
	"nameresolution.kubernetes",
}

// ownTypes are types among the wanted ones that the lean daprd registers in its own code (the hand-written
// files of dapr/tools/daprd) rather than with dapr's registration file, each with the reason. daprdgen still
// requires dapr to register the type (ours wraps dapr's component, and must notice when dapr drops it) but
// does not emit dapr's file: with two registrations of one name, the one that counts would be whichever
// init runs last, which is up to file names.
var ownTypes = map[string]string{
	"nameresolution.sqlite": "dapr's resolver behind a per-app-ID cache of its answers (dapr/tools/daprd/nrcache)",
}

// wanted is every type the lean daprd registers, with the binding directions the Governor promises.
type wanted struct {
	Type          string
	Input, Output bool // bindings only
}

func wantedTypes() []wanted {
	var out []wanted
	for _, t := range configuration.BindingTypes() {
		out = append(out, wanted{Type: t.Type, Input: t.Input, Output: t.Output})
	}
	for _, t := range runtimeTypes {
		out = append(out, wanted{Type: t})
	}
	return out
}

// registration is what one of dapr's registration files (cmd/daprd/components/*.go) registers.
type registration struct {
	File    string          // base name
	Types   map[string]bool // "bindings.kafka", "state.redis", ...
	Inputs  map[string]bool // binding types registered as input bindings
	Outputs map[string]bool // binding types registered as output bindings
}

const loaderPrefix = "github.com/dapr/dapr/pkg/components/"

// scan reads the registrations of one file: every call X.DefaultRegistry.RegisterY(...) where X is one of
// dapr's component loaders (pkg/components/<kind>), with the string literals among its arguments as names.
// The kind comes from the loader's import path, so the type is "<kind>.<name>" with / as a dot
// (middleware/http → middleware.http), as in a Component's spec.type.
func scan(fset *token.FileSet, name string, src []byte) (*registration, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	kinds := map[string]string{} // local import name → kind
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		kind, ok := strings.CutPrefix(p, loaderPrefix)
		if !ok {
			continue
		}
		local := filepath.Base(p)
		if imp.Name != nil {
			local = imp.Name.Name
		}
		kinds[local] = strings.ReplaceAll(kind, "/", ".")
	}
	r := &registration{File: filepath.Base(name), Types: map[string]bool{}, Inputs: map[string]bool{}, Outputs: map[string]bool{}}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		method, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(method.Sel.Name, "Register") {
			return true
		}
		reg, ok := method.X.(*ast.SelectorExpr)
		if !ok || reg.Sel.Name != "DefaultRegistry" {
			return true
		}
		pkg, ok := reg.X.(*ast.Ident)
		if !ok || kinds[pkg.Name] == "" {
			return true
		}
		for _, arg := range call.Args {
			lit, ok := arg.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, _ := strconv.Unquote(lit.Value)
			typ := kinds[pkg.Name] + "." + s
			r.Types[typ] = true
			switch method.Sel.Name {
			case "RegisterInputBinding":
				r.Inputs[typ] = true
			case "RegisterOutputBinding":
				r.Outputs[typ] = true
			}
		}
		return true
	})
	return r, nil
}

// source is one of dapr's registration files.
type source struct {
	reg  *registration
	text []byte
}

// daprComponentsDir finds dapr's cmd/daprd/components in the module cache at the version the tools module
// pins, downloading the module if needed (offline=true: never, and "" when it is not there).
func daprComponentsDir(toolsDir string, offline bool) (dir, version string, err error) {
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/dapr/dapr")
	if offline {
		cmd.Env = append(os.Environ(), "GOPROXY=off")
	}
	cmd.Dir = toolsDir
	out, err := cmd.Output()
	var m struct{ Dir, Version, Error string }
	if jerr := json.Unmarshal(out, &m); jerr != nil && err == nil {
		err = jerr
	}
	if m.Dir == "" || err != nil || m.Error != "" {
		if offline {
			return "", "", nil
		}
		return "", "", fmt.Errorf("go mod download github.com/dapr/dapr in %s: %v %s", toolsDir, err, m.Error)
	}
	return filepath.Join(m.Dir, "cmd", "daprd", "components"), m.Version, nil
}

// readSources reads the registrations of the Go files in dir (not tests), leaving out those for which skip
// is true (nil: none).
func readSources(dir string, skip func(base string) bool) ([]source, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var out []source
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") || (skip != nil && skip(filepath.Base(p))) {
			continue
		}
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		r, err := scan(fset, p, text)
		if err != nil {
			return nil, err
		}
		if len(r.Types) > 0 {
			out = append(out, source{r, text})
		}
	}
	return out, nil
}

// pick chooses the registration files for the wanted types: exactly one file per type, registering the
// binding directions the Governor offers (an input binding the sidecar cannot run would fail in a runtime,
// long after the Governor accepted it).
func pick(sources []source, want []wanted) ([]source, error) {
	var errs []error
	chosen := map[string]source{}
	for _, w := range want {
		var found []source
		for _, s := range sources {
			if s.reg.Types[w.Type] {
				found = append(found, s)
			}
		}
		switch {
		case len(found) == 0:
			errs = append(errs, fmt.Errorf("%s: no registration file registers this type", w.Type))
			continue
		case len(found) > 1:
			errs = append(errs, fmt.Errorf("%s: registered by more than one file (%s, %s)", w.Type, found[0].reg.File, found[1].reg.File))
			continue
		}
		s := found[0]
		if w.Input && !s.reg.Inputs[w.Type] {
			errs = append(errs, fmt.Errorf("%s: the Governor offers it as an input binding, dapr registers none (%s)", w.Type, s.reg.File))
		}
		if w.Output && !s.reg.Outputs[w.Type] {
			errs = append(errs, fmt.Errorf("%s: the Governor offers it as an output binding, dapr registers none (%s)", w.Type, s.reg.File))
		}
		chosen[s.reg.File] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := make([]source, 0, len(chosen))
	for _, s := range chosen {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.reg.File, b.reg.File) })
	return out, nil
}

// genPrefix names the generated files in dapr/tools/daprd; everything there with it is the generator's.
const genPrefix = "reg_"

// render turns one of dapr's registration files into one of ours: the same imports and init, in package
// main, without the build constraint (the point is to register it with no tags), headed as generated. Each
// stays a file of its own because imports are per file: dapr's files import packages of the same name
// (state/redis, pubsub/redis, bindings/redis) without aliases.
func render(s source, version string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by dapr/daprdgen from github.com/dapr/dapr@%s/cmd/daprd/components/%s. DO NOT EDIT.\n\n", version, s.reg.File)
	lines := strings.SplitAfter(string(s.text), "\n")
	pkgSeen := false
	skipBlank := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "//go:build "):
			skipBlank = true
			continue
		case skipBlank && strings.TrimSpace(l) == "":
			skipBlank = false
			continue
		case !pkgSeen && strings.HasPrefix(l, "package components"):
			l = "package main\n"
			pkgSeen = true
		}
		skipBlank = false
		b.WriteString(l)
	}
	if !pkgSeen {
		return nil, fmt.Errorf("%s: no 'package components' clause", s.reg.File)
	}
	return b.Bytes(), nil
}

// generated tells the generator's files in dapr/tools/daprd from the hand-written ones.
func generated(base string) bool { return strings.HasPrefix(base, genPrefix) }

// generate returns the registration files the lean daprd needs, by file name: dapr's files for the wanted
// types, less those that register only ownTypes.
func generate(componentsDir, version string) (map[string][]byte, error) {
	sources, err := readSources(componentsDir, nil)
	if err != nil {
		return nil, err
	}
	chosen, err := pick(sources, wantedTypes())
	if err != nil {
		return nil, err
	}
	chosen, err = withoutOwn(chosen)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, s := range chosen {
		text, err := render(s, version)
		if err != nil {
			return nil, err
		}
		files[genPrefix+s.reg.File] = text
	}
	return files, nil
}

// withoutOwn leaves out of dapr's files those that register ownTypes, and fails for a file that registers
// some of them with other types: leaving it out would lose the others, keeping it would register ours twice.
func withoutOwn(sources []source) ([]source, error) {
	var out []source
	for _, s := range sources {
		var own, other []string
		for typ := range s.reg.Types {
			if _, ok := ownTypes[typ]; ok {
				own = append(own, typ)
			} else {
				other = append(other, typ)
			}
		}
		switch {
		case len(own) > 0 && len(other) > 0:
			slices.Sort(own)
			slices.Sort(other)
			return nil, fmt.Errorf("%s registers %v, which the lean daprd registers itself (ownTypes), together with %v", s.reg.File, own, other)
		case len(own) == 0:
			out = append(out, s)
		}
	}
	return out, nil
}
