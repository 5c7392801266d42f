// Package secret reads key material (the Connector's CA and token key, the gateway's assertion key) from a Dapr
// secret store, and keeps material generated for local runs in the JSON file behind a
// secretstores.local.file component, so that the next start reads it from the store like any other secret.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Getter is the part of the Dapr secrets API needed here; the go-sdk client implements it.
type Getter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// ErrNotFound means the store holds none of the secret's keys.
var ErrNotFound = errors.New("secret not found")

// Read returns the values of keys in the secret name of store, which a Dapr secret store may give in either
// of two shapes:
//   - one secret with all the keys (Kubernetes secrets, local files with multiValued: true);
//   - one secret per key, "<name>:<key>" (a local file whose nested JSON is flattened with the
//     nestedSeparator ":", which is how components/secretstore.yaml reads .data/secrets.json).
//
// It returns ErrNotFound when no key is there, and an error when only some are: half a key pair is a
// mistake to fix by hand, not something to paper over by generating a new one.
func Read(ctx context.Context, g Getter, store, name string, keys ...string) (map[string]string, error) {
	m, err := g.GetSecret(ctx, store, name, nil)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("read secret %s/%s: %w", store, name, err)
	}
	if all(m, keys) {
		return m, nil
	}
	out := map[string]string{}
	for _, k := range keys {
		flat := name + ":" + k
		m, err := g.GetSecret(ctx, store, flat, nil)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("read secret %s/%s: %w", store, flat, err)
		}
		if m[flat] != "" {
			out[k] = m[flat]
		}
	}
	switch {
	case len(out) == len(keys):
		return out, nil
	case len(out) > 0:
		return nil, fmt.Errorf("secret %s/%s has only some of the keys %q", store, name, keys)
	}
	return nil, fmt.Errorf("secret %s/%s: %w", store, name, ErrNotFound)
}

func all(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if m[k] == "" {
			return false
		}
	}
	return true
}

// isNotFound tells "this secret does not exist" from every other failure. Dapr reports both as errors
// with a message only ("failed getting secret with key X from secret store S: secret X not found"), so the
// message is all there is to go on; a missing secret *store* must not count, or a misconfigured sidecar
// would make the Connector mint new keys.
func isNotFound(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") && !strings.Contains(msg, "failed finding secret store") &&
		!strings.Contains(msg, "not configured")
}

// WriteFile stores values under name in a local secrets JSON file as {"<name>": {"<key>": ...}}, keeping
// every other entry, with mode 0600. The write goes to a temporary file renamed over the old one, so a
// crash never leaves a half-written file behind.
func WriteFile(path, name string, values map[string]string) error {
	doc := map[string]any{}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read secrets file: %w", err)
	case len(strings.TrimSpace(string(raw))) > 0:
		if err := json.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("secrets file %s is not a JSON object: %w", path, err)
		}
	}
	doc[name] = values
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode secrets file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets folder: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secrets-*.json")
	if err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := writeAndClose(tmp, append(out, '\n')); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	return nil
}

func writeAndClose(f *os.File, data []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// ReadFile returns the values stored under name in a local secrets JSON file written by WriteFile; an
// absent file or name gives an empty map.
func ReadFile(path, name string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(strings.TrimSpace(string(raw))) == 0) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets file: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("secrets file %s is not a JSON object: %w", path, err)
	}
	out := map[string]string{}
	if v, ok := doc[name]; ok {
		if err := json.Unmarshal(v, &out); err != nil {
			return nil, fmt.Errorf("secrets file %s: %s is not an object of strings: %w", path, name, err)
		}
	}
	return out, nil
}
