// Command daprdgen writes the component registrations of the project's lean daprd (dapr/tools/daprd/reg_*.go)
// from the Governor's binding types (apps/governor/configuration) and runtimeTypes, so that every binding the
// Governor accepts is one the runtimes' sidecars can run. It takes each needed registration file from the
// dapr release that dapr/tools pins, so names, aliases and constructors stay dapr's own, except for ownTypes,
// which the lean daprd registers in hand-written files of its own.
//
// scripts/install.sh runs it at build time: the files it writes are dapr's code, so they are git-ignored and
// generated into the build like the module they come from, never committed.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "daprdgen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	dir, version, err := daprComponentsDir(filepath.Join(root, "dapr", "tools"), false)
	if err != nil {
		return err
	}
	files, err := generate(dir, version)
	if err != nil {
		return err
	}
	out := filepath.Join(root, "dapr", "tools", "daprd")
	old, err := filepath.Glob(filepath.Join(out, genPrefix+"*.go"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, keep := files[filepath.Base(p)]; !keep {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(out, name), text, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("daprdgen: %d registration files from dapr %s in %s\n", len(files), version, out)
	return nil
}

// repoRoot is the folder of the root module's go.mod above the working directory (go generate runs in the
// folder of the directive; the test in this package's).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.HasPrefix(string(b), "module github.com/mgmtplane/mgmtplane\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("the root module's go.mod is not above the working directory")
		}
		dir = parent
	}
}
