// Command mint writes the key set for the local sentry's jwks validator and one token per sidecar, for
// scripts/run.sh (the end-to-end stack uses package sentrytoken directly). The signing key is new at every
// call and is never written anywhere: tokens of an earlier call are worthless once sentry reads the new set.
//
//	go run ./dapr/sentrytoken/mint -jwks <file> -namespace mgmtplane <app id>=<token file> ...
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mgmtplane/mgmtplane/dapr/sentrytoken"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mint:", err)
		os.Exit(1)
	}
}

func run() error {
	jwksFile := flag.String("jwks", "", "where to write the key set sentry's jwks validator reads")
	namespace := flag.String("namespace", "default", "NAMESPACE of the sidecars the tokens are for")
	flag.Parse()
	if *jwksFile == "" || flag.NArg() == 0 {
		return errors.New("usage: mint -jwks <file> [-namespace <ns>] <app id>=<token file> ...")
	}
	issuer, err := sentrytoken.New()
	if err != nil {
		return err
	}
	for _, arg := range flag.Args() {
		app, file, ok := strings.Cut(arg, "=")
		if !ok || app == "" || file == "" {
			return fmt.Errorf("%q: want <app id>=<token file>", arg)
		}
		tok, err := issuer.Token(*namespace, app)
		if err != nil {
			return err
		}
		if err := write(file, []byte(tok), 0o600); err != nil {
			return err
		}
	}
	set, err := issuer.JWKS()
	if err != nil {
		return err
	}
	return write(*jwksFile, set, 0o644)
}

// write replaces file atomically, so that a sidecar or sentry never reads half of it.
func write(file string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
