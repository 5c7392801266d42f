// Package standalone applies a runtime configuration to a self-hosted Dapr runtime: one component file per
// binding in the sidecars' resources folder, which Dapr's hot reload picks up, and the secret values in a
// local secret-store file next to it.
//
// How a changed secret reaches a running sidecar matters here, because Dapr (1.16 and 1.18 alike) does not
// notice it on its own: secretstores.local.file reads its file once, at init, and the hot-reload differ compares
// components without their metadata.annotations, so a new value in an annotation changes nothing. The
// agent therefore names the secret store after a keyed hash of all secret values
// (SECRET_STORE_NAME-<hash>). A new secret value means a new store component, which reads the file
// afresh, and every component with secrets points at it through auth.secretStore, a field the differ
// does compare: those components are reloaded, and Dapr holds each of them back until the new store is
// loaded. The hash key lives next to the secrets file, so names stay stable across restarts and reveal
// nothing about the values to whoever can read the resources folder or the sidecar's metadata.
package standalone

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/component"
	"github.com/mgmtplane/mgmtplane/apps/runtime-agent/revision"
)

// Config says where the applier writes.
type Config struct {
	// Dir is the resources folder the runtime's sidecars load (dapr run --resources-path).
	Dir string
	// SecretsFile is the JSON file of secret values. It must not be in Dir: Dapr would try to load it.
	SecretsFile string
	// HashKeyFile keeps the key of the secrets hash; default SecretsFile + ".hashkey". Created when missing.
	HashKeyFile string
	// SecretStoreName is the base name of the agent's secret-store component.
	SecretStoreName string
	// FilePrefix starts the name of every file the agent owns in Dir.
	FilePrefix string
	RuntimeID  string
	// IgnoreErrors sets spec.ignoreErrors on every component written (see component.Options).
	IgnoreErrors bool
}

// Applier writes components into a resources folder. It is not safe for concurrent use; the agent applies
// one revision at a time.
type Applier struct {
	cfg        Config
	staging    string
	hashKey    []byte
	log        *slog.Logger
	headerText string
}

// ErrConflict means a binding would replace a component the agent does not own.
var ErrConflict = errors.New("conflict with a component not managed by the agent")

