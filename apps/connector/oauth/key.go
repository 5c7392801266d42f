package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-jose/go-jose/v4"

	"github.com/mgmtplane/mgmtplane/apps/internal/secret"
)

// KeySource says where the access-token signing key is kept and what to do when it is not there; it
// works like the CA's ca.Source.
type KeySource struct {
	Store  string // Dapr secret store component
	Secret string // secret name; its key "key" holds the PEM private key (ECDSA P-256)
	// Generate allows creating a key when the store has none (local runs); it is written to SecretsFile.
	Generate    bool
	SecretsFile string
}

const secretKey = "key"

// LoadKey returns the signing key from the secret store, or generates one when allowed.
func LoadKey(ctx context.Context, log *slog.Logger, g secret.Getter, src KeySource) (*ecdsa.PrivateKey, error) {
	m, err := secret.Read(ctx, g, src.Store, src.Secret, secretKey)
	switch {
	case err == nil:
		key, err := parseKey([]byte(m[secretKey]))
		if err != nil {
			return nil, fmt.Errorf("token signing key from secret %s/%s: %w", src.Store, src.Secret, err)
		}
		log.InfoContext(ctx, "token signing key loaded from the secret store", "store", src.Store, "secret", src.Secret)
		return key, nil
	case !errors.Is(err, secret.ErrNotFound):
		return nil, err
	case !src.Generate:
		return nil, fmt.Errorf("%w (provide it, or set TOKEN_KEY_GENERATE=true for local runs)", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	if src.SecretsFile == "" {
		log.WarnContext(ctx, "generated a token signing key, kept in memory only: access tokens are void after a restart")
		return key, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode token signing key: %w", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := secret.WriteFile(src.SecretsFile, src.Secret, map[string]string{secretKey: string(pemKey)}); err != nil {
		return nil, err
	}
	log.WarnContext(ctx, "generated a token signing key and wrote it to the local secrets file", "file", src.SecretsFile, "secret", src.Secret)
	return key, nil
}

// parseKey reads an ECDSA P-256 private key in PKCS #8 or SEC 1 PEM: access tokens are ES256.
func parseKey(pemKey []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, errors.New("not PEM")
	}
	var (
		key any
		err error
	)
	if block.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("want an ECDSA P-256 key (tokens are signed ES256)")
	}
	return ec, nil
}

// publicJWK is the public half of key as a JSON Web Key whose id is its RFC 7638 thumbprint, so the id
// changes whenever the key does.
func publicJWK(key *ecdsa.PrivateKey) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	return jwk, nil
}
