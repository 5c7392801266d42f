package ca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mgmtplane/mgmtplane/apps/internal/secret"
)

// SecretGetter is the part of the Dapr secrets API the CA needs; the go-sdk client implements it.
type SecretGetter = secret.Getter

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
	m, err := secret.Read(ctx, secrets, src.Store, src.Secret, keyCert, keyKey)
	if errors.Is(err, secret.ErrNotFound) {
		err = ErrNoCA
	}
	switch {
	case err == nil:
		a, err := New([]byte(m[keyCert]), []byte(m[keyKey]))
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
	if err := secret.WriteFile(src.SecretsFile, src.Secret, map[string]string{keyCert: string(cert), keyKey: string(key)}); err != nil {
		return nil, err
	}
	log.WarnContext(ctx, "generated a new ca and wrote it to the local secrets file; the secret store serves it from the next start",
		"file", src.SecretsFile, "secret", src.Secret, "subject", a.cert.Subject.String(), "not_after", a.cert.NotAfter)
	return a, nil
}
