package ca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SecretGetter is the part of the Dapr secrets API the CA needs; the go-sdk client implements it.
type SecretGetter interface {
	GetSecret(ctx context.Context, storeName, key string, meta map[string]string) (map[string]string, error)
}

// Source says where the CA's key pair is kept and what to do when it is not there.
type Source struct {
	Store  string // Dapr secret store component
	Secret string // secret name; its keys "cert" and "key" hold PEM
	// Generate allows creating a CA when the secret store has none (local runs). The new pair is written
	// to SecretsFile, the JSON file behind a secretstores.local.file component, so that the next start
	// reads it from the secret store like any other secret.
	Generate    bool
	SecretsFile string
}

// Secret keys inside the CA secret.
const (
	keyCert = "cert"
	keyKey  = "key"
)

// ErrNoCA means the secret store holds no CA and generating one is not allowed.
var ErrNoCA = errors.New("no CA in the secret store")

// Load returns the CA from the secret store, or generates one when allowed (see Source).
func Load(ctx context.Context, log *slog.Logger, secrets SecretGetter, src Source, now time.Time) (*Authority, error) {
	certPEM, keyPEM, err := readSecret(ctx, secrets, src)
	switch {
	case err == nil:
		a, err := New([]byte(certPEM), []byte(keyPEM))
		if err != nil {
			return nil, fmt.Errorf("ca from secret %s/%s: %w", src.Store, src.Secret, err)
		}
		log.InfoContext(ctx, "ca loaded from the secret store", "store", src.Store, "secret", src.Secret,
			"subject", a.cert.Subject.String(), "not_after", a.cert.NotAfter)
		return a, nil
	case !errors.Is(err, ErrNoCA):
		return nil, err
	case !src.Generate:
		return nil, fmt.Errorf("secret %s/%s: %w (provide it, or set CA_GENERATE=true for local runs)", src.Store, src.Secret, err)
	}

	cert, key, err := Generate(now)
	if err != nil {
		return nil, err
	}
	a, err := New(cert, key)
	if err != nil {
		return nil, err
	}
	if src.SecretsFile == "" {
		log.WarnContext(ctx, "generated a new ca, kept in memory only: no secrets file to store it in; certificates it signs are void after a restart",
			"store", src.Store, "secret", src.Secret)
		return a, nil
	}
	if err := WriteSecretsFile(src.SecretsFile, src.Secret, cert, key); err != nil {
		return nil, err
	}
	log.WarnContext(ctx, "generated a new ca and wrote it to the local secrets file; the secret store serves it from the next start",
		"file", src.SecretsFile, "secret", src.Secret, "subject", a.cert.Subject.String(), "not_after", a.cert.NotAfter)
	return a, nil
}

// readSecret reads the CA secret in either shape a Dapr secret store gives it:
//   - one secret with the keys "cert" and "key" (Kubernetes secrets, local files with multiValued: true);
//   - two secrets "<name>:cert" and "<name>:key" (a local file whose nested JSON is flattened with the
//     nestedSeparator ":", which is how components/secretstore.yaml reads .data/secrets.json).
func readSecret(ctx context.Context, secrets SecretGetter, src Source) (certPEM, keyPEM string, err error) {
	m, err := secrets.GetSecret(ctx, src.Store, src.Secret, nil)
	if err != nil && !isNotFound(err) {
		return "", "", fmt.Errorf("read secret %s/%s: %w", src.Store, src.Secret, err)
	}
	if m[keyCert] != "" && m[keyKey] != "" {
		return m[keyCert], m[keyKey], nil
	}
	get := func(k string) (string, error) {
		name := src.Secret + ":" + k
		m, err := secrets.GetSecret(ctx, src.Store, name, nil)
		if err != nil {
			if isNotFound(err) {
				return "", nil
			}
			return "", fmt.Errorf("read secret %s/%s: %w", src.Store, name, err)
		}
		return m[name], nil
	}
	if certPEM, err = get(keyCert); err != nil {
		return "", "", err
	}
	if keyPEM, err = get(keyKey); err != nil {
		return "", "", err
	}
	switch {
	case certPEM != "" && keyPEM != "":
		return certPEM, keyPEM, nil
	case certPEM != "" || keyPEM != "":
		// Half a CA is a mistake to fix by hand, not something to paper over with a new CA.
		return "", "", fmt.Errorf("secret %s/%s has only one of %q and %q", src.Store, src.Secret, keyCert, keyKey)
	}
	return "", "", ErrNoCA
}

// isNotFound tells "this secret does not exist" from every other failure. Dapr reports both as errors
// with a message only ("failed getting secret with key X from secret store S: secret X not found"), so the
// message is all there is to go on; a missing secret *store* must not count, or a misconfigured sidecar
// would make the Connector mint a new CA.
func isNotFound(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not found") && !strings.Contains(msg, "failed finding secret store") &&
		!strings.Contains(msg, "not configured")
}

// WriteSecretsFile stores the CA under name in a local secrets JSON file as {"<name>": {"cert": ..., "key":
// ...}}, keeping every other key, with mode 0600. The write goes to a temporary file renamed over the old
// one, so a crash never leaves a half-written file behind.
func WriteSecretsFile(path, name string, certPEM, keyPEM []byte) error {
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
	doc[name] = map[string]string{keyCert: string(certPEM), keyKey: string(keyPEM)}
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
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if _, err := tmp.Write(append(out, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write secrets file: %w", err)
	}
	return nil
}