// New checks cfg and prepares the staging folder used for atomic writes.
func New(cfg Config, log *slog.Logger) (*Applier, error) {
	if cfg.Dir == "" || cfg.SecretsFile == "" || cfg.SecretStoreName == "" || cfg.FilePrefix == "" {
		return nil, errors.New("standalone applier: resources dir, secrets file, secret store name and file prefix are required")
	}
	// Components reference the secrets file from the sidecar's working folder, which is not ours.
	abs, err := filepath.Abs(cfg.SecretsFile)
	if err != nil {
		return nil, fmt.Errorf("standalone applier: secrets file: %w", err)
	}
	cfg.SecretsFile = abs
	if filepath.Clean(filepath.Dir(abs)) == filepath.Clean(mustAbs(cfg.Dir)) {
		return nil, fmt.Errorf("standalone applier: secrets file %s must not be inside the resources dir %s", abs, cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("standalone applier: resources dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("standalone applier: secrets dir: %w", err)
	}
	// Temporary files live in a subfolder: Dapr loads neither subfolders nor watches them, so a half-written
	// file is never seen, and a rename from there into Dir stays on one filesystem and is atomic.
	staging := filepath.Join(cfg.Dir, "."+cfg.FilePrefix+"staging")
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("standalone applier: staging dir: %w", err)
	}
	if cfg.HashKeyFile == "" {
		cfg.HashKeyFile = abs + ".hashkey"
	}
	key, err := loadOrCreateKey(cfg.HashKeyFile)
	if err != nil {
		return nil, fmt.Errorf("standalone applier: %w", err)
	}
	return &Applier{
		cfg:        cfg,
		staging:    staging,
		hashKey:    key,
		log:        log,
		headerText: "Written by the mgmtplane runtime agent from the Runtime Governor's configuration. Do not edit:\nthe agent overwrites or deletes this file on the next revision.",
	}, nil
}

func mustAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// BindingFile is the file name of a binding's component.
func (a *Applier) BindingFile(name string) string {
	return a.cfg.FilePrefix + "binding-" + name + ".yaml"
}

// storeFile is the file name of the secret store for secrets with the given hash.
func (a *Applier) storeFile(hash string) string {
	return a.cfg.FilePrefix + "secretstore-" + hash + ".yaml"
}

// Apply makes the resources folder match rev: it writes the secrets file, the secret store (when a binding
// has secrets) and one component file per binding, then deletes the agent's files that rev no longer has. Files it does not
// own are never changed; a binding whose name is taken by such a file fails the revision before anything
// is written. Applying the same revision again rewrites only what differs from it: that is how drift is
// corrected.
func (a *Applier) Apply(ctx context.Context, rev revision.Revision) error {
	want, err := a.plan(rev)
	if err != nil {
		return err
	}
	cur, err := a.scan()
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, f := range append(slices.Clone(want.stores), want.bindings...) {
		wanted[f.name] = true
		if foreign, ok := cur.foreignNames[f.component]; ok {
			return fmt.Errorf("%w: component %q is already defined in %s", ErrConflict, f.component, foreign)
		}
		if cur.foreignFiles[f.name] {
			return fmt.Errorf("%w: file %s exists and does not carry the agent's %s annotation", ErrConflict, f.name, component.ManagedByAnnotation)
		}
	}

	if err := ctx.Err(); err != nil {
		return err
	}
	// Order matters to the sidecar: secret values first, then the store that reads them, then the
	// components that use it; the old store goes last, so no component ever points at a missing store
	// (Dapr would park it waiting for that store).
	if err := a.writeSecrets(want.secretsData); err != nil {
		return err
	}
	for _, group := range [][]file{want.stores, want.bindings} {
		for _, f := range group {
			if err := a.writeIfChanged(f.name, f.data); err != nil {
				return err
			}
		}
	}
	for name := range cur.owned {
		if wanted[name] {
			continue
		}
		if err := os.Remove(filepath.Join(a.cfg.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		a.log.InfoContext(ctx, "removed component file", "file", name)
	}
	return nil
}

// file is one component file the agent writes.
type file struct {
	name      string // in the resources folder
	component string // the component's name
	data      []byte
}

// desired is what a revision makes of the resources folder and the secrets file.
type desired struct {
	stores, bindings []file
	secrets          map[string]map[string]string // binding -> metadata name -> value
	secretsData      []byte                       // the secrets file
}

// plan renders what rev makes of the resources folder and the secrets file, byte for byte: Apply writes
// it, Diff compares the folder with it.
func (a *Applier) plan(rev revision.Revision) (*desired, error) {
	if err := rev.Validate(a.cfg.SecretStoreName); err != nil {
		return nil, err
	}
	for _, b := range rev.Bindings {
		if strings.HasPrefix(b.Name, a.cfg.SecretStoreName+"-") {
			return nil, fmt.Errorf("%w: binding %q: names starting with %q are reserved for the agent's secret store", revision.ErrInvalid, b.Name, a.cfg.SecretStoreName+"-")
		}
	}

	d := &desired{secrets: map[string]map[string]string{}}
	for _, b := range rev.Bindings {
		if s := b.Secrets(); s != nil {
			d.secrets[b.Name] = s
		}
	}
	// The secret store exists only while a binding has secrets. (With daprd 1.16 it had to stay, because
	// that loader panicked when the last component left the folder; 1.18 handles an empty folder.)
	hash := component.KeyedHash(a.hashKey, d.secrets)
	storeName := a.cfg.SecretStoreName + "-" + hash
	opts := component.Options{RuntimeID: a.cfg.RuntimeID, IgnoreErrors: a.cfg.IgnoreErrors, SecretStore: storeName}
	render := func(name string, c component.Component) (file, error) {
		data, err := c.YAML(a.headerText)
		return file{name: name, component: c.Metadata.Name, data: data}, err
	}
	if len(d.secrets) > 0 {
		f, err := render(a.storeFile(hash), component.LocalFileSecretStore(storeName, a.cfg.SecretsFile, opts))
		if err != nil {
			return nil, err
		}
		d.stores = append(d.stores, f)
	}
	for _, b := range rev.Bindings {
		version := ""
		if s := b.Secrets(); s != nil {
			version = component.KeyedHash(a.hashKey, s)
		}
		f, err := render(a.BindingFile(b.Name), component.ForBinding(b, version, opts))
		if err != nil {
			return nil, err
		}
		d.bindings = append(d.bindings, f)
	}
	data, err := json.MarshalIndent(d.secrets, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode secrets: %w", err)
	}
	d.secretsData = data
	return d, nil
}

// contents is what the resources folder holds.
type contents struct {
	owned        map[string]bool     // file names the agent owns
	ownedNames   map[string][]string // file name -> the components in it, for the files the agent owns
	foreignFiles map[string]bool     // file names with the agent's prefix that it does not own
	foreignNames map[string]string   // component name -> file, for components the agent does not own
}

// scan reads the resources folder. A file is the agent's when its name has the prefix and every component
// in it carries the ownership annotation; anything else is someone else's.
func (a *Applier) scan() (contents, error) {
	c := contents{owned: map[string]bool{}, ownedNames: map[string][]string{}, foreignFiles: map[string]bool{}, foreignNames: map[string]string{}}
	entries, err := os.ReadDir(a.cfg.Dir)
	if err != nil {
		return c, fmt.Errorf("read resources dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(a.cfg.Dir, name))
		if err != nil {
			return c, fmt.Errorf("read %s: %w", name, err)
		}
		comps, perr := component.Parse(data)
		owned := perr == nil && len(comps) > 0 && strings.HasPrefix(name, a.cfg.FilePrefix)
		for _, comp := range comps {
			owned = owned && comp.Owned()
		}
		if owned {
			c.owned[name] = true
			for _, comp := range comps {
				c.ownedNames[name] = append(c.ownedNames[name], componentName(comp.Metadata.Name))
			}
			continue
		}
		if strings.HasPrefix(name, a.cfg.FilePrefix) {
			c.foreignFiles[name] = true
		}
		if perr != nil {
			a.log.Warn("resources dir: a file the agent does not own does not parse; its component names are unknown", "file", name, "err", perr)
		}
		for _, comp := range comps {
			c.foreignNames[comp.Metadata.Name] = name
		}
	}
	return c, nil
}

// writeIfChanged replaces name in the resources folder with data, atomically, unless it already holds
// exactly data: an unchanged file is left alone so that the sidecars' file watchers stay quiet.
func (a *Applier) writeIfChanged(name string, data []byte) error {
	path := filepath.Join(a.cfg.Dir, name)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return nil
	}
	return atomicWrite(a.staging, path, data, 0o644)
}

// writeSecrets writes the secrets file, readable by the agent's user only, unless it holds data already.
func (a *Applier) writeSecrets(data []byte) error {
	if old, err := os.ReadFile(a.cfg.SecretsFile); err == nil && string(old) == string(data) {
		return nil
	}
	return atomicWrite(filepath.Dir(a.cfg.SecretsFile), a.cfg.SecretsFile, data, 0o600)
}

// atomicWrite writes data to a temporary file in tmpDir and renames it to path, so that a reader sees the
// old content or the new, never a mix. tmpDir must be on the same filesystem as path.
func atomicWrite(tmpDir, path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(tmpDir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	// Set the mode before any byte is written: a secrets file must never exist readable by others.
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// loadOrCreateKey reads the hash key at path, creating a random one (0600) the first time.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil && len(key) >= 16:
		return key, nil
	case err == nil:
		return nil, fmt.Errorf("hash key %s: too short", path)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("hash key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	if err := atomicWrite(filepath.Dir(path), path, key, 0o600); err != nil {
		return nil, fmt.Errorf("hash key: %w", err)
	}
	return key, nil
}
