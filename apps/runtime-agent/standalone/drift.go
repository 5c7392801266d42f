package standalone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fsnotify/fsnotify"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Diff compares the resources folder and the secrets file with what Apply writes for rev: a file of
// rev's that is gone is MISSING, one with other bytes MODIFIED (a comment or a blank line counts: the
// agent owns these files whole), a file with the agent's marks that rev does not have UNEXPECTED; the
// secret values of each binding are compared the same way. It only reads.
func (a *Applier) Diff(_ context.Context, rev revision.Revision) ([]revision.Difference, error) {
	want, err := a.plan(rev)
	if err != nil {
		return nil, err
	}
	var out []revision.Difference
	wanted := map[string]bool{}
	for _, f := range append(slices.Clone(want.stores), want.bindings...) {
		wanted[f.name] = true
		data, err := os.ReadFile(filepath.Join(a.cfg.Dir, f.name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			out = append(out, revision.Difference{Component: f.component, Kind: revision.Missing, Resource: revision.ResourceComponent})
		case err != nil:
			return nil, fmt.Errorf("read %s: %w", f.name, err)
		case !bytes.Equal(data, f.data):
			out = append(out, revision.Difference{Component: f.component, Kind: revision.Modified, Resource: revision.ResourceComponent})
		}
	}
	cur, err := a.scan()
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(cur.owned)) {
		if wanted[name] {
			continue
		}
		for _, c := range cur.ownedNames[name] {
			out = append(out, revision.Difference{Component: c, Kind: revision.Unexpected, Resource: revision.ResourceComponent})
		}
	}
	secrets, err := a.diffSecrets(want)
	if err != nil {
		return nil, err
	}
	return append(out, secrets...), nil
}

// diffSecrets compares the secrets file with want's, binding by binding, without ever putting a value in
// what it returns. Without bindings with secrets the file is not in use, and not compared.
func (a *Applier) diffSecrets(want *desired) ([]revision.Difference, error) {
	if len(want.secrets) == 0 {
		return nil, nil
	}
	data, err := os.ReadFile(a.cfg.SecretsFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secrets file: %w", err)
	}
	if bytes.Equal(data, want.secretsData) {
		return nil, nil
	}
	var out []revision.Difference
	var have map[string]map[string]string
	if err == nil && json.Unmarshal(data, &have) != nil {
		// Unreadable: every binding's secrets are as good as modified.
		for _, name := range slices.Sorted(maps.Keys(want.secrets)) {
			out = append(out, revision.Difference{Component: name, Kind: revision.Modified, Resource: revision.ResourceSecret})
		}
		return out, nil
	}
	for _, name := range slices.Sorted(maps.Keys(want.secrets)) {
		got, ok := have[name]
		switch {
		case !ok:
			out = append(out, revision.Difference{Component: name, Kind: revision.Missing, Resource: revision.ResourceSecret})
		case !maps.Equal(got, want.secrets[name]):
			out = append(out, revision.Difference{Component: name, Kind: revision.Modified, Resource: revision.ResourceSecret})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want.secrets[name]; !ok {
			out = append(out, revision.Difference{Component: componentName(name), Kind: revision.Unexpected, Resource: revision.ResourceSecret})
		}
	}
	if len(out) == 0 {
		// Same values, other bytes (reformatted): the file is still not what the agent wrote.
		out = append(out, revision.Difference{Component: a.cfg.SecretStoreName, Kind: revision.Modified, Resource: revision.ResourceSecret})
	}
	return out, nil
}

// componentName keeps a name someone else wrote within what the Governor takes as a component name.
func componentName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b[:min(len(b), 253)])
}

// Watch calls changed whenever something in the resources folder or the secrets file changes, until ctx
// ends. The agent's own writes are reported too: the caller compares (Diff) rather than trusting the
// event, so its own writes, which leave the folder as planned, show no drift. Temporary files are written
// in the staging subfolder, which is not watched.
func (a *Applier) Watch(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch resources: %w", err)
	}
	defer w.Close()
	secretsDir := filepath.Dir(a.cfg.SecretsFile)
	for _, dir := range []string{a.cfg.Dir, secretsDir} {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	dir := filepath.Clean(mustAbs(a.cfg.Dir))
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events, not changes: the periodic comparison still sees them. Ask for
			// one now.
			a.log.WarnContext(ctx, "watching the resources folder", "err", err)
			changed()
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			path := filepath.Clean(mustAbs(ev.Name))
			switch {
			case path == a.cfg.SecretsFile:
			case filepath.Dir(path) == dir && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")):
			default:
				continue // the agent's temporary files, the credentials, anything else next to them
			}
			changed()
		}
	}
}
