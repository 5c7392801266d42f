// Package devtoken is the token format the gateway accepts (its claims) and the development key that
// signs such tokens for local runs and tests. Production tokens come from an identity provider whose keys
// the gateway reads from a JWKS.
package devtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the JWT claims the gateway reads. The tenant, scopes and consumer type are our own claims;
// scopes may be a space-separated "scope" string (OAuth style) or a "scopes" list.
type Claims struct {
	jwt.Claims
	Tenant       string   `json:"tenant"`
	Scope        string   `json:"scope,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	ConsumerType string   `json:"consumerType,omitempty"`
	// ClientID names the OAuth client an access token was issued to (RFC 9068), in tokens the Connector
	// issues for client credentials.
	ClientID string `json:"client_id,omitempty"`
}

// LocalKey is the development signing key kept in the data folder: generated on first use, its public
// half published as a JWKS file the gateway verifies against.
type LocalKey struct {
	Dir string
}

func (l LocalKey) keyPath() string { return filepath.Join(l.Dir, "jwt-signing-key.pem") }

// JWKSPath is the file holding the public key set.
func (l LocalKey) JWKSPath() string { return filepath.Join(l.Dir, "jwks.json") }

// Ensure creates the key pair and JWKS file if they do not exist yet.
func (l LocalKey) Ensure() error {
	if _, err := os.Stat(l.keyPath()); err == nil {
		return nil
	}
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: keyID(&key.PublicKey), Algorithm: string(jose.ES256), Use: "sig"}}}
	raw, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(l.JWKSPath(), raw, 0o644); err != nil {
		return err
	}
	return writeFile(l.keyPath(), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// Sign issues a token for tenant with scopes, valid for ttl.
func (l LocalKey) Sign(tenant, subject string, scopes []string, ttl time.Duration) (string, error) {
	raw, err := os.ReadFile(l.keyPath())
	if err != nil {
		return "", fmt.Errorf("read signing key (run the gateway once, or make token): %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return "", errors.New("signing key: not PEM")
	}
	key, err := x509.ParseECPrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	return SignES256(key, tenant, subject, scopes, ttl)
}

// SignES256 issues a token signed by key (tests and the local key use it).
func SignES256(key *ecdsa.PrivateKey, tenant, subject string, scopes []string, ttl time.Duration) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID(&key.PublicKey)))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := Claims{
		Claims: jwt.Claims{Subject: subject, IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			Expiry: jwt.NewNumericDate(now.Add(ttl))},
		Tenant: tenant,
		Scope:  strings.Join(scopes, " "),
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

func keyID(pub crypto.PublicKey) string {
	jwk := jose.JSONWebKey{Key: pub}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "local"
	}
	return fmt.Sprintf("%x", thumb[:8])
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
